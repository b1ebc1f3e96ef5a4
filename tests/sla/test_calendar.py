"""Business calendars: hand-checked examples, DST and holiday edges, and hypothesis properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError, ValidationError
from pipeline_core.sla import BusinessCalendar

SH = ZoneInfo("Asia/Shanghai")
BER = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")

CALENDARS = {
    "shanghai": BusinessCalendar.of(
        "Asia/Shanghai", hours="09:00-12:00, 13:30-18:00", country="CN"
    ),
    "berlin": BusinessCalendar.of(
        "Europe/Berlin", hours="00:00-03:00, 08:00-17:00", country="DE", subdivision="BE"
    ),
    "new_york": BusinessCalendar.of(
        "America/New_York",
        hours={"mon": "00:30-02:30, 09:00-17:00", "tue": "09:00-17:00", "sun": "01:00-03:00"},
        country="US",
        subdivision="NY",
    ),
    "berlin_24_7": BusinessCalendar.of("Europe/Berlin", hours="00:00-24:00", weekdays=range(7)),
}

# instants over 2024-2026, which holds every DST change of Berlin and New York and China's holidays
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
# the edges: DST changes in Berlin and New York, China's Spring Festival and its make-up days
EDGES = [
    datetime(2025, 3, 30, 2, 0, tzinfo=BER),
    datetime(2025, 10, 26, 3, 0, tzinfo=BER),
    datetime(2025, 3, 9, 2, 0, tzinfo=NY),
    datetime(2025, 11, 2, 1, 30, tzinfo=NY),
    datetime(2024, 10, 27, 2, 30, tzinfo=BER),
    datetime(2025, 1, 26, 9, 0, tzinfo=SH),
    datetime(2025, 1, 27, 17, 30, tzinfo=SH),
    datetime(2025, 2, 8, 8, 0, tzinfo=SH),
    datetime(2025, 9, 30, 17, 0, tzinfo=SH),
    datetime(2025, 12, 31, 23, 0, tzinfo=SH),
]
edges = st.sampled_from(EDGES).flatmap(
    lambda t: st.integers(-600, 600).map(lambda m: (t + timedelta(minutes=m)).astimezone(UTC))
)
instants = st.one_of(instants, edges)
durations = st.integers(min_value=0, max_value=400 * 60).map(lambda m: timedelta(minutes=m))
calendars = st.sampled_from(sorted(CALENDARS))


def _independent_hours(cal_name: str, day: date) -> float:
    """Working hours of a day computed without the calendar (the test's own oracle)."""
    if cal_name == "shanghai":
        cn = holidays.China(years=day.year)
        if day in cn:
            return 0.0
        if day.weekday() < 5 or day in cn.weekend_workdays:
            return 7.5
        return 0.0
    raise AssertionError(cal_name)


# --------------------------------------------------------------------------- examples


def test_friday_evening_lead_is_due_monday_morning() -> None:
    cal = CALENDARS["shanghai"]
    friday = datetime(2025, 1, 3, 17, 0, tzinfo=SH)
    # 1 h left on Friday (17:00-18:00), then 2 h on Monday from 09:00
    assert cal.add(friday, timedelta(hours=3)) == datetime(2025, 1, 6, 11, 0, tzinfo=SH)


def test_a_saturday_lead_starts_its_clock_at_monday_opening() -> None:
    cal = CALENDARS["shanghai"]
    saturday = datetime(2025, 1, 4, 10, 0, tzinfo=SH)
    assert cal.add(saturday, timedelta(hours=3)) == datetime(2025, 1, 6, 12, 0, tzinfo=SH)
    assert cal.between(saturday, datetime(2025, 1, 6, 9, 0, tzinfo=SH)) == timedelta(0)


def test_lunch_break_is_not_working_time() -> None:
    cal = CALENDARS["shanghai"]
    start = datetime(2025, 1, 6, 11, 0, tzinfo=SH)
    assert cal.add(start, timedelta(hours=2)) == datetime(2025, 1, 6, 14, 30, tzinfo=SH)
    assert not cal.is_working_time(datetime(2025, 1, 6, 12, 30, tzinfo=SH))


def test_china_spring_festival_and_make_up_working_days() -> None:
    cal = CALENDARS["shanghai"]
    # 2025: Sun 26 Jan and Sat 8 Feb are make-up working days; 28 Jan - 4 Feb are off
    assert cal.is_working_day(date(2025, 1, 26))
    assert cal.is_working_day(date(2025, 2, 8))
    assert not cal.is_working_day(date(2025, 1, 28))
    assert not cal.is_working_day(date(2025, 2, 4))
    friday = datetime(2025, 1, 24, 17, 0, tzinfo=SH)
    # Fri 17-18 (1 h), then Sunday 26 Jan (a working day) 09:00-11:00
    assert cal.add(friday, timedelta(hours=3)) == datetime(2025, 1, 26, 11, 0, tzinfo=SH)
    # the holiday week: Mon 27 Jan 17:00 + 3 h skips 28 Jan - 4 Feb
    assert cal.add(datetime(2025, 1, 27, 17, 0, tzinfo=SH), timedelta(hours=3)) == datetime(
        2025, 2, 5, 11, 0, tzinfo=SH
    )


def test_between_matches_an_independent_day_count_in_china() -> None:
    cal = CALENDARS["shanghai"]
    start, end = date(2025, 1, 1), date(2025, 3, 1)
    expected = 0.0
    day = start
    while day < end:
        expected += _independent_hours("shanghai", day)
        day += timedelta(days=1)
    got = cal.between(datetime(2025, 1, 1, tzinfo=SH), datetime(2025, 3, 1, tzinfo=SH))
    assert got == timedelta(hours=expected)


def test_dst_days_have_23_and_25_hours() -> None:
    every_hour = CALENDARS["berlin_24_7"]
    spring = datetime(2025, 3, 30, tzinfo=BER)
    assert every_hour.between(spring, spring + timedelta(days=1)) == timedelta(hours=23)
    ny = BusinessCalendar.of("America/New_York", hours="00:00-24:00", weekdays=range(7))
    autumn = datetime(2025, 11, 2, tzinfo=NY)
    assert ny.between(autumn, datetime(2025, 11, 3, tzinfo=NY)) == timedelta(hours=25)
    # working hours across the change keep their wall-clock times
    berlin = CALENDARS["berlin"]
    assert berlin.intervals(date(2025, 3, 31))[1][0] == datetime(2025, 3, 31, 8, 0, tzinfo=BER)


def test_new_york_night_hours_across_the_autumn_change() -> None:
    # 2025-11-02 is a Sunday; 01:00-03:00 wall clock holds the repeated hour: 3 h of working time
    cal = BusinessCalendar.of("America/New_York", hours={"sun": "01:00-03:00"}, country=None)
    day = datetime(2025, 11, 2, tzinfo=NY)
    assert cal.between(day, day + timedelta(hours=12)) == timedelta(hours=3)


def test_user_holidays_and_working_days_win() -> None:
    cal = BusinessCalendar.of(
        "Asia/Shanghai",
        hours="09:00-18:00",
        extra_holidays=[date(2025, 1, 6)],
        extra_working_days=[date(2025, 1, 4)],
    )
    assert cal.is_working_day(date(2025, 1, 4))  # a Saturday made working
    assert not cal.is_working_day(date(2025, 1, 6))  # a Monday made off
    friday = datetime(2025, 1, 3, 17, 0, tzinfo=SH)
    assert cal.add(friday, timedelta(hours=2)) == datetime(2025, 1, 4, 10, 0, tzinfo=SH)


def test_negative_add_goes_back() -> None:
    cal = CALENDARS["shanghai"]
    monday = datetime(2025, 1, 6, 10, 0, tzinfo=SH)
    assert cal.add(monday, timedelta(hours=-2)) == datetime(2025, 1, 3, 17, 0, tzinfo=SH)


def test_bad_calendar_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        BusinessCalendar(timezone="Mars/Olympus", hours={0: ((600, 540),), 9: ((0, 60),)})
    codes = {p.code for p in info.value.problems}
    assert {"unknown_timezone", "hours", "weekday"} <= codes
    with pytest.raises(ConfigError):
        BusinessCalendar.of("UTC", country="XX")
    with pytest.raises(ConfigError):
        BusinessCalendar.of("UTC", hours="9-17")


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValidationError):
        CALENDARS["shanghai"].add(datetime(2025, 1, 6, 9), timedelta(hours=1))


def test_round_trip_through_plain_data() -> None:
    for cal in CALENDARS.values():
        again = BusinessCalendar.from_dict(cal.to_dict())
        assert again == cal


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(calendars, instants, durations)
def test_adding_then_measuring_gives_the_duration_back(
    name: str, t: datetime, d: timedelta
) -> None:
    cal = CALENDARS[name]
    end = cal.add(t, d)
    assert end >= t
    assert cal.between(t, end) == d
    if d > timedelta(0):
        # the deadline is inside working time (or at the end of an interval)
        # (in UTC: aware arithmetic in a local zone is wall-clock arithmetic across DST)
        just_before = end.astimezone(UTC) - timedelta(microseconds=1)
        assert cal.between(just_before, end) == timedelta(microseconds=1)


@settings(max_examples=100, deadline=None)
@given(calendars, instants, durations, durations)
def test_add_is_monotonic_in_the_duration(
    name: str, t: datetime, d1: timedelta, d2: timedelta
) -> None:
    cal = CALENDARS[name]
    lo, hi = sorted((d1, d2))
    assert cal.add(t, lo) <= cal.add(t, hi)


@settings(max_examples=100, deadline=None)
@given(calendars, instants, instants, durations)
def test_add_is_monotonic_in_the_start(name: str, t1: datetime, t2: datetime, d: timedelta) -> None:
    cal = CALENDARS[name]
    a, b = sorted((t1, t2))
    assert cal.add(a, d) <= cal.add(b, d)


@settings(max_examples=100, deadline=None)
@given(calendars, instants, instants, instants)
def test_between_is_additive_and_bounded(
    name: str, t1: datetime, t2: datetime, t3: datetime
) -> None:
    cal = CALENDARS[name]
    a, b, c = sorted((t1, t2, t3))
    assert cal.between(a, b) + cal.between(b, c) == cal.between(a, c)
    assert timedelta(0) <= cal.between(a, b) <= b - a
    assert cal.between(b, a) == -cal.between(a, b)


@settings(max_examples=80, deadline=None)
@given(calendars, instants, durations)
def test_subtracting_undoes_adding(name: str, t: datetime, d: timedelta) -> None:
    cal = CALENDARS[name]
    start = cal.next_open(t)
    assert cal.add(cal.add(start, d), -d) <= start or d == timedelta(0)
    assert cal.between(cal.add(cal.add(start, d), -d), cal.add(start, d)) == d
