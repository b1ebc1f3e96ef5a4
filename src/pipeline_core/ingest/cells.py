"""Reading one cell of a mapped column: the cell's text (stripped, through the column's aliases)
read by the parser of its parse kind (:mod:`pipeline_core.ingest.parsers`) with the mapping's
context (currency, time zone, time of day, date order).

:func:`read_cell` is what :func:`~pipeline_core.ingest.apply.map_rows` calls for every
non-blank cell (``owner`` cells excepted: those are matched to users there) and what
:class:`~pipeline_core.ingest.mapping.SheetMapping` checks its defaults with.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, Final

from pipeline_core.ingest import parsers
from pipeline_core.ingest.parsers import ParseError
from pipeline_core.ingest.targets import CUSTOM_PREFIX

if TYPE_CHECKING:
    from pipeline_core.ingest.mapping import Column, SheetMapping

__all__ = ["read_cell"]


def read_cell(mapping: SheetMapping, column: Column, kind: str, value: Any) -> Any:
    """One non-blank cell of ``column`` read as its field's value (every kind but ``owner``,
    which :func:`~pipeline_core.ingest.apply.map_rows` resolves against the users). Aliases apply
    first to text cells. Raises :class:`~pipeline_core.ingest.parsers.ParseError`."""
    if isinstance(value, str):
        value = value.strip()
        if column.aliases and kind not in ("enum", "bool"):
            value = column.aliases.get(value, value)
    reader = _READERS[kind]
    return reader(mapping, column, value)


def _text(m: SheetMapping, c: Column, value: Any) -> Any:
    if isinstance(value, str):
        return value
    if c.field.startswith(CUSTOM_PREFIX) and isinstance(value, bool | int | float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a workbook's number in a text column (a phone number, an id)
    raise ParseError(f"expected text, not {type(value).__name__}", value, "text")


def _enum(m: SheetMapping, c: Column, value: Any) -> Any:
    spec = m.fields.get(c.field)
    allowed = spec.allowed if spec and spec.allowed else frozenset(c.aliases.values())
    return parsers.lookup(value, allowed, c.aliases)


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    return parsers.zone_named(name)


def _instant(m: SheetMapping, c: Column, value: Any) -> Any:
    return parsers.parse_instant(
        value,
        zone=_zone(m.timezone or "UTC"),
        time_of_day=m.time_of_day,
        excel_serial=c.excel_serial,
        date_order=m.date_order,
        format=c.format,
    )


def _date(m: SheetMapping, c: Column, value: Any) -> Any:
    if c.format is not None and isinstance(value, str):
        try:
            return datetime.strptime(value, c.format).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            raise ParseError(
                f"expected a date in the format {c.format!r}", value, "instant"
            ) from None
    return parsers.parse_date(value, date_order=m.date_order, excel_serial=c.excel_serial)


def _money(m: SheetMapping, c: Column, value: Any) -> Any:
    return parsers.parse_money(value, c.currency or m.currency or "")


def _list(m: SheetMapping, c: Column, value: Any) -> Any:
    if isinstance(value, list):
        value = [c.aliases.get(str(v), str(v)) for v in value]
    items = parsers.split_list(value, c.separators or parsers.LIST_SEPARATORS)
    return tuple(c.aliases.get(item, item) for item in items)


_READERS: Final[dict[str, Callable[[SheetMapping, Column, Any], Any]]] = {
    "text": _text,
    "owner": _text,
    "enum": _enum,
    "money": _money,
    "instant": _instant,
    "date": _date,
    "list": _list,
    "bool": lambda m, c, v: parsers.parse_bool(v, c.aliases),
    "int": lambda m, c, v: parsers.parse_int(v),
    "probability": lambda m, c, v: parsers.parse_probability(v),
    "slug": lambda m, c, v: parsers.slug(v),
}
