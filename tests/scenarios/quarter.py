"""A small team's quarter (Q1 2025), written by hand from ``domain.md``, for scenario tests.

The East team sells charging equipment in Shanghai: manager Max; reps Amy and Bo (Shanghai, Max's
team); Ken, a rep in New York (``User.timezone = "America/New_York"``, a DST zone: clocks go
forward on Sunday 9 March 2025) with no manager of his own, so his escalations go to the policy's
fallback recipient, the sales director. The business calendar is the default one with mainland
China's holidays: Mon-Fri 09:00-12:00 and 13:30-18:00 Asia/Shanghai; the Spring Festival
2025-01-28 .. 02-04 is off; Sunday 26 January and Saturday 8 February are make-up working days.

The policy is the default policy's deadlines for the team (first touch, first call, needs
analysis, grade A contact, after-sale survey; first call and needs analysis pause while the team
waits on the customer or on a vendor) with the ``small_team`` pipeline's SOP limits.

Six leads (with their BANT facts; L6's budget is in US dollars, L5's timeline changes with its
regrade) and six deals (accounts Hu Charging ``acc-hu``: D1, D6; Ocean ``acc-ocean``: D2; Lin
``acc-lin``: D3, D4; D2 and D5 priced in USD, converted with :data:`RATES_DATA`), their activities,
moves and pauses, are listed in :data:`TIMELINE`
(:data:`PAUSES` for the waits). :func:`replay` plays them day by day into a store through the
public API (records in, records read back, ``state_from_records``, ``Agenda.put`` /
``Agenda.advance`` at the end of every Shanghai day) and returns every item reported.
:data:`EXPECTED_ITEMS` is worked out by hand from the rules (the arithmetic is in the comments);
:data:`EXPECTED_STATUS` the deals' outcomes. Later work adds its own expectations (segments,
grades, funnel figures: ``test_quarter_figures.py``) to the same quarter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from pipeline_core import facts
from pipeline_core.ids import SequentialIds
from pipeline_core.records import (
    Activity,
    ActivityKind,
    Lead,
    Money,
    Opportunity,
    Outcome,
    Role,
    Team,
    User,
)
from pipeline_core.sla import (
    Agenda,
    Item,
    Pause,
    Policy,
    SlaEngine,
    SlaState,
    default_calendar,
    default_policy,
    state_from_records,
    zone_of,
)
from pipeline_core.stages import Pipeline, templates

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
FIRST_DAY = datetime(2024, 11, 4, tzinfo=SH)  # one deal's history starts before the quarter
LAST_DAY = datetime(2025, 3, 31, tzinfo=SH)
PIPELINE: Pipeline = templates.get("small_team")
WAITS = frozenset({"waiting_on_customer", "waiting_on_vendor"})


def sh(m: int, d: int, h: int = 0, mi: int = 0, y: int = 2025) -> datetime:
    """An instant on the Shanghai wall clock."""
    return datetime(y, m, d, h, mi, tzinfo=SH)


def ny(m: int, d: int, h: int = 0, mi: int = 0, y: int = 2025) -> datetime:
    """An instant on the New York wall clock (EST until 9 March 2025, EDT after)."""
    return datetime(y, m, d, h, mi, tzinfo=NY)


# --------------------------------------------------------------------------- the team

TEAM = Team(id="east", name="East team", manager_id="max", timezone="Asia/Shanghai")
USERS = (
    User(id="max", name="Max", role=Role.MANAGER, team_id="east"),
    User(id="amy", name="Amy", role=Role.AE, team_id="east", manager_id="max"),
    User(id="bo", name="Bo", role=Role.AE, team_id="east", manager_id="max"),
    User(id="ken", name="Ken", role=Role.AE, team_id="east", timezone="America/New_York"),
)
DIRECTOR = "director"


def team_policy() -> Policy:
    """The team's policy (see the module doc)."""
    base = default_policy(default_calendar(country="CN"))
    keep = {
        "lead.first_touch",  # 3 working hours; remind 1 h before, breach, escalate 2 h after
        "opportunity.first_call",  # 48 h rolled; remind 4 h before, breach, escalate 1 day after
        "opportunity.needs_analysis",  # 7 days rolled; remind 1 day before, escalate 2 days after
        "grade.A.contact",  # 1 day rolled from the grade change; remind 4 h before, escalate 1 day
        "after_sale.survey",  # every 3 months after the win
    }
    rules = tuple(
        attrs.evolve(r, pause_on=WAITS) if r.pause_on else r for r in base.rules if r.id in keep
    )
    return Policy(
        id="east",
        name="East team follow-up",
        rules=rules,
        calendar=base.calendar,
        fallback_recipient=DIRECTOR,
    )


def team_engine() -> SlaEngine:
    """The team's policy with the small_team pipeline's SOP limits."""
    return SlaEngine(team_policy(), pipeline=PIPELINE)


# --------------------------------------------------------------------------- the records


def _lead(id: str, owner: str, at: datetime, **kw: Any) -> Lead:
    return Lead(id=id, created_at=at, source="website", owner_id=owner, company=f"{id} Co.", **kw)


DEAL_AMOUNT = Money.of("180000", "CNY")  # every deal's, unless stated


def _deal(id: str, owner: str, at: datetime, amount: Money = DEAL_AMOUNT, **kw: Any) -> Opportunity:
    return Opportunity(
        id=id, name=f"{id} chargers", created_at=at, owner_id=owner, stage="first_contact",
        stage_entered_at=at, pipeline="small_team", team_id="east", needs="DC charging piles",
        expected_amount=amount, **kw,
    )  # fmt: skip


def cny(amount: str) -> Money:
    """An amount in CNY."""
    return Money.of(amount, "CNY")


def usd(amount: str) -> Money:
    """An amount in USD."""
    return Money.of(amount, "USD")


# The team's dated USD/CNY table (from that date on, 1 USD = rate CNY; ``pipeline_core.money``).
RATES_DATA: dict[str, Any] = {"rates": [
    {"base": "USD", "quote": "CNY", "effective": "2024-11-01", "rate": "7.20"},
    {"base": "USD", "quote": "CNY", "effective": "2025-01-01", "rate": "7.10"},
    {"base": "USD", "quote": "CNY", "effective": "2025-03-08", "rate": "7.25"},
]}  # fmt: skip


_n = 0


def _act(
    kind: ActivityKind, at: datetime, owner: str, subject: str, **kw: Any
) -> tuple[datetime, str, Activity]:
    global _n
    _n += 1
    link = {"lead_id": subject} if subject.startswith("L") else {"opportunity_id": subject}
    return (at, "activity", Activity(id=f"act-{_n:03d}", kind=kind, at=at, owner_id=owner,
                                     **link, **kw))  # fmt: skip


CALL, EMAIL, VISIT, MEETING = (
    ActivityKind.CALL,
    ActivityKind.EMAIL,
    ActivityKind.VISIT,
    ActivityKind.MEETING,
)
NEEDS = frozenset({"action:needs_analysis"})
SURVEY = frozenset({"action:survey"})

Event = tuple[datetime, str, Any]

# fmt: off
TIMELINE: list[Event] = [
    # L1 Amy: a lead on Thu 2 Jan 10:00, called at 11:00 — in time, nothing fires
    (sh(1, 2, 10), "lead", _lead("L1", "amy", sh(1, 2, 10), budget=cny("80000"),
                                authority="influencer", need="strong", intent="medium",
                                timeline="1_3_months")),
    _act(CALL, sh(1, 2, 11), "amy", "L1", replied=True),
    # L2 Amy: Fri 24 Jan 17:00, touched on the make-up Sunday 26 Jan at 10:30
    (sh(1, 24, 17), "lead", _lead("L2", "amy", sh(1, 24, 17), authority="user", need="medium",
                                 intent="low", timeline="over_6_months")),  # budget unknown
    _act(CALL, sh(1, 26, 10, 30), "amy", "L2"),
    # L3 Bo: Mon 27 Jan 16:00, the last working day before the festival; touched Wed 5 Feb 09:30
    (sh(1, 27, 16), "lead", _lead("L3", "bo", sh(1, 27, 16), budget=cny("30000.00"),
                                 authority="influencer", need="medium", intent="medium",
                                 timeline="3_6_months")),
    _act(CALL, sh(2, 5, 9, 30), "bo", "L3"),
    # L4 Bo: on the make-up Saturday 8 Feb 10:00, touched only on Mon 10 Feb 15:00
    (sh(2, 8, 10), "lead", _lead("L4", "bo", sh(2, 8, 10), budget=cny("29999.99"),
                                authority="none", need="weak", timeline="no_plan")),
    _act(CALL, sh(2, 10, 15), "bo", "L4"),
    # L5 Amy: Mon 3 Mar 09:15, emailed 09:45; regraded to A on Tue 4 Mar 16:00 (the customer now
    # plans to buy within a month); called Wed 11:00
    (sh(3, 3, 9, 15), "lead", _lead("L5", "amy", sh(3, 3, 9, 15), budget=cny("500000"),
                                   authority="influencer", need="strong", intent="medium",
                                   timeline="3_6_months")),
    _act(EMAIL, sh(3, 3, 9, 45), "amy", "L5"),
    (sh(3, 4, 16), "grade", ("L5", "A", {"timeline": "within_1_month"})),
    _act(CALL, sh(3, 5, 11), "amy", "L5", replied=True),
    # L6 Ken: an A lead on Fri 7 Mar 09:00 New York (22:00 Shanghai); Ken calls Mon 10 Mar 09:00
    # New York time (EDT since Sunday: 21:00 Shanghai). Its budget is in US dollars.
    (ny(3, 7, 9), "lead", _lead("L6", "ken", ny(3, 7, 9), custom={"grade": "A"},
                                graded_at=ny(3, 7, 9), budget=usd("14000"),
                                authority="decision_maker", need="strong", intent="high",
                                timeline="1_3_months")),
    _act(CALL, ny(3, 10, 9), "ken", "L6", replied=True),
    # D1 Amy: the happy path, won Fri 24 Jan 15:00
    (sh(1, 6, 10), "deal", _deal("D1", "amy", sh(1, 6, 10), account_id="acc-hu")),
    _act(CALL, sh(1, 7, 10), "amy", "D1", replied=True),
    _act(MEETING, sh(1, 10, 15), "amy", "D1", replied=True, tags=NEEDS),
    (sh(1, 10, 16), "move", ("D1", "needs_confirmed")),
    _act(VISIT, sh(1, 15, 10), "amy", "D1", replied=True),
    (sh(1, 16, 10), "move", ("D1", "proposal_quote")),
    _act(EMAIL, sh(1, 17, 11), "amy", "D1"),
    (sh(1, 20, 10), "move", ("D1", "contract_negotiation")),
    _act(CALL, sh(1, 21, 14), "amy", "D1", replied=True),
    (sh(1, 24, 15), "move", ("D1", "won")),
    # D2 Bo: November 2024, won Fri 29 Nov 10:00; the survey comes in February; priced in USD
    (sh(11, 4, 10, y=2024), "deal", _deal("D2", "bo", sh(11, 4, 10, y=2024), usd("25000"),
                                          account_id="acc-ocean")),
    _act(CALL, sh(11, 4, 15, y=2024), "bo", "D2", replied=True),
    _act(MEETING, sh(11, 6, 11, y=2024), "bo", "D2", replied=True, tags=NEEDS),
    (sh(11, 7, 10, y=2024), "move", ("D2", "needs_confirmed")),
    _act(VISIT, sh(11, 8, 10, y=2024), "bo", "D2", outcome=Outcome.POSITIVE),
    (sh(11, 11, 10, y=2024), "move", ("D2", "proposal_quote")),
    _act(EMAIL, sh(11, 12, 10, y=2024), "bo", "D2"),
    (sh(11, 18, 10, y=2024), "move", ("D2", "contract_negotiation")),
    _act(CALL, sh(11, 19, 10, y=2024), "bo", "D2", replied=True),
    (sh(11, 29, 10, y=2024), "move", ("D2", "won")),
    _act(CALL, sh(3, 3, 10), "bo", "D2", replied=True, tags=SURVEY),
    # D3 Amy: Wed 12 Feb 10:00, a stale won_reason; called late (Mon 17 Feb), lost Mon 3 Mar
    (sh(2, 12, 10), "deal", _deal("D3", "amy", sh(2, 12, 10), won_reason="copied from D1",
                                   account_id="acc-lin")),
    _act(CALL, sh(2, 17, 11), "amy", "D3", replied=True),
    _act(MEETING, sh(2, 18, 15), "amy", "D3", replied=True, tags=NEEDS),
    (sh(2, 19, 11), "move", ("D3", "needs_confirmed")),
    _act(VISIT, sh(2, 24, 10), "amy", "D3", replied=True),
    (sh(3, 3, 10), "lose", ("D3", "budget cut")),
    # D4 Bo: Mon 3 Mar 10:00; waits on the customer and on a vendor (overlapping); call Thu 16:00
    (sh(3, 3, 10), "deal", _deal("D4", "bo", sh(3, 3, 10), account_id="acc-lin")),
    _act(CALL, sh(3, 6, 16), "bo", "D4", replied=True),
    _act(MEETING, sh(3, 10, 11), "bo", "D4", replied=True, tags=NEEDS),
    (sh(3, 11, 10), "move", ("D4", "needs_confirmed")),
    _act(VISIT, sh(3, 14, 10), "bo", "D4", replied=True),
    # D5 Ken (New York): Mon 3 Mar 09:00 EST; proposal Fri 7 Mar 10:00 EST; chases only Wed 12 Mar;
    # priced in USD, no account
    (ny(3, 3, 9), "deal", _deal("D5", "ken", ny(3, 3, 9), usd("25000"))),
    _act(CALL, ny(3, 4, 9), "ken", "D5", replied=True),
    _act(MEETING, ny(3, 5, 10), "ken", "D5", replied=True, tags=NEEDS),
    (ny(3, 5, 11), "move", ("D5", "needs_confirmed")),
    _act(VISIT, ny(3, 6, 10), "ken", "D5", replied=True),
    (ny(3, 7, 10), "move", ("D5", "proposal_quote")),
    _act(EMAIL, ny(3, 12, 9), "ken", "D5"),
    # D6 Amy: Mon 13 Jan 10:00; in needs_confirmed from Thu 16 Jan a visit nobody answered
    # (Fri 17 Jan), the revisit that reached the customer only on Mon 27 Jan
    (sh(1, 13, 10), "deal", _deal("D6", "amy", sh(1, 13, 10), account_id="acc-hu")),
    _act(CALL, sh(1, 13, 14), "amy", "D6", replied=True),
    _act(MEETING, sh(1, 15, 10), "amy", "D6", replied=True, tags=NEEDS),
    (sh(1, 16, 10), "move", ("D6", "needs_confirmed")),
    _act(VISIT, sh(1, 17, 10), "amy", "D6"),
    _act(CALL, sh(1, 27, 10), "amy", "D6", replied=True),
]
# fmt: on
TIMELINE.sort(key=lambda e: e[0])

PAUSES: list[tuple[str, str, datetime, datetime]] = [
    # D4: the customer asks to be called back after their board meeting, Mon 11:00 - Tue 11:00;
    # a vendor quote is awaited Tue 09:00 - 15:00. Union: Mon 11:00 - Tue 15:00 = 28 h.
    ("D4", "waiting_on_customer", sh(3, 3, 11), sh(3, 4, 11)),
    ("D4", "waiting_on_vendor", sh(3, 4, 9), sh(3, 4, 15)),
]

# --------------------------------------------------------------------------- what must happen


@dataclass(frozen=True, order=True)
class Expected:
    """One item: when (UTC), for which subject and rule, which kind, for whom."""

    at: datetime
    subject: str
    rule: str
    kind: str
    recipient: str
    recipient_id: str | None


def _e(
    at: datetime, subject: str, rule: str, kind: str, to: str = "owner", who: str = ""
) -> Expected:
    return Expected(at.astimezone(UTC), subject, rule, kind, to, who)


FT, FC, NA, GA = (
    "lead.first_touch",
    "opportunity.first_call",
    "opportunity.needs_analysis",
    "grade.A.contact",
)
# fmt: off
EXPECTED_ITEMS: list[Expected] = sorted([
    # L1: due 10-12 + 13:30-14:30 = 14:30; touched 11:00, before the 13:30 reminder: nothing.
    # L2: Fri 17-18 (1 working hour), then the make-up Sunday 09-11 -> due Sun 26 Jan 11:00;
    # 1 working hour before = 10:00; the 10:30 touch stops the breach.
    _e(sh(1, 26, 10), "L2", FT, "reminder", who="amy"),
    # L3: Mon 16-18 (2 h), festival 28 Jan - 4 Feb off (1-2 Feb a weekend) -> Wed 5 Feb 09-10:
    # due 10:00; 1 working hour before is 09:00 that morning (not Mon 27 Jan 18:00).
    _e(sh(2, 5, 9), "L3", FT, "reminder", who="bo"),
    # L4: make-up Saturday 10-12 + 13:30-14:30 -> due 14:30; 1 h before: 13:30 (the lunch break
    # 12:00-13:30 holds no working time); escalation 2 working hours after: 16:30, to Max.
    _e(sh(2, 8, 13, 30), "L4", FT, "reminder", who="bo"),
    _e(sh(2, 8, 14, 30), "L4", FT, "breach", who="bo"),
    _e(sh(2, 8, 16, 30), "L4", FT, "escalation", "manager", "max"),
    # L5: graded A Tue 4 Mar 16:00 -> contact due Wed 16:00; reminder 4 h before = Wed 12:00; the
    # Wed 11:00 call comes first: nothing. (From creation it would have been due Tue 09:15.)
    # L6: created Fri 22:00 Shanghai: the business clock starts Mon 10 Mar 09:00 -> due 12:00;
    # reminder 11:00; escalation 2 working hours after 12:00 = 13:30-15:30 -> 15:30, Ken has no
    # manager: the director. Ken's call comes at Mon 21:00 Shanghai (09:00 EDT).
    _e(sh(3, 10, 11), "L6", FT, "reminder", who="ken"),
    _e(sh(3, 10, 12), "L6", FT, "breach", who="ken"),
    _e(sh(3, 10, 15, 30), "L6", FT, "escalation", "fallback", DIRECTOR),
    # L6 grade A: Fri 7 Mar 09:00 EST + 1 of Ken's days = Sat 8 Mar 09:00 EST = Sat 22:00
    # Shanghai, rolled to Mon 10 Mar 09:00. Reminder 4 h before = Mon 05:00 -> back to the last
    # close, Fri 18:00, which is before the clock started (Fri 22:00): it fires at the clock's
    # first working instant, Mon 09:00. Escalation a day after the deadline (Tue 09:00) comes
    # after Ken's call.
    _e(sh(3, 10, 9), "L6", GA, "reminder", who="ken"),
    _e(sh(3, 10, 9), "L6", GA, "breach", who="ken"),
    # D1: every obligation met in time: nothing. D2: won Fri 29 Nov 2024 10:00; + 3 months =
    # 29 Feb, which 2025 lacks: clamped to Fri 28 Feb 10:00. The survey call of 3 Mar comes later.
    _e(sh(2, 28, 10), "D2", "after_sale.survey", "reminder", who="bo"),
    # D3 (first call, one obligation with the stage's): Wed 12 Feb 10:00 + 48 h = Fri 14 Feb
    # 10:00; reminder 4 h before = Fri 06:00 -> back to Thu 18:00; escalation a day after =
    # Sat 15 Feb 10:00 -> forward to Mon 17 Feb 09:00, before the 11:00 call.
    _e(sh(2, 13, 18), "D3", FC, "reminder", who="amy"),
    _e(sh(2, 14, 10), "D3", FC, "breach", who="amy"),
    _e(sh(2, 17, 9), "D3", FC, "escalation", "manager", "max"),
    # D3 needs analysis: + 7 days = Wed 19 Feb 10:00; reminder a day before = Tue 18 Feb 10:00;
    # done Tue 15:00.
    _e(sh(2, 18, 10), "D3", NA, "reminder", who="amy"),
    # D4: 48 h -> Wed 5 Mar 10:00, + the 28 h union of the waits = Thu 6 Mar 14:00 (the sum,
    # 24 + 6 = 30 h, would give 16:00); reminder 4 h before = Thu 10:00; the call at 16:00 stops
    # the escalation. Needs analysis: Mon 10 Mar 10:00 + 28 h = Tue 11 Mar 14:00, done Mon 11:00.
    _e(sh(3, 6, 10), "D4", FC, "reminder", who="bo"),
    _e(sh(3, 6, 14), "D4", FC, "breach", who="bo"),
    # D5: in proposal_quote from Fri 7 Mar 10:00 EST; chase within P3D = 3 of Ken's days = Mon
    # 10 Mar 10:00 EDT (71 h: Sunday had 23) = Mon 22:00 Shanghai, rolled to Tue 11 Mar 09:00
    # Shanghai (Mon 21:00 EDT); reminder a quarter (18 h) before = Mon 10 Mar 15:00 Shanghai (in
    # working time); escalation half the limit (36 h) after = Wed 12 Mar 21:00 Shanghai -> Thu
    # 09:00, but Ken's chase at Wed 09:00 EDT (21:00 Shanghai) comes first: no escalation.
    _e(sh(3, 10, 15), "D5", "sop.proposal_quote.chase_reply", "reminder", who="ken"),
    _e(sh(3, 11, 9), "D5", "sop.proposal_quote.chase_reply", "breach", who="ken"),
    # D6: needs_confirmed from Thu 16 Jan 10:00, revisit within P7D (calendar time, rolled) = Thu
    # 23 Jan 10:00; reminder a quarter (42 h) before = Tue 21 Jan 16:00; escalation half (84 h)
    # after = Sun 26 Jan 22:00 (the make-up Sunday closed at 18:00) -> Mon 27 Jan 09:00, to Max,
    # before the 10:00 call. The unanswered visit of 17 Jan is not a revisit.
    _e(sh(1, 21, 16), "D6", "sop.needs_confirmed.weekly_revisit", "reminder", who="amy"),
    _e(sh(1, 23, 10), "D6", "sop.needs_confirmed.weekly_revisit", "breach", who="amy"),
    _e(sh(1, 27, 9), "D6", "sop.needs_confirmed.weekly_revisit", "escalation", "manager", "max"),
])
# fmt: on

EXPECTED_STATUS: dict[str, tuple[str, datetime | None]] = {
    "D1": ("won", sh(1, 24, 15)),
    "D2": ("won", sh(11, 29, 10, y=2024)),
    "D3": ("lost", sh(3, 3, 10)),  # its won_reason is a stale note
    "D4": ("open", None),
    "D5": ("open", None),
    "D6": ("open", None),
}

# --------------------------------------------------------------------------- the replay


@dataclass
class Replay:
    """What a replay reported: every item (in the order reported) and the last states."""

    items: list[Item] = field(default_factory=list)
    states: dict[str, SlaState] = field(default_factory=dict)

    def expected_form(self) -> list[Expected]:
        """The items as :class:`Expected` rows, sorted."""
        return sorted(
            Expected(i.at, i.subject_id, i.rule, i.kind, i.recipient, i.recipient_id)
            for i in self.items
        )


def _days() -> Iterator[datetime]:
    day = FIRST_DAY
    while day <= LAST_DAY:
        yield day
        day += timedelta(days=1)  # Shanghai keeps one UTC offset


def _pauses(subject: str, now: datetime) -> tuple[Pause, ...]:
    return tuple(
        Pause(reason, start, end if end <= now else None)
        for s, reason, start, end in PAUSES
        if s == subject and start <= now
    )


def replay(store: Any, *, on_day: Callable[[datetime, Any], None] | None = None) -> Replay:
    """Play :data:`TIMELINE` into ``store`` (empty) day by day and collect the agenda's items.

    Each Shanghai day: the day's records are written (added, saved, appended), every subject is
    read back from the store with its activities and stage events, summarised with
    ``state_from_records`` (the owner's zone from :func:`zone_of`, the manager from the user) and
    put into the :class:`Agenda`, which advances to the end of the day. ``on_day(end, store)`` is
    called after each day (for later capabilities' checks).
    """
    engine = team_engine()
    policy = engine.policy
    store.teams.add(TEAM)
    for user in USERS:
        store.users.add(user)
    users = {u.id: u for u in USERS}
    ids = SequentialIds()
    agenda = Agenda(engine)
    out = Replay()
    pending = list(TIMELINE)
    subjects: dict[str, str] = {}
    for day in _days():
        end = day + timedelta(days=1) - timedelta(microseconds=1)
        while pending and pending[0][0] <= end:
            at, what, payload = pending.pop(0)
            _apply(store, what, payload, at, ids, subjects)
        for subject, kind in subjects.items():
            state = _state(store, subject, kind, users, policy)
            state = state.evolve(pauses=_pauses(subject, end))
            agenda.put(state)
            out.states[subject] = state
        out.items.extend(agenda.advance(end))
        if on_day is not None:
            on_day(end, store)
    return out


def _apply(
    store: Any, what: str, payload: Any, at: datetime, ids: SequentialIds, subjects: dict[str, str]
) -> None:
    if what == "lead":
        store.leads.add(payload)
        subjects[payload.id] = "lead"
    elif what == "deal":
        store.opportunities.add(payload)
        subjects[payload.id] = "deal"
    elif what == "activity":
        store.activities.append(payload)
    elif what == "grade":
        lead_id, grade, *changes = payload  # optionally the facts that changed the grade
        lead = store.leads.get(lead_id)
        update = changes[0] if changes else {}
        store.leads.save(
            lead.evolve(custom={**lead.custom, "grade": grade}, graded_at=at, **update)
        )
    elif what in ("move", "lose"):
        deal_id, arg = payload
        deal = store.opportunities.get(deal_id)
        if what == "lose":
            deal = deal.evolve(lost_reason=arg)
            store.opportunities.save(deal)
        deal, event = PIPELINE.move(deal, "lost" if what == "lose" else arg, at=at,
                                    by=deal.owner_id, ids=ids)  # fmt: skip
        store.opportunities.save(deal)
        store.stage_events.append(event)
    else:  # pragma: no cover - a typo in the timeline
        raise AssertionError(what)


def _state(store: Any, subject: str, kind: str, users: dict[str, User], policy: Policy) -> SlaState:
    record = store.leads.get(subject) if kind == "lead" else store.opportunities.get(subject)
    owner = users[record.owner_id]
    common: dict[str, Any] = {
        "manager_id": owner.manager_id,
        "timezone": zone_of(owner, TEAM, policy).key,
        "pause_tags": (),
    }
    acts = list(store.activities.for_subject(subject))
    if kind == "lead":
        return state_from_records(record, acts, grade=record.custom.get("grade"), **common)
    events = list(store.stage_events.for_opportunity(subject))
    return state_from_records(record, acts, pipeline=PIPELINE, events=events, **common)


def deal_outcomes(store: Any) -> dict[str, tuple[str, datetime | None]]:
    """Each deal's status and close instant, from the store's stage history (``facts``)."""
    out: dict[str, tuple[str, datetime | None]] = {}
    by_deal: defaultdict[str, list[Any]] = defaultdict(list)
    for event in store.stage_events.all():
        by_deal[event.opportunity_id].append(event)
    for deal in store.opportunities.all():
        out[deal.id] = (
            facts.deal_status(deal, PIPELINE),
            facts.close_instant(by_deal[deal.id], PIPELINE),
        )
    return out
