"""Which time zone a person's day is in: :func:`zone_of`.

A team works in one zone (``Team.timezone``); a person may have their own (``User.timezone``, a
rep abroad); without either, the SLA policy calendar's zone applies. The SLA engine counts
calendar-time durations of whole days and recurrences in that zone (``SlaState.timezone``), and
display and forecast periods use the same function, so "a person's day" has one meaning.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pipeline_core.records import Team, User
from pipeline_core.sla.calendar import BusinessCalendar
from pipeline_core.sla.policy import Policy

__all__ = ["zone_name_of", "zone_of"]


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
