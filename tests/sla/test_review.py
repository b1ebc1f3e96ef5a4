"""A reviewer's hand-worked books: each test is a finding of the review of the SLA work.

Every expected instant is worked out by hand from ``domain.md`` and ``docs/sla.md`` (the
arithmetic is in the comments); the engine, the column-wise batch and the agenda must all give it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core.sla import (
    Agenda,
    Pause,
    SlaEngine,
    SlaState,
    default_calendar,
    default_policy,
)
from pipeline_core.stages import templates

SH = ZoneInfo("Asia/Shanghai")


def sh(m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """An instant on the Shanghai wall clock in 2025."""
    return datetime(2025, m, d, h, mi, tzinfo=SH)


def _engine(*, alone: bool = False) -> SlaEngine:
    """The default policy with the small_team SOP limits; ``alone``: without the policy's revisit
    and reply rules, so that the stage's weekly revisit and chase stand alone (with those rules
    they merge into the policy's obligation: tests/sla/test_review_followup.py)."""
    policy = default_policy(default_calendar(country="CN"))
    if alone:
        policy = attrs.evolve(
            policy,
            rules=tuple(r for r in policy.rules if r.id not in ("opportunity.revisit", "reply.3d")),
        )
    return SlaEngine(policy, pipeline=templates.get("small_team"))


def _three_paths(
    engine: SlaEngine, state: SlaState, now: datetime, rule: str
) -> list[tuple[str, datetime, str | None]]:
    """The items of ``rule`` by ``now`` as (kind, Shanghai instant, recipient id), after checking
    that the engine, the batch and an agenda advanced hour by hour all give the same items."""
    one = sorted(i.id for i in engine.evaluate(state, now))
    batch = sorted(i.id for i in engine.evaluate_batch([state], now))
    agenda = Agenda(engine)
    agenda.put(state)
    seen = []
    t = state.created_at
    while t < now:
        seen += agenda.advance(t)
        t += timedelta(hours=1)
    seen += agenda.advance(now)
    assert one == batch == sorted(i.id for i in seen)
    return sorted(
        ((i.kind, i.at.astimezone(SH), i.recipient_id) for i in engine.evaluate(state, now)
         if i.rule == rule),
        key=lambda x: x[1],
    )  # fmt: skip


# -- finding 1: a stage SOP limit of days fired on a Sunday and at 22:00 ------------------------


def test_a_weekly_revisit_stage_limit_fires_in_working_time() -> None:
    # needs_confirmed has "weekly revisit within P7D" (calendar time). Entered Tue 4 Mar 10:00:
    # deadline Tue 11 Mar 10:00 (a working instant). Reminder a quarter of the limit (42 h)
    # before = Sun 9 Mar 16:00, a Sunday -> back to the last close, Fri 7 Mar 18:00. Escalation
    # half the limit (84 h) after = Fri 14 Mar 22:00 -> forward to the next opening, Mon 17 Mar
    # 09:00 ("nothing is due on a Sunday", docs/sla.md §2; day-scale rules roll).
    deal = SlaState(
        subject_id="opp-1", kind="opportunity", created_at=sh(3, 3, 10), stage="needs_confirmed",
        stage_entered_at=sh(3, 4, 10), first_call_at=sh(3, 3, 11), last_contact_at=sh(3, 3, 11),
        actions={"needs_analysis": sh(3, 4, 9)}, owner_id="amy", manager_id="max",
    )  # fmt: skip
    got = _three_paths(_engine(alone=True), deal, sh(3, 20), "sop.needs_confirmed.weekly_revisit")
    assert got == [
        ("reminder", sh(3, 7, 18), "amy"),
        ("breach", sh(3, 11, 10), "amy"),
        ("escalation", sh(3, 17, 9), "max"),
    ]


def test_a_chase_reply_stage_limit_rolls_off_the_weekend() -> None:
    # proposal_quote has "follow up if no reply within P3D". Entered Thu 6 Mar 16:00: + 3 days =
    # Sun 9 Mar 16:00 -> rolled to Mon 10 Mar 09:00. Reminder 18 h (a quarter) before Mon 09:00 =
    # Sun 15:00 -> back to Fri 7 Mar 18:00. Escalation 36 h after = Tue 11 Mar 21:00 -> Wed 12
    # Mar 09:00.
    deal = SlaState(
        subject_id="opp-2", kind="opportunity", created_at=sh(3, 3, 10), stage="proposal_quote",
        stage_entered_at=sh(3, 6, 16), first_call_at=sh(3, 3, 11), last_contact_at=sh(3, 3, 11),
        actions={"needs_analysis": sh(3, 4, 9)}, owner_id="amy", manager_id="max",
    )  # fmt: skip
    got = _three_paths(_engine(alone=True), deal, sh(3, 20), "sop.proposal_quote.chase_reply")
    assert got == [
        ("reminder", sh(3, 7, 18), "amy"),
        ("breach", sh(3, 10, 9), "amy"),
        ("escalation", sh(3, 12, 9), "max"),
    ]


@settings(max_examples=60, deadline=None)
@given(
    stage=st.sampled_from(["needs_confirmed", "proposal_quote", "contract_negotiation"]),
    minutes=st.integers(0, 60 * 24 * 120),
)
def test_every_stage_limit_item_lands_in_working_time_or_at_a_close(
    stage: str, minutes: int
) -> None:
    # Property: a stage SOP limit of days fires only in working time, or at the close of a
    # working interval (a reminder rolled back to Friday 18:00), whenever the stage is entered
    # (any minute of 2025's first four months, the Spring Festival included).
    engine = _engine()
    cal = engine.calendar
    entered = sh(1, 1) + timedelta(minutes=minutes)
    deal = SlaState(
        subject_id="opp-p", kind="opportunity", created_at=entered, stage=stage,
        stage_entered_at=entered, owner_id="amy", manager_id="max",
    )  # fmt: skip
    for item in engine.evaluate(deal, entered + timedelta(days=40)):
        if not item.rule.startswith("sop."):
            continue
        at = item.at_us
        assert cal.prev_close_us(at) == at, (item.rule, item.step, item.at.astimezone(SH))


# -- finding 2: a pause in the weekend grace of a rolled deadline did not stop the clock --------


def _waiting_deal(*pauses: Pause) -> SlaState:
    # created Thu 6 Mar 10:00; needs analysis done and a contact logged, so that only the first
    # call is open among the deadline rules that pause
    return SlaState(
        subject_id="opp-3", kind="opportunity", created_at=sh(3, 6, 10), owner_id="amy",
        manager_id="max", actions={"needs_analysis": sh(3, 6, 11)}, last_contact_at=sh(3, 6, 11),
        pauses=pauses,
    )  # fmt: skip


def test_a_pause_open_at_a_rolled_deadline_stops_the_clock() -> None:
    # first call within 48 h: Thu 6 Mar 10:00 -> Sat 8 Mar 10:00, rolled to Mon 10 Mar 09:00.
    # Reminder 4 h before Mon 09:00 = Mon 05:00 -> back to Fri 7 Mar 18:00 (before any pause).
    # On Sat 12:00 (before the Monday deadline) the customer asks us to wait, and is still
    # waiting on Monday: "while a pause is open the clock is stopped and fires nothing" -> no
    # breach at Mon 09:00, no escalation (and, as for any open pause, the state reports nothing
    # for the stopped clock: an agenda delivered the Friday reminder when it came).
    engine = SlaEngine(default_policy(default_calendar(country="CN")))
    deal = _waiting_deal(Pause("waiting_on_customer", sh(3, 8, 12)))
    assert _three_paths(engine, deal, sh(3, 12, 12), "opportunity.first_call") == []
    before = deal.evolve(pauses=())  # what the agenda saw up to Saturday 12:00
    assert _three_paths(engine, before, sh(3, 8, 12), "opportunity.first_call") == [
        ("reminder", sh(3, 7, 18), "amy")
    ]
    assert ("opportunity.first_call", sh(3, 6, 10), None) in [
        (r, s.astimezone(SH), d) for r, s, d in engine.open_clocks(deal)
    ]


def test_a_pause_ending_after_a_rolled_deadline_holds_it_until_its_end() -> None:
    # the same wait, ended Mon 10 Mar 11:00: the deadline (Mon 09:00) fell inside it, so it is
    # the first working instant after the wait, Mon 11:00. Breach Mon 11:00; escalation a day
    # after = Tue 11 Mar 11:00; the reminder stays Fri 18:00 (Mon 07:00 -> back to Fri 18:00).
    engine = SlaEngine(default_policy(default_calendar(country="CN")))
    deal = _waiting_deal(Pause("waiting_on_customer", sh(3, 8, 12), sh(3, 10, 11)))
    got = _three_paths(engine, deal, sh(3, 12, 12), "opportunity.first_call")
    assert got == [
        ("reminder", sh(3, 7, 18), "amy"),
        ("breach", sh(3, 10, 11), "amy"),
        ("escalation", sh(3, 11, 11), "max"),
    ]


def test_a_pause_over_the_weekend_grace_that_ends_before_the_opening_changes_nothing() -> None:
    # waiting Sat 12:00 - Sun 12:00: over before the rolled deadline, Mon 09:00, which stays
    engine = SlaEngine(default_policy(default_calendar(country="CN")))
    deal = _waiting_deal(Pause("waiting_on_customer", sh(3, 8, 12), sh(3, 9, 12)))
    got = _three_paths(engine, deal, sh(3, 12, 12), "opportunity.first_call")
    assert [(k, at) for k, at, _ in got] == [
        ("reminder", sh(3, 7, 18)),
        ("breach", sh(3, 10, 9)),
        ("escalation", sh(3, 11, 9)),
    ]


@settings(max_examples=150, deadline=None)
@given(
    created=st.integers(0, 60 * 24 * 60),
    pauses=st.lists(
        st.tuples(st.integers(0, 60 * 24 * 14), st.one_of(st.none(), st.integers(1, 60 * 24 * 4))),
        max_size=3,
    ),
)
def test_no_rolled_deadline_falls_inside_a_pause(
    created: int, pauses: list[tuple[int, int | None]]
) -> None:
    # Property: a pause-aware rolled deadline is never strictly inside a pause of the union
    # (the clock is stopped there), and an open pause that began before it stops the clock.
    engine = SlaEngine(default_policy(default_calendar(country="CN")))
    t0 = sh(1, 6) + timedelta(minutes=created)
    ps = tuple(
        Pause("waiting_on_customer", t0 + timedelta(minutes=a),
              None if n is None else t0 + timedelta(minutes=a + n))
        for a, n in pauses
    )  # fmt: skip
    deal = SlaState(subject_id="opp-p", kind="opportunity", created_at=t0, pauses=ps)
    for rule, _, due in engine.open_clocks(deal):
        if rule not in ("opportunity.first_call", "opportunity.needs_analysis"):
            continue
        for p in ps:
            if due is None:
                break
            assert not (p.start < due and (p.end is None or due < p.end)), (rule, due, p)


# -- finding 3: a delayed plan counted its days as 24 h, not the owner's days -------------------

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_delayed_plan_counts_the_owners_days_across_dst() -> None:
    # Berlin calendar 09:00-17:00; clocks go forward on Sun 30 Mar 2025. A plan due Fri 28 Mar
    # 10:00 CET and not confirmed: low as soon as it is overdue, medium at 3 days overdue = Mon
    # 31 Mar 10:00 CEST (71 h later: Sunday had 23 h), high at 7 days = Fri 4 Apr 10:00 CEST.
    # "Whole days are a person's days" (docs/sla.md): not Mon 11:00 / Fri 11:00 (72 h / 168 h).
    from pipeline_core.sla import BusinessCalendar

    policy = default_policy(BusinessCalendar.of("Europe/Berlin", hours="09:00-17:00"))
    engine = SlaEngine(policy)
    due = datetime(2025, 3, 28, 10, tzinfo=BERLIN)
    deal = SlaState(
        subject_id="opp-4", kind="opportunity", created_at=due - timedelta(days=10),
        owner_id="lena", manager_id="max", plan_due_at=due,
    )  # fmt: skip

    def flags(now: datetime) -> list[tuple[str, datetime]]:
        items = [i for i in engine.evaluate(deal, now) if i.rule == "risk.plan_delayed"]
        assert sorted(i.id for i in items) == sorted(
            i.id for i in engine.evaluate_batch([deal], now) if i.rule == "risk.plan_delayed"
        )
        return [(i.kind + ":" + i.step, i.at.astimezone(BERLIN)) for i in items]

    assert flags(datetime(2025, 3, 31, 10, 30, tzinfo=BERLIN)) == [
        ("risk:risk-medium", datetime(2025, 3, 31, 10, tzinfo=BERLIN))
    ]
    assert engine.next_due(deal, datetime(2025, 3, 31, 10, 30, tzinfo=BERLIN)) == datetime(
        2025, 4, 4, 10, tzinfo=BERLIN
    )
    assert flags(datetime(2025, 4, 4, 10, 0, tzinfo=BERLIN)) == [
        ("risk:risk-high", datetime(2025, 4, 4, 10, tzinfo=BERLIN)),
        ("escalation:escalate-high", datetime(2025, 4, 4, 10, tzinfo=BERLIN)),
    ]


@settings(max_examples=100, deadline=None)
@given(
    base=st.sampled_from([(3, 24), (10, 21), (6, 2)]),  # a week before each DST change, June
    due_min=st.integers(0, 60 * 24 * 8),
    days=st.sampled_from([0, 3, 7]),
    off_min=st.integers(-120, 120),  # around each threshold
)
def test_a_delayed_plans_level_follows_the_local_calendar(
    base: tuple[int, int], due_min: int, days: int, off_min: int
) -> None:
    # Oracle: the level reached at ``now`` for a plan due at ``due`` is the highest of low (> 0
    # overdue), medium (now >= due + 3 local days), high (now >= due + 7 local days), with local
    # days on Berlin's wall clock (aware datetime + timedelta keeps the wall-clock time).
    from pipeline_core.sla import BusinessCalendar

    engine = SlaEngine(default_policy(BusinessCalendar.of("Europe/Berlin", hours="09:00-17:00")))
    utc = ZoneInfo("UTC")
    due = (datetime(2025, *base, tzinfo=utc) + timedelta(minutes=due_min)).astimezone(BERLIN)
    now = (due + timedelta(days=days)).astimezone(utc) + timedelta(minutes=off_min)
    deal = SlaState(subject_id="p", kind="opportunity", created_at=due - timedelta(days=1),
                    plan_due_at=due)  # fmt: skip
    if now >= due + timedelta(days=7):
        expected = "high"
    elif now >= due + timedelta(days=3):
        expected = "medium"
    elif now > due:
        expected = "low"
    else:
        expected = None
    levels = [i.step for i in engine.evaluate(deal, now) if i.kind == "risk"]
    assert levels == ([] if expected is None else [f"risk-{expected}"])


# -- finding 4: INTERVAL=0 hung the policy check; a negative INTERVAL crashed the engine --------


def test_a_recurrence_interval_must_be_a_positive_whole_number() -> None:
    # "every 0 months" never moves on: dateutil looked for its next occurrence forever (the
    # policy check hung); "every -3 months" goes back in time: the engine later stepped to year
    # 0 with a raw ValueError. Both are bad input: a ConfigError naming the field and the value.
    import pytest

    from pipeline_core.errors import ConfigError
    from pipeline_core.sla import Policy

    for text in ("FREQ=MONTHLY;INTERVAL=0", "FREQ=DAILY;INTERVAL=0", "FREQ=MONTHLY;INTERVAL=-3",
                 "RRULE:FREQ=WEEKLY;INTERVAL=-1"):  # fmt: skip
        with pytest.raises(ConfigError) as caught:
            Policy.from_dict({
                "id": "p", "calendar": {"timezone": "Asia/Shanghai"},
                "rules": [{"id": "survey", "trigger": "won", "target": "action",
                           "action": "survey", "recurrence": text, "while_open": False}],
            })  # fmt: skip
        (problem,) = caught.value.problems
        assert problem.path == ("rules", 0, "recurrence") and problem.value == text
        assert "INTERVAL" in problem.message


# -- finding 5: a blank manager or owner id was a recipient, not "nobody" -----------------------


def test_a_blank_owner_or_manager_id_is_refused_not_escalated_to_nobody() -> None:
    # An escalation for an owner whose manager id is "" went to recipient "" with unrouted=False:
    # addressed to nobody, silently (S10's fault by another spelling of "no value"). Blank is a
    # missing value (pipeline_core.facts.is_missing): the state refuses it, naming the field.
    import pytest

    from pipeline_core.errors import ValidationError

    for field in ("owner_id", "manager_id"):
        for blank in ("", "   "):
            with pytest.raises(ValidationError) as caught:
                SlaState(subject_id="lead-9", kind="lead", created_at=sh(3, 3, 9),
                         **{field: blank})  # fmt: skip
            assert [(p.path, p.value) for p in caught.value.problems] == [((field,), blank)]
    # None is how a state says "no manager": the escalation is then visibly unrouted
    lead = SlaState(subject_id="lead-9", kind="lead", created_at=sh(3, 3, 9), owner_id="amy")
    (escalation,) = [i for i in _engine().evaluate(lead, sh(3, 5)) if i.kind == "escalation"]
    assert escalation.unrouted and escalation.recipient_id is None
