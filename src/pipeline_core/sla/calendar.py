"""Business calendars: working hours per weekday, a timezone, public holidays, make-up working days.

A :class:`BusinessCalendar` answers two questions exactly, across DST changes and holidays:

- :meth:`~BusinessCalendar.add`: which instant is ``duration`` of working time after ``instant``?
- :meth:`~BusinessCalendar.between`: how much working time lies between two instants?

Working hours are wall-clock times in the calendar's timezone (``zoneinfo``), possibly split
(``09:00-12:00, 13:30-18:00``). Public holidays come from the ``holidays`` package (imported lazily,
extra ``pipeline-core[holidays]``), including mainland China's make-up working days (调休: a Saturday
or Sunday that is a working day because a holiday was moved). Users add their own holidays and
working days on top.

Internally each calendar keeps a *business clock*: the working intervals of a range of days as
integer microseconds since the Unix epoch, with the cumulative working time at the start of each
interval. ``add`` and ``between`` are then two binary searches, which is what lets the SLA engine
evaluate a million records in seconds. The range grows on demand; the cache belongs to the calendar
instance (no global state).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import attrs

from pipeline_core._jsonvalue import check_definition
from pipeline_core._optional import require
from pipeline_core._values import iana_zone
from pipeline_core.clock import require_aware
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.sla.hours import (
    WEEKDAYS,
    WorkingHours,
    check_hours,
    format_hours,
    parse_hours,
    weekday_of,
)
from pipeline_core.sla.instants import (
    US,
    add_days,
    fixed_offset,
    from_us,
    local_fixed,
    to_us,
)

__all__ = [
    "BusinessCalendar",
    "BusinessClock",
    "WorkingHours",
    "add_days",
    "fixed_offset",
    "parse_hours",
]

_MAX_SEARCH_YEARS: Final = 5


class BusinessClock:
    """The business clock of a calendar over a range of whole years of days (grows on demand).

    ``starts``/``ends``: the working intervals as µs since the epoch, sorted and disjoint;
    ``cum``/``cum_end``: the working time (µs) from the start of the range to each interval's start
    and end; ``first_day``/``last_day`` the local days covered, ``lo_us``/``hi_us`` the instants.
    Read-only for its users (the engine and the column-wise batch): a calendar replaces its clock
    with a larger one rather than changing it.
    """

    __slots__ = ("cum", "cum_end", "ends", "first_day", "hi_us", "last_day", "lo_us", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.cum: list[int] = []
        self.cum_end: list[int] = []
        self.first_day = date.max
        self.last_day = date.min
        self.lo_us = 0
        self.hi_us = 0


@attrs.frozen(kw_only=True)
class BusinessCalendar:
    """Working time: hours per weekday in a timezone, minus holidays, plus make-up working days.

    ``hours`` maps a weekday (0 = Monday ... 6 = Sunday) to its working intervals in minutes after
    local midnight (use :meth:`of` to write them as text). ``country``/``subdivision`` select public
    holidays from the ``holidays`` package (e.g. ``"CN"``, ``"DE"``/``"BE"``, ``"US"``/``"NY"``);
    for countries with make-up working days (mainland China), those weekend days are working days
    with the hours of ``makeup_weekday`` (Monday by default). ``extra_holidays`` are days off and
    ``extra_working_days`` working days set by the user; they win over everything else.

    >>> cal = BusinessCalendar.of("Asia/Shanghai", hours="09:00-12:00, 13:30-18:00")
    >>> start = datetime(2025, 1, 3, 17, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Friday
    >>> cal.add(start, timedelta(hours=3)).isoformat()
    '2025-01-06T11:00:00+08:00'
    """

    timezone: str = "UTC"
    hours: Mapping[int, WorkingHours] = attrs.field(
        factory=lambda: {d: ((540, 1080),) for d in range(5)}
    )
    country: str | None = None
    subdivision: str | None = None
    extra_holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    makeup_weekday: int = 0
    _tz: ZoneInfo = attrs.field(init=False, eq=False, repr=False)
    _clock: BusinessClock = attrs.field(init=False, eq=False, repr=False)
    _holiday_years: dict[int, tuple[frozenset[date], frozenset[date]]] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        tz: ZoneInfo | None = None
        try:
            tz = iana_zone(self.timezone)
        except ValueError:
            problems.append(
                Problem(
                    ("timezone",),
                    "unknown IANA timezone; expected e.g. 'Asia/Shanghai', 'Europe/Berlin'",
                    self.timezone,
                    "unknown_timezone",
                )
            )
        hours = {}
        for day, intervals in self.hours.items():
            if not isinstance(day, int) or not 0 <= day <= 6:
                problems.append(
                    Problem(
                        ("hours", str(day)), "weekday must be 0 (Mon) .. 6 (Sun)", day, "weekday"
                    )
                )
                continue
            ivs = tuple((int(s), int(e)) for s, e in intervals)
            message = check_hours(ivs)
            if message:
                problems.append(Problem(("hours", WEEKDAYS[day]), message, ivs, "hours"))
            if ivs:
                hours[day] = ivs
        if not hours and not self.extra_working_days:
            problems.append(
                Problem(("hours",), "a calendar needs working hours on some day", {}, "no_hours")
            )
        if not 0 <= self.makeup_weekday <= 6:
            problems.append(
                Problem(("makeup_weekday",), "must be 0 .. 6", self.makeup_weekday, "weekday")
            )
        if self.country is not None:
            try:
                _holidays_for(self.country, self.subdivision, 2025)
            except ImportError:
                problems.append(
                    Problem(
                        ("country",),
                        "public holidays need the 'holidays' package: "
                        "pip install 'pipeline-core[holidays]'",
                        self.country,
                        "missing_dependency",
                    )
                )
            except (NotImplementedError, KeyError, ValueError) as exc:
                problems.append(
                    Problem(
                        ("country",),
                        f"unknown country or subdivision: {exc}",
                        self.country,
                        "unknown_country",
                    )
                )
        if problems:
            raise ConfigError("BusinessCalendar", problems)
        object.__setattr__(self, "hours", hours)
        object.__setattr__(self, "_tz", tz)
        object.__setattr__(self, "_clock", BusinessClock())
        object.__setattr__(self, "_holiday_years", {})

    # -- construction from text and data ---------------------------------------------------------

    @classmethod
    def of(
        cls,
        timezone: str = "UTC",
        *,
        hours: str | Mapping[str | int, str] = "09:00-18:00",
        weekdays: Sequence[int] = (0, 1, 2, 3, 4),
        country: str | None = None,
        subdivision: str | None = None,
        extra_holidays: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
        makeup_weekday: int = 0,
    ) -> BusinessCalendar:
        """Build from text: ``hours="09:00-12:00, 13:30-18:00"`` on ``weekdays`` (0 = Monday), or a
        mapping ``{"mon": "09:00-18:00", "sat": "10:00-14:00"}`` per weekday."""
        try:
            if isinstance(hours, str):
                parsed = parse_hours(hours)
                per_day = {d: parsed for d in weekdays}
            else:
                per_day = {weekday_of(k): parse_hours(v) for k, v in hours.items()}
        except ValueError as exc:
            raise ConfigError(
                "BusinessCalendar", [Problem(("hours",), str(exc), hours, "hours")]
            ) from None
        return cls(
            timezone=timezone,
            hours=per_day,
            country=country,
            subdivision=subdivision,
            extra_holidays=frozenset(extra_holidays),
            extra_working_days=frozenset(extra_working_days),
            makeup_weekday=makeup_weekday,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BusinessCalendar:
        """Build from plain data (see :meth:`to_dict`); raise :class:`ConfigError` listing problems."""
        check_definition(data, "calendar")
        problems: list[Problem] = []
        unknown = set(data) - {
            "timezone",
            "hours",
            "country",
            "subdivision",
            "extra_holidays",
            "extra_working_days",
            "makeup_weekday",
        }
        problems += [
            Problem((k,), "unknown field", data[k], "extra_forbidden") for k in sorted(unknown)
        ]
        hours: dict[int, WorkingHours] = {}
        raw_hours = data.get(
            "hours",
            {
                "mon": "09:00-18:00",
                "tue": "09:00-18:00",
                "wed": "09:00-18:00",
                "thu": "09:00-18:00",
                "fri": "09:00-18:00",
            },
        )
        if not isinstance(raw_hours, Mapping):
            problems.append(
                Problem(
                    ("hours",),
                    "expected an object weekday -> 'HH:MM-HH:MM, ...'",
                    raw_hours,
                    "hours",
                )
            )
        else:
            for key, text in raw_hours.items():
                if not isinstance(text, str):
                    problems.append(
                        Problem(
                            ("hours", str(key)), "expected text 'HH:MM-HH:MM'", text, "string_type"
                        )
                    )
                    continue
                try:
                    hours[weekday_of(key)] = parse_hours(text)
                except ValueError as exc:
                    problems.append(Problem(("hours", str(key)), str(exc), text, "hours"))
        for name, default in (("timezone", "UTC"), ("country", None), ("subdivision", None)):
            value = data.get(name, default)
            if not isinstance(value, str) and not (value is None and default is None):
                problems.append(Problem((name,), "expected text", value, "string_type"))
        weekday = data.get("makeup_weekday", 0)
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            problems.append(
                Problem(("makeup_weekday",), "expected a weekday number 0-6", weekday, "int_type")
            )
        days: dict[str, frozenset[date]] = {}
        for name in ("extra_holidays", "extra_working_days"):
            values = []
            listed = data.get(name, ())
            if not isinstance(listed, list | tuple):
                problems.append(
                    Problem((name,), "expected a list of ISO dates", listed, "list_type")
                )
                listed = ()
            for i, raw in enumerate(listed):
                try:
                    if isinstance(raw, datetime) or not isinstance(raw, date | str):
                        raise ValueError(raw)
                    values.append(raw if isinstance(raw, date) else date.fromisoformat(raw))
                except ValueError:
                    problems.append(
                        Problem((name, i), "expected an ISO date YYYY-MM-DD", raw, "date")
                    )
            days[name] = frozenset(values)
        if problems:
            raise ConfigError("BusinessCalendar", problems)
        return cls(
            timezone=data.get("timezone", "UTC"),
            hours=hours,
            country=data.get("country"),
            subdivision=data.get("subdivision"),
            extra_holidays=days["extra_holidays"],
            extra_working_days=days["extra_working_days"],
            makeup_weekday=weekday,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data; ``from_dict(to_dict())`` gives an equal calendar."""
        return {
            "timezone": self.timezone,
            "hours": {WEEKDAYS[d]: format_hours(h) for d, h in sorted(self.hours.items())},
            "country": self.country,
            "subdivision": self.subdivision,
            "extra_holidays": sorted(d.isoformat() for d in self.extra_holidays),
            "extra_working_days": sorted(d.isoformat() for d in self.extra_working_days),
            "makeup_weekday": self.makeup_weekday,
        }

    @staticmethod
    def json_schema() -> dict[str, Any]:
        """The JSON Schema of :meth:`to_dict`'s output."""
        day_hours = {"type": "string", "pattern": r"^(\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*,?)*$"}
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "BusinessCalendar",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "timezone": {"type": "string", "description": "IANA timezone, e.g. Asia/Shanghai"},
                "hours": {
                    "type": "object",
                    "propertyNames": {"enum": list(WEEKDAYS)},
                    "additionalProperties": day_hours,
                },
                "country": {"type": ["string", "null"]},
                "subdivision": {"type": ["string", "null"]},
                "extra_holidays": {"type": "array", "items": {"type": "string", "format": "date"}},
                "extra_working_days": {
                    "type": "array",
                    "items": {"type": "string", "format": "date"},
                },
                "makeup_weekday": {"type": "integer", "minimum": 0, "maximum": 6},
            },
        }

    # -- days --------------------------------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        """The calendar's timezone."""
        return self._tz

    def _holidays(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        cached = self._holiday_years.get(year)
        if cached is None:
            if self.country is None:
                cached = (frozenset(), frozenset())
            else:
                cached = _holidays_for(self.country, self.subdivision, year)
            self._holiday_years[year] = cached
        return cached

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` has working hours (weekday hours, not a holiday, or a make-up day)."""
        return bool(self.working_hours(day))

    def working_hours(self, day: date) -> WorkingHours:
        """The working intervals of ``day`` (minutes after local midnight); empty on days off."""
        if day in self.extra_holidays:
            return ()
        own = self.hours.get(day.weekday(), ())
        if day in self.extra_working_days:
            return own or self.hours.get(self.makeup_weekday, ()) or ((540, 1080),)
        off, makeup = self._holidays(day.year)
        if day in off:
            return ()
        if day in makeup and not own:
            return self.hours.get(self.makeup_weekday, ())
        return own

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of ``day`` as aware datetimes in the calendar's timezone."""
        return [(local_fixed(s, self._tz), local_fixed(e, self._tz)) for s, e in self._day_us(day)]

    def _day_us(self, day: date) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        tz = self._tz
        for start, end in self.working_hours(day):
            s = to_us(_local(day, start, tz))
            e = to_us(_local(day, end, tz))
            if out and s < out[-1][1]:
                s = out[-1][1]
            if e > s:
                out.append((s, e))
        return out

    # -- the business clock ----------------------------------------------------------------------

    @property
    def clock(self) -> BusinessClock:
        """The business clock prepared so far (see :meth:`prepare`)."""
        return self._clock

    def prepare(self, first: date, last: date) -> BusinessClock:
        """The business clock covering the local days ``first`` .. ``last`` at least (whole
        years), grown and kept by the calendar when it does not cover them yet."""
        clock = self._clock
        if clock.first_day <= first and last <= clock.last_day:
            return clock
        lo = min(first, clock.first_day) if clock.hi_us else first
        hi = max(last, clock.last_day) if clock.hi_us else last
        lo = date(lo.year, 1, 1)
        hi = date(hi.year, 12, 31)
        starts: list[int] = []
        ends: list[int] = []
        day = lo
        one = timedelta(days=1)
        while day <= hi:
            for s, e in self._day_us(day):
                if starts and s < ends[-1]:
                    s = ends[-1]
                if e > s:
                    starts.append(s)
                    ends.append(e)
            day += one
        cum: list[int] = []
        cum_end: list[int] = []
        total = 0
        for s, e in zip(starts, ends, strict=True):
            cum.append(total)
            total += e - s
            cum_end.append(total)
        new = BusinessClock()
        new.starts, new.ends, new.cum, new.cum_end = starts, ends, cum, cum_end
        new.first_day, new.last_day = lo, hi
        new.lo_us = to_us(_local(lo, 0, self._tz))
        new.hi_us = to_us(_local(hi, 1440, self._tz))
        object.__setattr__(self, "_clock", new)
        return new

    def _cover_us(self, value: int) -> BusinessClock:
        clock = self._clock
        if clock.lo_us <= value < clock.hi_us:
            return clock
        day = from_us(value, self._tz).date()
        return self.prepare(day - timedelta(days=1), day + timedelta(days=1))

    def cum_us(self, value: int) -> int:
        """Working microseconds from the start of the cached range to ``value`` (internal clock)."""
        clock = self._cover_us(value)
        k = bisect_right(clock.starts, value) - 1
        if k < 0:
            return 0
        end = clock.ends[k]
        return clock.cum[k] + ((value if value < end else end) - clock.starts[k])

    def add_us(self, value: int, amount: int) -> int:
        """``add`` on integer microseconds (the engine's hot path); ``amount`` may be negative."""
        if amount == 0:
            return value
        base = self.cum_us(value)
        clock = self._clock
        target = base + amount
        grown = 0
        while (target > clock.cum_end[-1]) if clock.cum_end else True:
            grown += 1
            if grown > _MAX_SEARCH_YEARS:
                raise ValueError("no working time found within five years; check the calendar")
            # the range grows at its end only, so cumulative values before it stay the same
            clock = self.prepare(clock.first_day, clock.last_day + timedelta(days=366))
        while target <= 0 and amount < 0:
            grown += 1
            if grown > _MAX_SEARCH_YEARS:
                raise ValueError("no working time found within five years; check the calendar")
            clock = self.prepare(clock.first_day - timedelta(days=366), clock.last_day)
            base = self.cum_us(value)
            target = base + amount
        if amount > 0:  # the earliest instant at which ``amount`` has elapsed
            k = bisect_left(clock.cum_end, target)
        else:  # the latest instant from which exactly ``-amount`` remains (an opening, not a close)
            k = bisect_right(clock.cum_end, target)
        return clock.starts[k] + (target - clock.cum[k])

    def between_us(self, a: int, b: int) -> int:
        """``between`` on integer microseconds."""
        if b < a:
            return -self.between_us(b, a)
        clock = self._clock
        if clock.lo_us <= a and b < clock.hi_us:  # both covered: nothing to prepare
            starts, ends, cum = clock.starts, clock.ends, clock.cum
            i = bisect_right(starts, a) - 1
            j = bisect_right(starts, b) - 1
            ca = 0 if i < 0 else cum[i] + (min(a, ends[i]) - starts[i])
            cb = 0 if j < 0 else cum[j] + (min(b, ends[j]) - starts[j])
            return cb - ca
        first = from_us(a, self._tz).date()
        last = from_us(b, self._tz).date()
        self.prepare(first - timedelta(days=2), last + timedelta(days=2))
        return self.cum_us(b) - self.cum_us(a)

    def next_open_us(self, value: int) -> int:
        """The first working instant at or after ``value`` (itself if it is in working hours)."""
        clock = self._cover_us(value)
        k = bisect_right(clock.starts, value) - 1
        if k >= 0 and value < clock.ends[k]:
            return value
        return self.add_us(value, 1) - 1

    def prev_close_us(self, value: int) -> int:
        """The latest instant at or before ``value`` that is in working time or closes a working
        interval: ``value`` itself in working hours (or at a closing instant), else the close of
        the last working interval before it (Friday 18:00 for a Sunday)."""
        clock = self._cover_us(value)
        grown = 0
        while True:
            k = bisect_right(clock.starts, value) - 1
            if k >= 0:
                end = clock.ends[k]
                return value if value < end else end
            grown += 1
            if grown > _MAX_SEARCH_YEARS:
                raise ValueError("no working time found within five years; check the calendar")
            clock = self.prepare(clock.first_day - timedelta(days=366), clock.last_day)

    # -- public datetime API -----------------------------------------------------------------

    def add(self, instant: datetime, duration: timedelta) -> datetime:
        """The instant ``duration`` of working time after ``instant`` (before it, if negative).

        Starting outside working hours, the clock starts at the next opening: a lead arriving on
        Saturday with 3 h to go is due on Monday at opening + 3 h. Forward, the result is the
        *earliest* instant at which ``duration`` has elapsed (12:00, the close of the morning,
        rather than 13:30); backward, the *latest* instant from which exactly ``-duration`` of
        working time remains: 1 working hour before 14:30 with lunch 12:00-13:30 is 13:30, not
        12:00 (so a reminder never lands in the lunch break or at a close). The result shows the calendar's
        local time with its fixed UTC offset (so comparisons stay exact across DST).
        ``add(t, timedelta(0))`` is ``t``.
        """
        require_aware(instant, "instant")
        amount = duration // US
        return local_fixed(self.add_us(to_us(instant), amount), self._tz)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The working time between two instants (negative if ``end`` is before ``start``)."""
        require_aware(start, "start")
        require_aware(end, "end")
        return timedelta(microseconds=self.between_us(to_us(start), to_us(end)))

    def is_working_time(self, instant: datetime) -> bool:
        """Whether ``instant`` falls within working hours."""
        value = to_us(require_aware(instant, "instant"))
        return self.next_open_us(value) == value

    def next_open(self, instant: datetime) -> datetime:
        """The first working instant at or after ``instant``."""
        return local_fixed(self.next_open_us(to_us(require_aware(instant, "instant"))), self._tz)


def _local(day: date, minute: int, tz: ZoneInfo) -> datetime:
    if minute >= 1440:
        nxt = day + timedelta(days=1)
        return datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz)


def _holidays_for(
    country: str, subdivision: str | None, year: int
) -> tuple[frozenset[date], frozenset[date]]:
    """Days off and make-up working days of ``year`` from the ``holidays`` package (lazy import)."""
    require("holidays", "holidays")
    import holidays  # optional dependency, imported lazily

    table = holidays.country_holidays(country, subdiv=subdivision, years=year)
    off = frozenset(d for d in table if d.year == year)
    makeup = frozenset(d for d in getattr(table, "weekend_workdays", ()) if d.year == year)
    return off, makeup
