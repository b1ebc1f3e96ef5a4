"""Working hours as text and as minutes: ``"09:00-12:00, 13:30-18:00"`` and weekday names.

The text form of a :class:`~pipeline_core.sla.calendar.BusinessCalendar`'s hours, parsed and
written back, and checked (sorted, disjoint, within the day).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["WEEKDAYS", "WorkingHours", "check_hours", "format_hours", "parse_hours", "weekday_of"]

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names as the plain form writes them, Monday first (0 = Monday)."""
# ASCII digits only (``\d`` would read '０９:00'), spaces only around the parts and nothing after
# (``$`` would let a trailing newline through).
_RANGE = re.compile(r" *([0-9]{1,2}):([0-9]{2}) *- *([0-9]{1,2}):([0-9]{2}) *\Z", re.ASCII)

WorkingHours = tuple[tuple[int, int], ...]
"""Working intervals of one day as (start, end) minutes after local midnight, sorted, disjoint;
``end`` may be 1440 (midnight at the end of the day)."""


def parse_hours(text: str) -> WorkingHours:
    """Parse ``"09:00-12:00, 13:30-18:00"`` into minute intervals; raise ``ValueError`` if bad."""
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        m = _RANGE.match(part)
        if m is None:
            raise ValueError(f"expected HH:MM-HH:MM, got {part.strip()!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ValueError(f"not a time of day in {part.strip()!r}")
        out.append((h1 * 60 + m1, h2 * 60 + m2))
    return tuple(out)


def format_hours(hours: WorkingHours) -> str:
    """Minute intervals as text: ``"09:00-12:00, 13:30-18:00"`` (what :func:`parse_hours` reads)."""
    return ", ".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in hours)


def check_hours(hours: WorkingHours) -> str | None:
    """What is wrong with one day's intervals (not within the day, unsorted, overlapping), or
    ``None``."""
    previous_end = -1
    for start, end in hours:
        if not 0 <= start < end <= 1440:
            return f"interval {format_hours(((start, end),))} must start before it ends"
        if start < previous_end:
            return "intervals must be sorted and must not overlap"
        previous_end = end
    return None


def weekday_of(key: str | int) -> int:
    """The weekday number (0 = Monday) of a name (``"mon"``, ``"Monday"``) or number; raise
    ``ValueError`` otherwise."""
    if isinstance(key, int):
        if 0 <= key <= 6:
            return key
        raise ValueError(f"weekday must be 0 .. 6, got {key}")
    name = str(key).strip().lower()[:3]
    if name in WEEKDAYS:
        return WEEKDAYS.index(name)
    if name.isdigit() and 0 <= int(name) <= 6:
        return int(name)
    raise ValueError(f"unknown weekday {key!r}; expected mon, tue, ... sun")
