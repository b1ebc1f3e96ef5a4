"""A team's reporting periods in its own zone: sla.period_of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ValidationError
from pipeline_core.sla import SlaState, period_of

BERLIN = ZoneInfo("Europe/Berlin")


def test_hand_worked_periods() -> None:
    # 2025-03-31 17:00 UTC is 01:00 on Tue 1 April in Shanghai (+08:00): April's day, week, month,
    # the second quarter; in UTC it is still 31 March, the first quarter.
    at = datetime(2025, 3, 31, 17, tzinfo=UTC)
    sh = "+08:00"
    assert [s.isoformat() for s in period_of(at, "day", "Asia/Shanghai")] == [
        f"2025-04-01T00:00:00{sh}",
        f"2025-04-02T00:00:00{sh}",
    ]
    # ISO week: Monday 31 March to Monday 7 April
    assert [s.isoformat() for s in period_of(at, "week", "Asia/Shanghai")] == [
        f"2025-03-31T00:00:00{sh}",
        f"2025-04-07T00:00:00{sh}",
    ]
    assert period_of(at, "quarter", "UTC") == (
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 4, 1, tzinfo=UTC),
    )
    # Berlin's March holds the change to summer time (30 March): 31 days less one hour
    start, end = period_of(datetime(2025, 3, 15, tzinfo=UTC), "month", BERLIN)
    assert (start.utcoffset(), end.utcoffset()) == (timedelta(hours=1), timedelta(hours=2))
    assert end - start == timedelta(days=31) - timedelta(hours=1)
    start, end = period_of(datetime(2024, 2, 10, tzinfo=UTC), "year", "Asia/Shanghai")
    assert (start.year, start.month, end.year, end.month) == (2024, 1, 2025, 1)


def test_bad_input() -> None:
    with pytest.raises(ValidationError):
        period_of(datetime(2025, 1, 1), "day", "UTC")  # naive
    with pytest.raises(ValidationError, match="unknown period unit"):
        period_of(datetime(2025, 1, 1, tzinfo=UTC), "fortnight", "UTC")  # type: ignore[arg-type]


@given(
    at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
    ),
    unit=st.sampled_from(["day", "week", "month", "quarter", "year"]),
    zone=st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"]),
)
def test_a_period_holds_its_instant_and_starts_at_local_midnight(
    at: datetime, unit: str, zone: str
) -> None:
    start, end = period_of(at, unit, zone)  # type: ignore[arg-type]
    tz = ZoneInfo(zone)
    assert start <= at < end
    for bound in (start, end):
        local = bound.astimezone(tz)
        assert (local.hour, local.minute) == (0, 0)
        assert bound.utcoffset() == local.utcoffset()  # the offset in force at that instant
    # the next period starts where this one ends
    assert period_of(end, unit, zone)[0] == end  # type: ignore[arg-type]
    s, e = start.astimezone(tz).date(), end.astimezone(tz).date()
    if unit == "day":
        assert (e - s).days == 1
    elif unit == "week":
        assert (e - s).days == 7 and s.weekday() == 0
    else:
        months = {"month": 1, "quarter": 3, "year": 12}[unit]
        assert s.day == e.day == 1 and (e.year * 12 + e.month) - (s.year * 12 + s.month) == months
        assert (s.month - 1) % months == 0


def test_unknown_zone_is_a_validation_error_naming_the_zone() -> None:
    with pytest.raises(ValidationError) as info:
        period_of(datetime(2025, 1, 1, tzinfo=UTC), "day", "Mars/Olympus")
    assert info.value.fields == ("zone",)
    assert info.value.problems[0].value == "Mars/Olympus"


def test_machine_dependent_zone_names_are_refused_as_in_records() -> None:
    # "localtime" means a different zone on every machine: records refuse it (iana_zone), so do
    # the SLA state and period_of
    with pytest.raises(ValidationError, match="zone"):
        period_of(datetime(2025, 1, 1, tzinfo=UTC), "day", "localtime")
    with pytest.raises(ValidationError, match="timezone"):
        SlaState(
            subject_id="o1",
            kind="opportunity",
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
            owner_id="u1",
            timezone="localtime",
        )
