"""Which time zone a person's day is in: :func:`zone_of`.

A team works in one zone (``Team.timezone``); a person may have their own (``User.timezone``, a
rep abroad); without either, the SLA policy calendar's zone applies. The SLA engine counts
calendar-time durations of whole days and recurrences in that zone (``SlaState.timezone``), and
display and forecast periods use the same function, so "a person's day" has one meaning.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from pipeline_core._values import iana_zone
from pipeline_core.clock import require_aware
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.records import Team, User
from pipeline_core.sla.calendar import BusinessCalendar
from pipeline_core.sla.policy import Policy

__all__ = ["PeriodUnit", "period_of", "zone_name_of", "zone_of"]


def zone_name_of(
    user: User | None = None,
    team: Team | None = None,
    default: Policy | BusinessCalendar | str | None = None,
) -> str:
    """The IANA name of the zone of ``user``'s day: the user's own ``timezone``, else the
    ``team``'s, else ``default`` (a policy's calendar zone, a calendar's, or a zone name), else
    ``"UTC"``. The names were validated when the records were built."""
    if user is not None and user.timezone is not None:
        return user.timezone
    if team is not None and team.timezone is not None:
        return team.timezone
    if isinstance(default, Policy):
        return default.calendar.timezone
    if isinstance(default, BusinessCalendar):
        return default.timezone
    if default is not None:
        return default
    return "UTC"


def zone_of(
    user: User | None = None,
    team: Team | None = None,
    default: Policy | BusinessCalendar | str | None = None,
) -> ZoneInfo:
    """:func:`zone_name_of` as a :class:`~zoneinfo.ZoneInfo`.

    >>> from pipeline_core.records import Role, Team, User
    >>> team = Team(id="t1", name="East", timezone="Asia/Shanghai")
    >>> zone_of(User(id="u1", name="Lena", role=Role.AE, timezone="Europe/Berlin"), team).key
    'Europe/Berlin'
    >>> zone_of(User(id="u2", name="Wei", role=Role.AE), team).key
    'Asia/Shanghai'
    """
    return ZoneInfo(zone_name_of(user, team, default))


PeriodUnit = Literal["day", "week", "month", "quarter", "year"]
"""The calendar periods a team reports in: a local day, an ISO week (Monday first), a month, a
quarter (Jan/Apr/Jul/Oct) or a year."""

_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}


def period_of(at: datetime, unit: PeriodUnit, zone: ZoneInfo | str) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of the local ``unit`` (day, week, month, quarter, year) that holds
    ``at`` in ``zone``: both ends are local midnights, as aware datetimes with the fixed offset in
    force at each (so a period across a DST change is 23 or 25 hours longer or shorter than
    wall-clock arithmetic suggests, and a metric's ``start``/``end`` count the team's days).

    Use it for the bounds of a funnel, a win rate or a forecast in a team's zone
    (:func:`zone_of`). Raises :class:`~pipeline_core.errors.ValidationError` for a naive ``at``,
    an unknown ``unit`` or an unknown ``zone`` name.

    >>> from datetime import UTC, datetime
    >>> start, end = period_of(datetime(2025, 3, 31, 17, tzinfo=UTC), "quarter", "Asia/Shanghai")
    >>> start.isoformat(), end.isoformat()  # 01:00 on 1 April in Shanghai: the second quarter
    ('2025-04-01T00:00:00+08:00', '2025-07-01T00:00:00+08:00')
    """
    require_aware(at, "at")
    try:
        tz = zone if isinstance(zone, ZoneInfo) else iana_zone(zone)
    except ValueError:
        problem = Problem(("zone",), "unknown IANA time zone", zone, "unknown_timezone")
        raise ValidationError("period_of", [problem]) from None
    local = at.astimezone(tz).date()
    if unit == "day":
        first, after = local, local + timedelta(days=1)
    elif unit == "week":
        first = local - timedelta(days=local.weekday())
        after = first + timedelta(days=7)
    elif unit in _MONTHS:
        step = _MONTHS[unit]
        first = local.replace(month=(local.month - 1) // step * step + 1, day=1)
        after = first + relativedelta(months=step)
    else:
        message = "unknown period unit; expected day, week, month, quarter or year"
        raise ValidationError("period_of", [Problem(("unit",), message, unit, "unknown_unit")])

    def midnight(day: date) -> datetime:
        wall = datetime.combine(day, time(0), tz)
        offset = wall.utcoffset()
        assert offset is not None
        return wall.replace(tzinfo=timezone(offset))

    return midnight(first), midnight(after)
