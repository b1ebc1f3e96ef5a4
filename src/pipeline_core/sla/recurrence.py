"""Recurrences (RFC 5545 RRULE text) for cadence rules: parsing, and occurrences in µs.

:func:`parse_recurrence` reads the text once (the policy's validation and the engine use the same
parser); :class:`Recurrence` gives the occurrences after a clock start on a zone's wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr

from pipeline_core._deprecation import renamed_params
from pipeline_core.sla.instants import US, from_us, to_us

__all__ = ["RRULE_REFERENCE", "Recurrence", "parse_recurrence"]

RRULE_REFERENCE: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""The default instant after which a recurrence must still have an occurrence (validation), and
the start its ``COUNT``/``UNTIL`` are read from."""


def parse_recurrence(text: str, dtstart: datetime) -> rrule:
    """Parse RRULE text (``"FREQ=WEEKLY"``, optionally prefixed ``RRULE:``) starting at ``dtstart``.

    Raises ``ValueError`` for text that is not one RRULE, and for an ``INTERVAL`` that is not a
    positive whole number (RFC 5545 §3.3.10: ``INTERVAL`` is positive; 0 would never move on and
    a negative one goes back in time)."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    for part in body.upper().split(";"):
        name, _, value = part.partition("=")
        if name.strip() == "INTERVAL" and not (value.strip().isdigit() and int(value) > 0):
            raise ValueError(f"INTERVAL must be a positive whole number, not {value.strip()!r}")
    parsed = rrulestr(body, dtstart=dtstart)
    if not isinstance(parsed, rrule):
        raise ValueError("expected a single RRULE")
    return parsed


class Recurrence:
    """Occurrences of a recurrence after a start, in the calendar's timezone.

    One semantics on every path: a rule of only ``FREQ`` (``DAILY``, ``WEEKLY``, ``MONTHLY``,
    ``YEARLY``), ``INTERVAL``, ``WKST`` (no effect without ``BYDAY``), ``COUNT`` and ``UNTIL``
    steps from the start by whole wall-clock days or weeks, or by calendar months or years
    **clamped to the month end** (``dateutil.relativedelta``: 31 March + 3 months = 30 June,
    + 6 months = 30 September; each occurrence counted from the start, so it never drifts to the
    30th). RFC 5545 would instead *skip* months without a 31st, so a quarterly survey from
    31 March would first come on 31 December: a sales team means "every 3 months". Rules with
    ``BY*`` parts (``BYDAY=MO``, ``BYMONTHDAY=-1``) say exactly which days they mean and follow
    RFC 5545 (``dateutil.rrule``).
    """

    __slots__ = ("count", "delta", "text", "tz", "until")

    _SIMPLE: Final = frozenset({"FREQ", "INTERVAL", "WKST", "COUNT", "UNTIL"})

    def __init__(self, text: str, tz: ZoneInfo) -> None:
        """``text``: the RRULE; ``tz``: the zone whose wall clock the steps count (the
        calendar's, unless a state names the owner's)."""
        self.text = text
        self.tz = tz
        self.delta: relativedelta | timedelta | None = None
        self.count: int | None = None  # occurrences after the start (RFC COUNT counts the start)
        self.until: int | None = None  # µs
        parts = dict(
            p.split("=", 1) for p in text.upper().removeprefix("RRULE:").split(";") if "=" in p
        )
        if set(parts) <= self._SIMPLE:
            n = int(parts.get("INTERVAL", "1"))
            freq = parts.get("FREQ")
            if freq == "DAILY":
                self.delta = timedelta(days=n)
            elif freq == "WEEKLY":
                self.delta = timedelta(weeks=n)
            elif freq == "MONTHLY":
                self.delta = relativedelta(months=n)
            elif freq == "YEARLY":
                self.delta = relativedelta(years=n)
            if self.delta is not None and ("COUNT" in parts or "UNTIL" in parts):
                parsed = parse_recurrence(text, RRULE_REFERENCE)
                count = getattr(parsed, "_count", None)
                until = getattr(parsed, "_until", None)
                self.count = None if count is None else int(count) - 1
                self.until = None if until is None else to_us(until)

    @property
    def limited(self) -> bool:
        """Whether the occurrences end (``COUNT`` or ``UNTIL``)."""
        return self.count is not None or self.until is not None

    def _at(self, local: datetime, k: int) -> int:
        assert self.delta is not None
        return to_us(local + self.delta * k)

    def _exists(self, local: datetime, k: int) -> bool:
        if self.count is not None and k > self.count:
            return False
        return self.until is None or self._at(local, k) <= self.until

    def _latest(self, local: datetime, start: int, now: int) -> tuple[int, int]:
        """Fixed steps: (k of the latest step at or before ``now``, 0 if none; the next step's
        instant), ignoring ``COUNT``/``UNTIL``."""
        delta = self.delta
        assert delta is not None
        if isinstance(delta, timedelta):
            step = delta // US
            k = max(1, (now - start) // step)
        else:
            k = max(1, int((now - start) / (_approx_days(delta) * 86_400_000_000)) - 1)
        first = self._at(local, 1)
        if first > now:
            return 0, first
        while k > 1 and self._at(local, k) > now:
            k -= 1
        after = self._at(local, k + 1)
        while after <= now:
            k += 1
            after = self._at(local, k + 1)
        return k, after

    @renamed_params(now="as_of")
    def after(self, start: int, as_of: int, tz: ZoneInfo | None = None) -> int | None:
        """The first occurrence after ``as_of`` (µs, the evaluation instant), or ``None``.
        ``now=`` is the deprecated name of ``as_of``."""
        local = from_us(start, self.tz if tz is None else tz)
        if self.delta is not None:
            k, after = self._latest(local, start, as_of)
            return after if self._exists(local, k + 1) else None
        nxt = parse_recurrence(self.text, local).after(
            from_us(as_of, self.tz if tz is None else tz), inc=False
        )
        return None if nxt is None else to_us(nxt)

    @renamed_params(now="as_of")
    def back(self, start: int, as_of: int, tz: ZoneInfo | None = None) -> Iterator[int]:
        """The occurrences in (start, as_of] (µs), **latest first**, counted on the wall clock of
        ``tz`` (default: the calendar's zone). Lazy: a caller stops at the first one it does
        not need (a cadence at the first occurrence followed by its target). ``now=`` is the
        deprecated name of ``as_of``."""
        zone = self.tz if tz is None else tz
        local = from_us(start, zone)
        if self.delta is not None:
            k, _ = self._latest(local, start, as_of)
            if self.count is not None:
                k = min(k, self.count)
            while k >= 1:
                if self._exists(local, k):
                    yield self._at(local, k)
                k -= 1
            return
        rule = parse_recurrence(self.text, local)
        t = rule.before(from_us(as_of, zone), inc=True)
        while t is not None:
            t_us = to_us(t)
            if t_us <= start:
                return
            yield t_us
            t = rule.before(t, inc=False)


def _approx_days(delta: relativedelta) -> float:
    return max(1.0, delta.years * 365.25 + delta.months * 30.4 + delta.days)
