"""CSV cells: how every record field is written to and read from flat columns.

Internal to :mod:`pipeline_core.storage.io` (its docstring describes the layout), which exports
the public names. Nothing here opens a file.
"""

from __future__ import annotations

import functools
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from pipeline_core._jsonvalue import loads_unique, text_too_deep
from pipeline_core._model import Record, field_names
from pipeline_core.errors import ValidationError
from pipeline_core.storage.io._shared import RowError, table_for

__all__ = [
    "EMPTY_STRING_MARK",
    "SPREADSHEET_TRIGGERS",
    "Field",
    "cells_to_data",
    "csv_columns",
    "csv_row",
    "fields_of",
    "neutralise_cell",
    "restore_cell",
    "row_errors",
]

EMPTY_STRING_MARK = '""'
"""How an empty string in an optional text field is written (an empty cell means no value)."""


@attrs.frozen
class Field:
    """How one record field is laid out in CSV: ``shape`` ``scalar`` (one cell), ``record`` (a
    nested record: dotted columns), ``list`` (``;``-joined), ``custom`` (``custom.<name>``
    columns) or ``json`` (one JSON cell); ``scalar`` the cell's type for scalars."""

    name: str
    shape: str  # scalar | record | list | custom | json
    scalar: str  # str | int | float | bool (for scalars)
    optional: bool
    sub: tuple[Field, ...] = ()


def _strip(hint: Any) -> tuple[Any, bool]:
    optional = False
    while True:
        origin = typing.get_origin(hint)
        if origin is typing.Annotated:
            hint = typing.get_args(hint)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(hint))
            if len(args) != 1:
                return hint, optional
            hint = args[0]
        else:
            return hint, optional


def _fields(cls: type[Record]) -> tuple[Field, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for name in field_names(cls):
        hint, optional = _strip(hints[name])
        origin = typing.get_origin(hint)
        if name == "custom":
            out.append(Field(name, "custom", "str", optional))
        elif isinstance(hint, type) and issubclass(hint, Record):
            out.append(Field(name, "record", "str", optional, _fields(hint)))
        elif origin in (frozenset, tuple, list, set):
            out.append(Field(name, "list", "str", optional))
        elif origin is dict or hint is dict:
            out.append(Field(name, "json", "str", optional))
        elif hint is bool:
            out.append(Field(name, "scalar", "bool", optional))
        elif hint is int:
            out.append(Field(name, "scalar", "int", optional))
        elif hint is float:
            out.append(Field(name, "scalar", "float", optional))
        else:
            out.append(Field(name, "scalar", "str", optional))
    return tuple(out)


fields_of = typing.cast(Callable[[type[Record]], tuple[Field, ...]], functools.cache(_fields))
"""The CSV layout of a record class's fields (built once per class)."""


def csv_columns(kind: str, custom_fields: Iterable[str] = ()) -> list[str]:
    """The CSV header for a record kind, with ``custom.<name>`` columns for ``custom_fields``."""
    cols: list[str] = []
    for f in fields_of(table_for(kind).cls):
        if f.shape == "record":
            cols += [f"{f.name}.{s.name}" for s in f.sub]
        elif f.shape == "custom":
            cols += [f"custom.{name}" for name in custom_fields]
        else:
            cols.append(f.name)
    return cols


# --------------------------------------------------------------------------- cell encoding


def _plain(value: Any) -> str:
    # ``value`` is to_dict() output: str, int, float, bool or None.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _join(items: list[str]) -> str:
    if any(item == "" for item in items):
        return json.dumps(items, ensure_ascii=False)
    text = ";".join(i.replace("\\", "\\\\").replace(";", "\\;") for i in items)
    return "\\" + text if text.startswith("[") else text


def _split(cell: str) -> list[str]:
    if cell == "":
        return []
    if cell.startswith("["):
        try:
            parsed = json.loads(cell)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
            return parsed
    out: list[str] = []
    buf: list[str] = []
    chars = iter(cell)
    for ch in chars:
        if ch == "\\":
            buf.append(next(chars, "\\"))
        elif ch == ";":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return out


def _custom_decode(cell: str) -> Any:
    if text_too_deep(cell)[0]:
        return cell  # not a JSON scalar anyway; never handed to the recursive parser
    try:
        value = json.loads(cell)
    except ValueError:
        return cell
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return cell


def _custom_encode(value: Any) -> str:
    if isinstance(value, str):
        if value != "" and _custom_decode(value) == value:
            return value
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def csv_row(record: Record, custom_fields: list[str]) -> list[str]:
    """The CSV cells of ``record`` in :func:`csv_columns` order (with ``custom_fields``)."""
    data = record.to_dict()
    out: list[str] = []
    for f in fields_of(type(record)):
        value = data.get(f.name)
        if f.shape == "record":
            for s in f.sub:
                out.append("" if value is None else _plain(value.get(s.name)))
        elif f.shape == "list":
            out.append(_join(list(value or ())))
        elif f.shape == "custom":
            custom = value or {}
            out += [
                _custom_encode(custom[name]) if name in custom else "" for name in custom_fields
            ]
        elif f.shape == "json":
            out.append(json.dumps(value, ensure_ascii=False, sort_keys=True))
        elif f.optional and value == "":
            out.append(EMPTY_STRING_MARK)
        else:
            out.append(_plain(value))
    return out


# An integer cell is read only as written: no '+', no '-0', no leading zeros ('012' is not 12).
_INT = re.compile(r"(0|-?[1-9][0-9]*)\Z", re.ASCII)
_FLOAT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z", re.ASCII)


def _scalar(f: Field, cell: str) -> Any:
    if cell == "":
        return None if f.optional else ("" if f.scalar == "str" else None)
    if f.scalar == "str":
        return "" if (f.optional and cell == EMPTY_STRING_MARK) else cell
    if f.scalar == "bool":
        low = cell.lower()  # true/TRUE/True (spreadsheets write TRUE): nothing else
        if low == "true":
            return True
        if low == "false":
            return False
        return cell
    if f.scalar == "int":
        return int(cell) if _INT.match(cell) else cell
    # ASCII digits only: float() would read '１.５', '1_0', ' 2 ', 'nan' and 'inf'.
    return float(cell) if _FLOAT.match(cell) else cell


def cells_to_data(cls: type[Record], header: list[str], cells: list[str]) -> dict[str, Any]:
    """The plain data of one CSV row (``header`` names the ``cells``), ready for
    ``cls.from_dict``; what cannot be read is passed on as text for validation to refuse."""
    values = dict(zip(header, cells, strict=False))
    data: dict[str, Any] = {}
    for f in fields_of(cls):
        if f.shape == "record":
            sub = {s.name: values.get(f"{f.name}.{s.name}", "") for s in f.sub}
            if all(v == "" for v in sub.values()):
                if f.name in values or any(f"{f.name}.{s.name}" in values for s in f.sub):
                    data[f.name] = None
                continue
            data[f.name] = {
                s.name: _scalar(attrs.evolve(s, optional=True), sub[s.name]) for s in f.sub
            }
        elif f.shape == "custom":
            custom = {
                col[7:]: _custom_decode(cell)
                for col, cell in values.items()
                if col.startswith("custom.") and cell != ""
            }
            data[f.name] = custom
        elif f.name not in values:
            continue
        elif f.shape == "list":
            data[f.name] = _split(values[f.name])
        elif f.shape == "json":
            cell = values[f.name]
            if text_too_deep(cell)[0]:
                data[f.name] = cell  # reported by read_csv before this is reached
                continue
            try:
                data[f.name] = loads_unique(cell) if cell else {}
            except ValueError:
                data[f.name] = cell
        else:
            value = _scalar(f, values[f.name])
            if value is None and not f.optional and f.scalar != "str":
                continue  # an empty required cell: reported as missing
            data[f.name] = value
    return data


def row_errors(
    row: int, exc: ValidationError, cells: Mapping[str, str], fields: tuple[Field, ...]
) -> list[RowError]:
    """A record's validation problems as the row errors of CSV row ``row``, each naming the
    column (a list or JSON field by its own column) and the cell as written."""
    shapes = {f.name: f.shape for f in fields}
    out = []
    for p in exc.problems:
        parts = [x for x in p.path if isinstance(x, str)]
        column = ".".join(parts) if parts else "<row>"
        if parts and shapes.get(parts[0]) in ("list", "json"):
            column = parts[0]
        value = cells.get(column, p.value)
        message = p.message if not p.missing else "required column is empty or missing"
        out.append(RowError(row, column, value, message, p.code))
    return out


SPREADSHEET_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (CSV injection, OWASP)."""


def neutralise_cell(text: str) -> str:
    """``text`` made safe to open in a spreadsheet: a cell beginning with one of
    :data:`SPREADSHEET_TRIGGERS`, or with the quote ``'`` itself, gets one ``'`` in front (the
    spreadsheets' own "this is text" mark). :func:`restore_cell` undoes it exactly."""
    return "'" + text if text.startswith(SPREADSHEET_TRIGGERS) or text.startswith("'") else text


def restore_cell(text: str) -> str:
    """The inverse of :func:`neutralise_cell`: one leading ``'`` removed (for a file written with
    ``spreadsheet_safe=True``, every cell beginning with ``'`` got it from the export)."""
    return text[1:] if text.startswith("'") else text
