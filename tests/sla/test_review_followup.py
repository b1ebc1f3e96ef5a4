"""The second review of the SLA work: each test is one remaining fault, worked out by hand.

Expected instants come from ``docs/sla.md`` and ``../shared/domain.md`` (the arithmetic is in the
comments); the engine (``SlaEngine.evaluate``), the column-wise batch (``evaluate_batch``) and an
``Agenda`` stepped through the period must all give them.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core import facts
from pipeline_core.errors import ConfigError
from pipeline_core.records import Activity, ActivityKind, Opportunity, StageEvent
from pipeline_core.sla import (
    Agenda,
    Rule,
    SlaEngine,
    SlaState,
    Target,
    Trigger,
    default_calendar,
    default_policy,
    state_from_records,
)
from pipeline_core.stages import templates

SH = ZoneInfo("Asia/Shanghai")
CN = default_calendar(country="CN")


def sh(m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """An instant on the Shanghai wall clock in 2025."""
    return datetime(2025, m, d, h, mi, tzinfo=SH)


def _paths(engine: SlaEngine, state: SlaState, now: datetime, rule: str) -> list[datetime]:
    """The instants (Shanghai) of the items of ``rule`` due by ``now``, after checking that the
    engine, the batch and an agenda advanced day by day agree on every item."""
    one = sorted(i.id for i in engine.evaluate(state, now))
    batch = sorted(i.id for i in engine.evaluate_batch([state], now))
    agenda = Agenda(engine)
    agenda.put(state)
    seen = []
    t = state.created_at
    while t < now:
        seen += agenda.advance(t)
        t += timedelta(days=1)
    seen += agenda.advance(now)
    assert one == batch == sorted(i.id for i in seen)
    return sorted(i.at.astimezone(SH) for i in engine.evaluate(state, now) if i.rule == rule)


# ------------------------------------------------------------------ 1. every recurrence reported


def _customer(**changes: object) -> SlaState:
    won = sh(1, 31, 10)
    state = SlaState(subject_id="acc1", kind="account", created_at=won, owner_id="u1", won_at=won)
    return state.evolve(**changes) if changes else state


def test_a_survey_reminds_at_every_quarter_not_followed_by_a_survey() -> None:
    engine = SlaEngine(default_policy(CN))
    # quarterly from 31 Jan 10:00, clamped to the month end (docs/sla.md "Recurrences clamp"):
    # 31 Jan + 3 months = 30 Apr 10:00, + 6 months = 31 Jul 10:00; checked on 15 Aug neither
    # was followed by a survey, so both are due, on every path
    assert _paths(engine, _customer(), sh(8, 15), "after_sale.survey") == [
        sh(4, 30, 10),
        sh(7, 31, 10),
    ]
    # a survey on 5 May follows the April occurrence: only July's is still due
    done = _customer(action_times={"survey": (sh(5, 5, 11),)})
    assert _paths(engine, done, sh(8, 15), "after_sale.survey") == [sh(7, 31, 10)]


def test_a_nurture_cadence_reminds_at_every_30_days_since_the_last_contact() -> None:
    engine = SlaEngine(default_policy(CN))
    graded = sh(1, 1, 9)
    lead = SlaState(
        subject_id="l1", kind="lead", created_at=graded, owner_id="u1", grade="C",
        grade_at=graded,
    )  # fmt: skip
    # every 30 days from 1 Jan 09:00: 31 Jan 09:00, 2 Mar 09:00 (Jan 31 + 30 = Mar 2), 1 Apr
    # 09:00 (Mar 2 + 30); on 5 Apr none was followed by a contact
    assert _paths(engine, lead, sh(4, 5), "grade.C.nurture") == [
        sh(1, 31, 9),
        sh(3, 2, 9),
        sh(4, 1, 9),
    ]
    # a contact on 5 Feb follows the January occurrence: March and April remain
    contacted = lead.evolve(last_contact_at=sh(2, 5, 15), first_touch_at=sh(2, 5, 15))
    assert _paths(engine, contacted, sh(4, 5), "grade.C.nurture") == [sh(3, 2, 9), sh(4, 1, 9)]
    # a contact exactly at an occurrence does not follow it (a contact target is strict)
    at_occurrence = lead.evolve(last_contact_at=sh(3, 2, 9), first_touch_at=sh(3, 2, 9))
    assert _paths(engine, at_occurrence, sh(4, 5), "grade.C.nurture") == [
        sh(3, 2, 9),
        sh(4, 1, 9),
    ]


def test_later_evaluations_contain_the_earlier_cadence_reminders() -> None:
    engine = SlaEngine(default_policy(CN))
    state = _customer()
    may = {i.id for i in engine.evaluate(state, sh(5, 15))}
    august = {i.id for i in engine.evaluate(state, sh(8, 15))}
    assert may and may < august


# ------------------------------------------------- 2. a revisit and a chase are one obligation


def _team_engine() -> SlaEngine:
    return SlaEngine(default_policy(CN), pipeline=templates.get("small_team"))


def test_the_policy_revisit_and_a_stages_weekly_revisit_are_one_obligation() -> None:
    # needs_confirmed has "weekly revisit within P7D"; the policy has opportunity.revisit (7
    # days after the last contact). One obligation (docs/sla.md "One obligation per action"):
    # the clock re-arms at each contact (the policy's trigger), the stage gives P7D (calendar,
    # as the policy's), the policy's chain (one reminder at the deadline). Last contact Mon 3 Mar
    # 11:00 + 7 days = Mon 10 Mar 11:00, a working instant: one reminder, under the policy id,
    # and nothing from the stage rule (it had a reminder Fri 7 Mar 18:00, a breach and an
    # escalation of its own).
    deal = SlaState(
        subject_id="opp-1", kind="opportunity", created_at=sh(3, 3, 10), stage="needs_confirmed",
        stage_entered_at=sh(3, 4, 10), first_call_at=sh(3, 3, 11), last_contact_at=sh(3, 3, 11),
        first_touch_at=sh(3, 3, 11), actions={"needs_analysis": sh(3, 4, 9)}, owner_id="amy",
        manager_id="max",
    )  # fmt: skip
    engine = _team_engine()
    assert _paths(engine, deal, sh(3, 20), "opportunity.revisit") == [sh(3, 10, 11)]
    rules = {i.rule for i in engine.evaluate(deal, sh(3, 20))}
    assert not any(r.startswith("sop.needs_confirmed.") for r in rules)


def test_the_policy_no_reply_rule_and_a_stages_chase_are_one_obligation() -> None:
    # proposal_quote has "follow up if no reply within P3D"; the policy has reply.3d (3 days
    # after the last activity without a reply). Last activity Thu 6 Mar 16:00, no reply: + 3
    # days = Sun 9 Mar 16:00 (reply.3d is calendar time, not rolled): one reminder, under
    # reply.3d; the stage's own reminder (Fri 7 Mar 18:00), breach and escalation are gone.
    deal = SlaState(
        subject_id="opp-2", kind="opportunity", created_at=sh(3, 3, 10), stage="proposal_quote",
        stage_entered_at=sh(3, 6, 16), first_call_at=sh(3, 3, 11), first_touch_at=sh(3, 3, 11),
        last_contact_at=sh(3, 6, 16), actions={"needs_analysis": sh(3, 4, 9)}, owner_id="amy",
        manager_id="max",
    )  # fmt: skip
    engine = _team_engine()
    assert _paths(engine, deal, sh(3, 20), "reply.3d") == [sh(3, 9, 16)]
    rules = {i.rule for i in engine.evaluate(deal, sh(3, 20))}
    assert not any(r.startswith("sop.proposal_quote.") for r in rules)
    # a reply on Fri 7 Mar meets it: nothing under reply.3d
    replied = deal.evolve(last_reply_at=sh(3, 7, 10))
    assert _paths(engine, replied, sh(3, 20), "reply.3d") == []


def test_two_policy_rules_for_one_chase_cannot_merge() -> None:
    policy = default_policy(CN)
    other = Rule(
        id="reply.1d", trigger=Trigger.ACTIVITY_LOGGED, target=Target.REPLY,
        action="chase_reply", within=timedelta(days=1),
    )  # fmt: skip
    doubled = attrs.evolve(policy, rules=(*policy.rules, other))
    with pytest.raises(ConfigError) as caught:
        doubled.with_pipeline(templates.get("small_team"))
    assert "reply.3d" in str(caught.value) and "reply.1d" in str(caught.value)


# ------------------------------------------ 3. a reopened deal: no items while it was closed


def _reopened_deal() -> tuple[Opportunity, list[Activity], list[StageEvent]]:
    deal = Opportunity(
        id="o9", name="Piles", created_at=sh(1, 2, 10), owner_id="amy", pipeline="small_team",
        stage="lost", stage_entered_at=sh(3, 10, 10), closed_at=sh(3, 10, 10),
    )  # fmt: skip
    call = Activity(
        id="a1", kind=ActivityKind.CALL, at=sh(1, 2, 10, 30), owner_id="amy", opportunity_id="o9",
        replied=True, tags=("action:needs_analysis",),
    )  # fmt: skip
    moves = [("first_contact", sh(1, 2, 10)), ("won", sh(1, 10, 10)),
             ("needs_confirmed", sh(2, 10, 10)), ("lost", sh(3, 10, 10))]  # fmt: skip
    events = [
        StageEvent(id=f"e{n}", opportunity_id="o9", to_stage=to, at=at, by="amy", seq=n)
        for n, (to, at) in enumerate(moves, 1)
    ]
    return deal, [call], events


def test_closed_periods_come_from_the_stage_history() -> None:
    _, _, events = _reopened_deal()
    stages = templates.get("small_team")
    # won 10 Jan, reopened 10 Feb: one period; lost 10 Mar: closed since (no reopen yet)
    assert facts.closed_periods(events, stages) == [
        (sh(1, 10, 10), sh(2, 10, 10)),
        (sh(3, 10, 10), None),
    ]
    # won then lost without a reopen is one closed period (close_instant keeps the first entry)
    won_lost = [events[0], events[1], attrs.evolve(events[3], seq=3)]
    assert facts.closed_periods(won_lost, stages) == [(sh(1, 10, 10), None)]


def test_a_reopened_deal_gets_no_items_for_the_time_it_was_won() -> None:
    deal, acts, events = _reopened_deal()
    state = state_from_records(deal, acts, events=events, manager_id="max")
    assert state.closed_periods == ((sh(1, 10, 10), sh(2, 10, 10)),)
    engine = _team_engine()
    now = sh(3, 15)
    # silence.30d: last contact Thu 2 Jan 10:30 + 30 days = Sat 1 Feb 10:30, but the deal was
    # closed from Fri 10 Jan 10:00 to Mon 10 Feb 10:00 (31 days) before that deadline: the
    # clock stops, the deadline moves by 31 days to Tue 4 Mar 10:30 (reminder); the escalation
    # 7 days later (11 Mar) comes after the loss on 10 Mar: none. (Without the stop: a reminder
    # on 1 Feb and an escalation on 8 Feb, while the deal was won.)
    assert _paths(engine, state, now, "silence.30d") == [sh(3, 4, 10, 30)]
    # the weekly revisit fell due before the win: last contact + 7 days = Thu 9 Jan 10:30
    assert _paths(engine, state, now, "opportunity.revisit") == [sh(1, 9, 10, 30)]
    won, reopened = sh(1, 10, 10), sh(2, 10, 10)
    assert not [i for i in engine.evaluate(state, now) if won <= i.at < reopened]


def test_a_step_that_falls_while_the_deal_was_closed_waits_for_the_reopen() -> None:
    deal, acts, events = _reopened_deal()
    # needs analysis not done: created Thu 2 Jan 10:00 + 7 days = Thu 9 Jan 10:00 (breach);
    # escalation 2 days after = Sat 11 Jan 10:00 -> rolled to Mon 13 Jan 09:00, inside the
    # closed period (10 Jan - 10 Feb): it fires at the reopen, Mon 10 Feb 10:00
    untagged = [attrs.evolve(acts[0], tags=())]
    state = state_from_records(deal, untagged, events=events, manager_id="max")
    got = _paths(_team_engine(), state, sh(3, 15), "opportunity.needs_analysis")
    assert got == [sh(1, 8, 10), sh(1, 9, 10), sh(2, 10, 10)]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 24 * 60),
    st.none() | st.integers(0, 24 * 60),
    st.sampled_from([None, "A", "B", "C"]),
    st.integers(0, 24 * 60),
    st.integers(1, 24 * 60),
    st.integers(0, 24 * 200),
)
def test_no_open_record_rule_fires_while_the_record_was_closed(
    created_h: int, contact_h: int | None, grade: str | None, shut_h: int, length_h: int,
    now_h: int,
) -> None:  # fmt: skip
    created = sh(1, 1) + timedelta(hours=created_h)
    contact = None if contact_h is None else created + timedelta(hours=contact_h)
    shut = created + timedelta(hours=shut_h)
    reopened = shut + timedelta(hours=length_h)
    state = SlaState(
        subject_id="o", kind="opportunity", created_at=created, owner_id="amy", manager_id="max",
        stage="needs_confirmed", stage_entered_at=created, grade=grade, grade_at=created,
        first_touch_at=contact, last_contact_at=contact, closed_periods=((shut, reopened),),
    )  # fmt: skip
    engine = _team_engine()
    now = created + timedelta(hours=now_h)
    items = engine.evaluate(state, now)
    assert Counter(items) == Counter(engine.evaluate_batch([state], now))
    # rules that run while the record is open (not the after-sale ones; risk flags are dated at
    # their signal) have no item inside the closed period
    inside = [
        i for i in items
        if not i.rule.startswith(("after_sale.", "risk.")) and shut <= i.at < reopened
    ]  # fmt: skip
    assert inside == []
    # later evaluations contain earlier ones
    assert set(items) <= set(engine.evaluate(state, now + timedelta(days=30)))


# ------------------------------- 4. a merged business-time stage limit keeps the policy's steps


@attrs.frozen
class _Action:
    id: str
    within: timedelta | None
    business_time: bool = False


@attrs.frozen
class _Stage:
    id: str
    actions: tuple[_Action, ...]


@attrs.frozen
class _Pipeline:
    stages: tuple[_Stage, ...]


def test_a_business_time_stage_limit_keeps_the_policys_day_after_escalation() -> None:
    # a stage "new" asks for the first call within 8 working hours; the policy's first call (48 h
    # rolled: remind 4 h before, breach, escalate 1 day after) merges with it: the stage's
    # deadline, the policy's steps in their own (calendar) basis, rolled into working time.
    pipeline = _Pipeline((_Stage("new", (_Action("first_call", timedelta(hours=8), True),)),))
    engine = SlaEngine(default_policy(CN), pipeline=pipeline)
    (merged,) = [r for r in engine.policy.rules if r.id == "sop.new.first_call"]
    assert merged.step_basis is not None and merged.step_basis.value == "calendar"
    deal = SlaState(
        subject_id="o1", kind="opportunity", created_at=sh(3, 3, 10), stage="new",
        stage_entered_at=sh(3, 3, 10), owner_id="amy", manager_id="max",
        actions={"needs_analysis": sh(3, 3, 11)},
    )  # fmt: skip
    # entered Mon 3 Mar 10:00; 8 working hours (09:00-12:00, 13:30-18:00): Mon 10-12 (2 h) +
    # 13:30-18 (4.5 h) = 6.5 h, Tue 09:00 + 1.5 h = Tue 4 Mar 10:30 (breach).
    # reminder 4 h before = Tue 06:30, outside working time -> back to the last close, Mon 18:00
    # (4 *working* hours before would be Mon 15:30).
    # escalation 1 day after = Wed 5 Mar 10:30, a working instant (24 working hours after would
    # be Fri 7 Mar 12:00).
    got = _paths(engine, deal, sh(3, 20), "opportunity.first_call")
    assert got == [sh(3, 3, 18), sh(3, 4, 10, 30), sh(3, 5, 10, 30)]
    # the setting survives the policy's JSON form
    again = type(engine.policy).from_dict(engine.policy.to_dict())
    assert [r.step_basis for r in again.rules] == [r.step_basis for r in engine.policy.rules]
