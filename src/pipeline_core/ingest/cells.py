"""Reading one cell of a mapped column: the cell's text (stripped, through the column's aliases)
read by the parser of its parse kind (:mod:`pipeline_core.ingest.parsers`) with the mapping's
context (currency, time zone, time of day, date order).

:func:`read_cell` is what :func:`~pipeline_core.ingest.apply.map_rows` calls for every
non-blank cell (``owner`` cells excepted: those are matched to users there) and what
:class:`~pipeline_core.ingest.mapping.SheetMapping` checks its defaults with.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Final

from pipeline_core._model import timestamp
from pipeline_core.errors import ValidationError
from pipeline_core.ingest import parsers
from pipeline_core.ingest.parsers import ParseError
from pipeline_core.ingest.targets import CUSTOM_PREFIX

if TYPE_CHECKING:
    from pipeline_core.ingest.mapping import Column, SheetMapping

__all__ = ["cell_reader", "read_cell"]


def read_cell(mapping: SheetMapping, column: Column, kind: str, value: Any) -> Any:
    """One non-blank cell of ``column`` read as its field's value (every kind but ``owner``,
    which :func:`~pipeline_core.ingest.apply.map_rows` resolves against the users). Aliases apply
    first to text cells. An ``instant`` is given as a record keeps it: with the fixed UTC offset
    in force at that instant (:func:`pipeline_core._values.as_fixed_offset`; ``2025/3/21 9:01`` in
    Asia/Shanghai is ``2025-03-21T09:01+08:00``), the same instant
    :func:`~pipeline_core.ingest.parsers.parse_instant` reads. Raises
    :class:`~pipeline_core.ingest.parsers.ParseError`."""
    if isinstance(value, str):
        value = value.strip()
        if column.aliases and kind not in ("enum", "bool"):
            value = column.aliases.get(value, value)
    reader = _READERS[kind]
    return reader(mapping, column, value)


def cell_reader(mapping: SheetMapping, column: Column, kind: str) -> Callable[[Any], Any]:
    """A one-argument reader of ``column``'s non-blank cells that gives exactly what
    ``read_cell(mapping, column, kind, value)`` gives (the same value, the same
    :class:`~pipeline_core.ingest.parsers.ParseError`), with what can be settled once per column
    settled once: an ``instant`` column without a ``format`` reads the common texts
    (``"2025/3/21 9:01"``, ``"2025-03-21 09:01"``, ``"2025年3月21日"``) without the general parser
    (see :func:`_fast_instant`); every other cell goes to :func:`read_cell`."""
    general: Callable[[Any], Any] = functools.partial(read_cell, mapping, column, kind)
    if kind != "instant" or column.format is not None or column.aliases:
        return general  # aliases replace a text before it is read: the general reader's work
    time_of_day = mapping.time_of_day
    if time_of_day is not None and time_of_day.tzinfo is not None:
        return general
    return functools.partial(
        _fast_instant, _zone(mapping.timezone or "UTC"), time_of_day, general, {}
    )


_FAST_YMD: Final = re.compile(
    r"([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})(?: +([0-9]{1,2}):([0-9]{2}))?", re.ASCII
)
_FAST_CJK: Final = re.compile(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})[日号]?")
_HOURS_KEPT: Final = 4096  # distinct (date, hour) answers a column's fast reader remembers


def _fast_instant(
    zone: tzinfo,
    time_of_day: Any,
    general: Callable[[Any], Any],
    hour_offsets: dict[tuple[int, int, int, int], timezone | None],
    value: Any,
) -> Any:
    """An instant cell read as :func:`read_cell` reads it, faster for the common texts:
    ``YYYY/M/D[ H:MM]``, ``YYYY-M-D[ H:MM]`` and ``YYYY年M月D日`` (no seconds, no offset) become
    the wall time in ``zone`` by one regex match, built directly with the fixed UTC offset of that
    wall time. The offset is answered once per (date, hour) in ``hour_offsets``: an hour has one
    when its first and its last microsecond have one UTC offset under both folds (which assumes
    a zone does not change its offset twice within one hour; tzdata has no such pair); an hour
    without one (a DST gap or fold: a row problem) is ``None``. Everything else, an impossible
    date, a date-only text without a time of day and an hour without one offset go to
    ``general`` (the general reader), so refusals are the general reader's."""
    if type(value) is not str:
        return general(value)
    raw = value.strip()
    found = _FAST_YMD.fullmatch(raw)
    if found is not None:
        y, _, m, d, h, mi = found.groups()
    else:
        found = _FAST_CJK.fullmatch(raw)
        if found is None:
            return general(value)
        y, m, d = found.groups()
        h = mi = None
    if h is not None:
        hour, minute, second, micro = int(h), int(mi or 0), 0, 0  # mi is set with h
    elif time_of_day is not None:
        t = time_of_day
        hour, minute, second, micro = t.hour, t.minute, t.second, t.microsecond
    else:
        return general(value)
    key = (int(y), int(m), int(d), hour)
    offset = hour_offsets.get(key, _UNSEEN)
    if offset is _UNSEEN:
        try:
            offset = _hour_offset(zone, *key)
        except ValueError:  # no such date or hour: the general reader says why
            return general(value)
        if len(hour_offsets) >= _HOURS_KEPT:
            hour_offsets.clear()
        hour_offsets[key] = offset
    if offset is None:
        return general(value)
    try:
        return datetime(key[0], key[1], key[2], hour, minute, second, micro, tzinfo=offset)
    except ValueError:  # a minute past 59
        return general(value)


_UNSEEN: Final[Any] = object()


def _hour_offset(zone: tzinfo, y: int, m: int, d: int, h: int) -> timezone | None:
    """The one fixed UTC offset of wall hour ``h`` of that day in ``zone``, or ``None`` when the
    hour has two (a DST change within it: a gap or a fold). Raises ``ValueError`` for a date
    or hour that does not exist."""
    start = datetime(y, m, d, h)  # noqa: DTZ001 - a wall time, zoned here
    end = datetime(y, m, d, h, 59, 59, 999_999)  # noqa: DTZ001 - a wall time, zoned here
    offsets = {
        wall.replace(tzinfo=zone, fold=fold).utcoffset() for wall in (start, end) for fold in (0, 1)
    }
    if len(offsets) != 1:
        return None
    (offset,) = offsets
    if offset is None or offset.seconds % 60 or offset.microseconds:
        return None  # no offset, or local mean time: the general reader decides
    return timezone(offset)


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
    at = parsers.parse_instant(
        value,
        zone=_zone(m.timezone or "UTC"),
        time_of_day=m.time_of_day,
        excel_serial=c.excel_serial,
        date_order=m.date_order,
        format=c.format,
    )
    try:  # the one rule of an instant a record keeps (fixed offset, whole minutes, range)
        return timestamp(at, c.field, "cell")
    except ValidationError as exc:
        problem = exc.problems[0]
        raise ParseError(
            f"{problem.message}: the wall time falls in {m.timezone or 'UTC'}'s local mean time "
            "or an offset a record cannot keep; write the instant with its offset, e.g. "
            "1900-01-01T09:00+08:00",
            value,
            problem.code,
        ) from None


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
