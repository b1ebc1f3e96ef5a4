"""Import and export: CSV (spreadsheet-friendly) and JSON Lines, for every record type.

Start in a spreadsheet, migrate later with nothing lost (``domain.md`` §7).

**JSON Lines**: one record per line, exactly its ``to_dict()`` JSON.

**CSV** (UTF-8, header row, one record per row), flat columns named after the fields:

- plain fields: the field name (``id``, ``name``, ``created_at`` as ISO 8601 with offset, enums by
  value, booleans ``true``/``false``, amounts as decimal strings); an empty cell is "no value"
  (``None``) for optional fields and the empty string otherwise. The one case that needs a marker:
  an *empty string* in an optional text field is written as ``""`` (two double quotes);
- nested values get dotted columns: ``budget.amount``, ``budget.currency``,
  ``next_step.action``, ``next_step.due_at`` (all empty = no value);
- lists and sets (``tags``, ``pain_points``, ``checks``) are ``;``-joined (``vip;q1``), with ``\\;``
  for a literal semicolon and ``\\\\`` for a backslash; a list holding an empty string is written as a
  JSON array (``["", "x"]``);
- custom fields get one column each: ``custom.<name>``. An empty cell means the record does not
  have that field. Text is written as is; numbers, ``true``/``false`` and ``null`` are JSON, and
  text that would read back as something else (``"42"``, ``"true"``, the empty string) is written as
  a JSON string (``"\\"42\\""``);
- a journal entry's ``payload`` is one JSON cell.

Row numbers in errors are the spreadsheet's: the header is row 1, the first record row 2; for JSON
Lines they are line numbers.

An import validates every row. By default nothing is written if any row is bad: the import raises
:class:`ImportRejectedError` listing every bad row (row, field, value, message). With
``skip_invalid=True`` the good rows are written and the bad ones returned in the
:class:`ImportReport`. All rows are written in one transaction, so an import that is interrupted
(even by killing the process) leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import itertools
import json
import os
import re
import sys
import tempfile
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import attrs

from pipeline_core._jsonvalue import MAX_DEPTH, DuplicateKeyError, loads_unique, text_too_deep
from pipeline_core._model import Record
from pipeline_core.errors import (
    MAX_PROBLEMS,
    ConfigError,
    Problem,
    RecordTypeError,
    ValidationError,
    _short_repr,
)
from pipeline_core.storage._base import (
    TABLES,
    TABLES_BY_KIND,
    Table,
    batched,
    check_batch,
    dump_doc,
)
from pipeline_core.storage.ports import DEFAULT_BATCH, AppendLog, Progress, Repository, Store

__all__ = [
    "SPREADSHEET_TRIGGERS",
    "ImportRejectedError",
    "ImportReport",
    "RowError",
    "csv_columns",
    "export_records",
    "import_records",
    "kinds",
    "neutralise_cell",
    "read_csv",
    "read_jsonl",
    "restore_cell",
    "write_csv",
    "write_jsonl",
]

Format = Literal["csv", "jsonl"]
Source = str | Path | IO[str]

_EMPTY_STRING_MARK = '""'


@attrs.frozen
class RowError:
    """One bad row: its number (spreadsheet row or JSONL line), the column, the cell value and
    what is wrong."""

    row: int
    field: str
    value: Any
    message: str
    code: str = "invalid"

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.message} (got {_short_repr(self.value)})"


@attrs.frozen
class ImportReport:
    """What an import did: rows read, records written (new ones, for append-only logs), and
    the bad rows that were skipped (``skip_invalid=True``): ``errors`` keeps the first 1,000
    problems, ``error_count`` counts them all and ``bad_rows`` counts the rows skipped."""

    kind: str
    rows: int
    written: int
    errors: tuple[RowError, ...] = ()
    error_count: int = attrs.field(default=attrs.Factory(lambda s: len(s.errors), takes_self=True))
    bad_rows: int = attrs.field(
        default=attrs.Factory(lambda s: len({e.row for e in s.errors}), takes_self=True)
    )


class ImportRejectedError(ValidationError):
    """An import found bad rows and wrote nothing.

    ``errors`` lists the first 1,000 problems (row, column, value, message); ``total`` counts
    every problem and ``bad_rows`` every bad row, so the error stays small (a file of 200,000 bad
    rows gives a message of about 150 kB, not hundreds of megabytes)."""

    def __init__(
        self,
        kind: str,
        errors: Iterable[RowError],
        *,
        total: int | None = None,
        bad_rows: int | None = None,
    ) -> None:
        self.errors: tuple[RowError, ...] = tuple(itertools.islice(errors, MAX_PROBLEMS))
        self.bad_rows: int = bad_rows if bad_rows is not None else len({e.row for e in self.errors})
        super().__init__(
            f"{kind} import (nothing was written)",
            [
                Problem((e.row, e.field), e.message, e.value, e.code)
                if e.row
                else Problem((e.field,), e.message, e.value, e.code)
                for e in self.errors
            ],
            total=total,
        )


def kinds() -> list[str]:
    """The record kinds that can be imported and exported."""
    return [t.kind for t in TABLES]


def _table(kind: str) -> Table:
    table = TABLES_BY_KIND.get(kind)
    if table is None:
        for t in TABLES:
            if t.name == kind:
                return t
        raise ConfigError(
            "import/export",
            [
                Problem(
                    ("kind",), f"unknown record kind; expected one of {', '.join(kinds())}", kind
                )
            ],
        )
    return table


# --------------------------------------------------------------------------- field shapes


@attrs.frozen
class _Field:
    name: str
    shape: str  # scalar | record | list | custom | json
    scalar: str  # str | int | float | bool (for scalars)
    optional: bool
    sub: tuple[_Field, ...] = ()


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


def _fields(cls: type[Record]) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for name, _default in cls.__pc_fields__:
        hint, optional = _strip(hints[name])
        origin = typing.get_origin(hint)
        if name == "custom":
            out.append(_Field(name, "custom", "str", optional))
        elif isinstance(hint, type) and issubclass(hint, Record):
            out.append(_Field(name, "record", "str", optional, _fields(hint)))
        elif origin in (frozenset, tuple, list, set):
            out.append(_Field(name, "list", "str", optional))
        elif origin is dict or hint is dict:
            out.append(_Field(name, "json", "str", optional))
        elif hint is bool:
            out.append(_Field(name, "scalar", "bool", optional))
        elif hint is int:
            out.append(_Field(name, "scalar", "int", optional))
        elif hint is float:
            out.append(_Field(name, "scalar", "float", optional))
        else:
            out.append(_Field(name, "scalar", "str", optional))
    return tuple(out)


_FIELDS: dict[type[Record], tuple[_Field, ...]] = {}


def _fields_of(cls: type[Record]) -> tuple[_Field, ...]:
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = _fields(cls)
    return found


def csv_columns(kind: str, custom_fields: Iterable[str] = ()) -> list[str]:
    """The CSV header for a record kind, with ``custom.<name>`` columns for ``custom_fields``."""
    cols: list[str] = []
    for f in _fields_of(_table(kind).cls):
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


def _row(record: Record, custom_fields: list[str]) -> list[str]:
    data = record.to_dict()
    out: list[str] = []
    for f in _fields_of(type(record)):
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
            out.append(_EMPTY_STRING_MARK)
        else:
            out.append(_plain(value))
    return out


# An integer cell is read only as written: no '+', no '-0', no leading zeros ('012' is not 12).
_INT = re.compile(r"(0|-?[1-9][0-9]*)\Z", re.ASCII)
_FLOAT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z", re.ASCII)
_BOM = "\ufeff"


def _scalar(f: _Field, cell: str) -> Any:
    if cell == "":
        return None if f.optional else ("" if f.scalar == "str" else None)
    if f.scalar == "str":
        return "" if (f.optional and cell == _EMPTY_STRING_MARK) else cell
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


def _to_data(cls: type[Record], header: list[str], cells: list[str]) -> dict[str, Any]:
    values = dict(zip(header, cells, strict=False))
    data: dict[str, Any] = {}
    for f in _fields_of(cls):
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


def _row_errors(
    row: int, exc: ValidationError, cells: Mapping[str, str], fields: tuple[_Field, ...]
) -> list[RowError]:
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


# --------------------------------------------------------------------------- readers


def _open_read(source: Source) -> tuple[IO[str], bool]:
    if isinstance(source, str | Path):
        return open(source, encoding="utf-8-sig", newline=""), True
    return source, False


@contextlib.contextmanager
def _open_write(dest: Source) -> Iterator[IO[str]]:
    # A file is written under a temporary name next to it and renamed into place only when
    # complete, so a failed or interrupted export never leaves a partial file behind.
    if not isinstance(dest, str | Path):
        yield dest
        return
    path = Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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


def read_csv(
    kind: str, source: Source, *, spreadsheet_safe: bool = False
) -> Iterator[tuple[int, Record | list[RowError]]]:
    """Parse a CSV file row by row: ``(row_number, record)`` or ``(row_number, [errors])``.

    A bad header (unknown columns) raises :class:`ImportRejectedError` at once. With
    ``spreadsheet_safe`` (a file written so), each cell's leading ``'`` is removed first
    (:func:`restore_cell`)."""
    cls = _table(kind).cls
    fields = _fields_of(cls)
    f, close = _open_read(source)
    try:
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        reader = csv.reader(f, strict=True)
        try:
            header = next(reader, None)
        except UnicodeDecodeError as exc:
            raise ImportRejectedError(kind, [_not_utf8(1, exc)]) from None
        except csv.Error as exc:
            raise ImportRejectedError(
                kind, [RowError(1, "<row>", None, f"not valid CSV: {exc}", "csv_structure")]
            ) from None
        if header is None:
            return
        if header and header[0].startswith(_BOM):
            header[0] = header[0][1:]  # the file's byte-order mark (only there) is dropped
        known = set(csv_columns(kind))
        bad = [
            RowError(1, col, col, "unknown column", "unknown_column")
            for col in header
            if col not in known and not col.startswith("custom.")
        ]
        seen: set[str] = set()
        for col in header:
            if col in seen:
                bad.append(RowError(1, col, col, "column appears twice", "duplicate_column"))
            seen.add(col)
        if bad:
            raise ImportRejectedError(kind, bad)
        number = 1
        while True:
            number += 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError as exc:
                yield number, [_not_utf8(number, exc)]
                break
            except csv.Error as exc:
                yield number, [_structure_error(number, exc)]
                continue
            if not any(cells):
                continue
            if spreadsheet_safe:
                cells = [restore_cell(c) for c in cells]
            problems = _cell_problems(number, header, cells)
            if problems:
                yield number, problems
                continue
            if len(cells) > len(header):
                yield (
                    number,
                    [
                        RowError(
                            number,
                            "<row>",
                            cells[len(header) :],
                            f"{len(cells)} cells but the header has {len(header)} columns",
                            "too_many_cells",
                        )
                    ],
                )
                continue
            if len(cells) < len(header):
                yield (
                    number,
                    [
                        RowError(
                            number,
                            "<row>",
                            len(cells),
                            f"{len(cells)} cells but the header has {len(header)} columns "
                            "(a ragged row: every row has one cell per column)",
                            "too_few_cells",
                        )
                    ],
                )
                continue
            data = _to_data(cls, header, cells)
            try:
                yield number, cls.from_dict(data)
            except ValidationError as exc:
                yield (
                    number,
                    _row_errors(number, exc, dict(zip(header, cells, strict=False)), fields),
                )
    finally:
        if close:
            f.close()


def _not_utf8(number: int, exc: UnicodeDecodeError) -> RowError:
    return RowError(
        number,
        "<row>",
        exc.object[exc.start : exc.start + 8],
        f"the file is not UTF-8 text ({exc.reason}); nothing after this point was read",
        "encoding",
    )


def _lines(f: IO[str]) -> Iterator[tuple[int, str | UnicodeDecodeError]]:
    # (line number, line); a decoding failure is yielded (as the error) and ends the reading
    number = 0
    lines = iter(f)
    while True:
        number += 1
        try:
            line = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            yield number, exc
            return
        yield number, line


def _structure_error(number: int, exc: csv.Error) -> RowError:
    text = str(exc)
    if "unexpected end of data" in text:
        message = (
            "a quoted cell that starts in this row is never closed (the quote swallows the rest "
            "of the file)"
        )
    else:
        message = f"not valid CSV: {text}"
    return RowError(number, "<row>", None, message, "csv_structure")


def _cell_problems(number: int, header: list[str], cells: list[str]) -> list[RowError]:
    out = []
    for column, cell in zip(header, cells, strict=False):
        if _BOM in cell:
            out.append(
                RowError(
                    number,
                    column,
                    cell,
                    "a byte-order mark (U+FEFF) inside a cell: it is invisible and would become "
                    "part of the value (only the file's first character may be one)",
                    "bom",
                )
            )
        elif (column == "payload" or column.startswith("custom.")) and text_too_deep(cell)[0]:
            out.append(
                RowError(
                    number,
                    column,
                    "<nested value>",
                    f"nested deeper than {MAX_DEPTH} levels",
                    "too_deep",
                )
            )
    return out


def read_jsonl(kind: str, source: Source) -> Iterator[tuple[int, Record | list[RowError]]]:
    """Parse a JSON Lines file: ``(line_number, record)`` or ``(line_number, [errors])``."""
    cls = _table(kind).cls
    f, close = _open_read(source)
    try:
        for number, line in _lines(f):
            if isinstance(line, UnicodeDecodeError):
                yield number, [_not_utf8(number, line)]
                return
            if number == 1 and line.startswith(_BOM):
                line = line[1:]  # the file's byte-order mark is dropped
            if not line.strip():
                continue
            deep, key = text_too_deep(line)
            if deep:
                yield (
                    number,
                    [
                        RowError(
                            number,
                            key or "<line>",
                            "<nested value>",
                            f"nested deeper than {MAX_DEPTH} levels",
                            "too_deep",
                        )
                    ],
                )
                continue
            try:
                data = loads_unique(line)
            except DuplicateKeyError as exc:
                yield number, [RowError(number, exc.key, line[:200], str(exc), "duplicate_key")]
                continue
            except ValueError as exc:
                yield number, [RowError(number, "<line>", line[:200], f"not JSON: {exc}", "json")]
                continue
            if _BOM in line:
                yield (
                    number,
                    [
                        RowError(
                            number,
                            "<line>",
                            line[:200],
                            "a byte-order mark (U+FEFF) inside the line (only the file's first "
                            "character may be one)",
                            "bom",
                        )
                    ],
                )
                continue
            if not isinstance(data, dict):
                yield (
                    number,
                    [RowError(number, "<line>", data, "expected a JSON object", "json_type")],
                )
                continue
            try:
                yield number, cls.from_dict(data)
            except ValidationError as exc:
                yield (
                    number,
                    [
                        RowError(
                            number,
                            p.field,
                            p.value,
                            p.message,
                            p.code,
                        )
                        for p in exc.problems
                    ],
                )
    finally:
        if close:
            f.close()


# --------------------------------------------------------------------------- writers


def write_csv(
    kind: str,
    records: Iterable[Record],
    dest: Source,
    *,
    custom_fields: Iterable[str] | None = None,
    spreadsheet_safe: bool = False,
) -> int:
    """Write records as CSV; returns how many. Without ``custom_fields`` the records are read
    twice to find every custom field name (a list is made of a one-shot iterator).
    ``spreadsheet_safe``: no cell begins with ``= + - @``, tab or CR (:func:`neutralise_cell`);
    read such a file back with ``spreadsheet_safe=True`` to get the values exactly."""
    table = _table(kind)
    if custom_fields is None:
        if iter(records) is records:  # a one-shot iterator: keep it for the second pass
            records = list(records)
        names: set[str] = set()
        for r in records:
            names.update(getattr(r, "custom", {}))
        custom_fields = sorted(names)
    custom = list(custom_fields)
    with _open_write(dest) as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(csv_columns(table.kind, custom))
        n = 0
        for r in records:
            if not isinstance(r, table.cls):
                raise RecordTypeError(
                    f"expected {table.cls.__name__} records, got {type(r).__name__}"
                )
            row = _row(r, custom)
            if spreadsheet_safe:
                row = [neutralise_cell(c) if isinstance(c, str) else c for c in row]
            writer.writerow(row)
            n += 1
        return n


def write_jsonl(kind: str, records: Iterable[Record], dest: Source) -> int:
    """Write records as JSON Lines (each line its ``to_dict()`` JSON); returns how many."""
    table = _table(kind)
    with _open_write(dest) as f:
        n = 0
        for r in records:
            if not isinstance(r, table.cls):
                raise RecordTypeError(
                    f"expected {table.cls.__name__} records, got {type(r).__name__}"
                )
            f.write(dump_doc(r))
            f.write("\n")
            n += 1
        return n


# --------------------------------------------------------------------------- store level


def _format(source: Source, format: Format | None) -> Format:
    if format is not None:
        return format
    name = str(source) if isinstance(source, str | Path) else getattr(source, "name", "")
    if str(name).endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if str(name).endswith(".csv"):
        return "csv"
    raise ValueError(f"cannot tell the format of {name!r}: pass format='csv' or format='jsonl'")


def import_records(
    store: Store,
    kind: str,
    source: Source,
    *,
    format: Format | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH,
    spreadsheet_safe: bool = False,
) -> ImportReport:
    """Import a CSV or JSON Lines file of one record kind into ``store``, in one transaction.

    Every row is validated. Default: if any row is bad, nothing is written and
    :class:`ImportRejectedError` lists every bad row. ``skip_invalid=True``: the good rows are
    written, the bad ones returned in the report. A record id that is already stored raises
    :class:`~pipeline_core.errors.DuplicateError` (nothing written); for append-only logs an
    identical entry is skipped. ``progress`` is called with the number of rows read, after each
    batch of ``batch_size`` rows and at the end. ``spreadsheet_safe=True`` reads a CSV written by
    ``export_records(..., spreadsheet_safe=True)`` back exactly (:func:`restore_cell`).
    """
    check_batch(batch_size)
    table = _table(kind)
    fmt = _format(source, format)
    reader: Callable[[str, Source], Iterator[tuple[int, Record | list[RowError]]]] = (
        functools.partial(read_csv, spreadsheet_safe=spreadsheet_safe)
        if fmt == "csv"
        else read_jsonl
    )
    errors: list[RowError] = []  # the first MAX_PROBLEMS, counted in full below
    rows = error_count = bad_rows = 0

    def good() -> Iterator[Record]:
        nonlocal rows, error_count, bad_rows
        for _, item in reader(table.kind, source):
            rows += 1
            if isinstance(item, list):
                bad_rows += 1
                error_count += len(item)
                errors.extend(item[: MAX_PROBLEMS - len(errors)])
            else:
                yield item
            if progress is not None and rows % batch_size == 0:
                progress(rows)

    repo = store.collection(table.kind)
    written = 0
    with store.unit_of_work():
        for batch in batched(good(), batch_size):
            if errors and not skip_invalid:
                continue  # keep reading to report every bad row; nothing will be written
            written += _write_batch(repo, batch, batch_size)
        if errors and not skip_invalid:
            raise ImportRejectedError(table.kind, errors, total=error_count, bad_rows=bad_rows)
    if progress is not None and rows % batch_size != 0:
        progress(rows)
    return ImportReport(table.kind, rows, written, tuple(errors), error_count, bad_rows)


def _write_batch(
    repo: Repository[Any] | AppendLog[Any], batch: Sequence[Record], batch_size: int
) -> int:
    # A store's collection (of the port: a built-in store's, or a ScopedStore's).
    if isinstance(repo, Repository):
        return repo.bulk_add(batch, batch_size=batch_size)
    return repo.bulk_append(batch, batch_size=batch_size)


def export_records(
    store: Store,
    kind: str,
    dest: Source,
    *,
    format: Format | None = None,
    progress: Progress | None = None,
    spreadsheet_safe: bool = False,
) -> int:
    """Export every record of one kind from ``store`` to CSV or JSON Lines; returns how many.
    Streams: the CSV export reads the store twice (once for the custom field names).
    ``spreadsheet_safe=True`` (CSV): no cell begins with ``= + - @``, tab or CR, so a spreadsheet
    never runs one as a formula; import with ``spreadsheet_safe=True`` gives the values back."""
    table = _table(kind)
    repo = store.collection(table.kind)
    fmt = _format(dest, format)

    def stream() -> Iterator[Record]:
        for n, r in enumerate(repo.all(), start=1):
            if progress is not None and n % DEFAULT_BATCH == 0:
                progress(n)
            yield r

    if fmt == "jsonl":
        return write_jsonl(table.kind, stream(), dest)
    names: set[str] = set()
    if "custom" in table.cls.__pc_names__:
        for r in repo.all():
            names.update(r.custom)
    return write_csv(
        table.kind, stream(), dest, custom_fields=sorted(names), spreadsheet_safe=spreadsheet_safe
    )
