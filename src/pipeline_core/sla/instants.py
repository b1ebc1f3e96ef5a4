"""Instants as integer microseconds since the Unix epoch, and local days in a timezone.

The SLA layers (calendar, compiled policy, engine, column-wise batch, risk) count time in integer
microseconds since the epoch: exact, cheap to compare and to store by the million. These are the
conversions and the one rule for "N days later" on a person's own clock (:func:`add_days`).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Final
from zoneinfo import ZoneInfo

__all__ = ["DAY_US", "EPOCH", "US", "add_days", "fixed_offset", "from_us", "local_fixed", "to_us"]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The Unix epoch (UTC)."""
US: Final = timedelta(microseconds=1)
"""One microsecond: ``duration // US`` is a duration in µs."""
DAY_US: Final = 86_400_000_000
"""One day of 24 hours, in µs."""


def to_us(instant: datetime) -> int:
    """Exact integer microseconds since the Unix epoch of an aware ``datetime``."""
    d = instant - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def from_us(value: int, tz: ZoneInfo | None = None) -> datetime:
    """The aware ``datetime`` (UTC, or ``tz``) of integer microseconds since the epoch."""
    days, rest = divmod(value, 86_400_000_000)
    seconds, micros = divmod(rest, 1_000_000)
    out = EPOCH + timedelta(days, seconds, micros)  # positional: no normalising of one huge field
    return out if tz is None else out.astimezone(tz)


def local_fixed(value: int, tz: ZoneInfo) -> datetime:
    """The instant in ``tz``'s local time with a *fixed* UTC offset attached.

    The wall clock and offset are those of ``tz``; a fixed offset (not the zone) makes comparisons
    and arithmetic on the result absolute, even in the repeated hour of a DST change (Python
    compares two datetimes sharing one ``ZoneInfo`` by wall clock, ignoring ``fold``).
    """
    local = from_us(value, tz)
    offset = local.utcoffset()
    assert offset is not None
    return local.replace(tzinfo=dt_timezone(offset), fold=0)


_HOUR_US: Final = 3_600_000_000
_BLOCK_US: Final = 365 * DAY_US


@functools.cache
def _fixed_block(tz: ZoneInfo, block: int) -> bool:
    """Whether ``tz`` keeps one UTC offset through the 365-day block ``block`` after the epoch
    (checked every hour: every real offset change lasts far longer than an hour)."""
    lo = block * _BLOCK_US
    first = from_us(lo, tz).utcoffset()
    t = lo
    while t <= lo + _BLOCK_US + _HOUR_US:
        if from_us(t, tz).utcoffset() != first:
            return False
        t += _HOUR_US
    return True


def fixed_offset(tz: ZoneInfo, lo: int, hi: int) -> bool:
    """Whether ``tz`` keeps one UTC offset from ``lo`` to ``hi`` (µs since the epoch)."""
    first, last = lo // _BLOCK_US, hi // _BLOCK_US
    if not all(_fixed_block(tz, b) for b in range(first, last + 1)):
        return False
    return first == last or from_us(lo, tz).utcoffset() == from_us(hi, tz).utcoffset()


def add_days(value: int, amount: int, tz: ZoneInfo) -> int:
    """``value + amount`` (µs) where a whole number of days counts *local* days in ``tz``: the
    same wall-clock time N days later, 23 or 25 hours for a day across a DST change (a person's
    "in 2 days" on their own clock). Other amounts are plain elapsed time."""
    end = value + amount
    if not amount or amount % DAY_US:
        return end
    block = value // _BLOCK_US
    if block == end // _BLOCK_US:  # the common case: one 365-day block, looked up once
        if _fixed_block(tz, block):
            return end
    elif fixed_offset(tz, min(value, end), max(value, end)):
        return end
    return to_us(from_us(value, tz) + timedelta(days=amount // DAY_US))
