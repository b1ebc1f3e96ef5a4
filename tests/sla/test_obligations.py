"""One meaning for pauses, working time, recurrences, obligations, wins and escalation chains.

Every expected instant below is worked out by hand from the rule (the arithmetic is in the
comments); the engine, the column-wise batch and the agenda must all give it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError, ValidationError
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
    BusinessCalendar,
    Conditions,
    Pause,
    Policy,
    Recipient,
    Rule,
    SlaEngine,
    SlaState,
    Step,
    StepAction,
    Target,
    TimeBasis,
    Trigger,
    default_calendar,
    default_policy,
    state_from_records,
    zone_of,
)
from pipeline_core.stages import templates

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
# Mon-Fri 09:00-12:00 and 13:00-17:00: 7 working hours a day, a one-hour lunch
LUNCH_CAL = BusinessCalendar.of("Asia/Shanghai", hours="09:00-12:00, 13:00-17:00")
DEALS = Conditions(kinds=frozenset({"opportunity"}))
WAITS = frozenset({"customer", "vendor"})


def sh(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def one_rule(rule: Rule, calendar: BusinessCalendar = LUNCH_CAL, **kw: object) -> SlaEngine:
    return SlaEngine(Policy(id="p", rules=(rule,), calendar=calendar, **kw))  # type: ignore[arg-type]


def all_paths(
    engine: SlaEngine, states: list[SlaState], now: datetime
) -> list[tuple[str, str, datetime]]:
    """(rule, kind, instant) of the items due at ``now``; the engine, the batch and an agenda
    advanced once must agree."""
    one = sorted((i.rule, i.kind, i.at) for s in states for i in engine.evaluate(s, now))
    batch = sorted((i.rule, i.kind, i.at) for i in engine.evaluate_batch(states, now))
    agenda = Agenda(engine, batch_from=1)
    agenda.load(states)
    advanced = sorted((i.rule, i.kind, i.at) for i in agenda.advance(now))
    assert one == batch == advanced
    return one


# --------------------------------------------------------------------------- pauses


def test_overlapping_pauses_stop_a_business_clock_once() -> None:
    rule = Rule(id="fix", trigger=Trigger.CREATED, target=Target.FIRST_CALL,
                within=timedelta(hours=6), basis=TimeBasis.BUSINESS, pause_on=WAITS,
                conditions=DEALS, steps=(Step(StepAction.BREACH),))  # fmt: skip
    engine = one_rule(rule)
    state = SlaState(
        subject_id="o", created_at=sh(3, 3, 9), owner_id="amy",  # Monday 09:00
        pauses=(Pause("customer", sh(3, 3, 10), sh(3, 3, 11, 30)),
                Pause("vendor", sh(3, 3, 11), sh(3, 3, 14))),
        first_call_at=sh(3, 4, 10),
    )  # fmt: skip
    # without pauses: 09-12 (3 h) + 13-16 (3 h) -> Mon 16:00. The union 10:00-14:00 holds
    # 10-12 + 13-14 = 3 working hours (not 1.5 + 2 = 3.5: 11:00-11:30 counted once), so the
    # deadline moves 3 working hours on: 16-17 (1 h) + Tue 09-11 (2 h) -> Tue 11:00.
    (clock,) = engine.open_clocks(state.evolve(first_call_at=None))
    assert clock[2] == sh(3, 4, 11)
    (outcome,) = engine.outcomes(state)
    # elapsed: Mon 09:00 -> Tue 10:00 is 7 + 1 = 8 working hours, minus the 3 paused
    assert outcome.elapsed_seconds == 5 * 3600 and outcome.met
    assert outcome.due_at == sh(3, 4, 11)


def test_overlapping_pauses_on_calendar_time_and_an_ongoing_one() -> None:
    rule = Rule(id="wait", trigger=Trigger.CREATED, target=Target.FIRST_CALL,
                within=timedelta(hours=24), pause_on=WAITS, conditions=DEALS)  # fmt: skip
    engine = one_rule(rule)
    base = SlaState(subject_id="o", created_at=sh(3, 3, 9), owner_id="amy")
    three = base.evolve(pauses=(
        Pause("customer", sh(3, 3, 10), sh(3, 3, 12)),
        Pause("vendor", sh(3, 3, 11), sh(3, 3, 15)),
        Pause("customer", sh(3, 3, 14), sh(3, 3, 16)),
    ))  # fmt: skip
    # union 10:00-16:00 = 6 h: Tue 09:00 + 6 h = Tue 15:00
    assert engine.open_clocks(three)[0][2] == sh(3, 4, 15)
    assert all_paths(engine, [three], sh(3, 5)) == [("wait", "breach", sh(3, 4, 15))]
    # an ongoing pause that began inside a finished one stops the clock
    ongoing = base.evolve(pauses=(Pause("customer", sh(3, 3, 10), sh(3, 3, 12)),
                                  Pause("vendor", sh(3, 3, 11), None)))  # fmt: skip
    assert engine.open_clocks(ongoing)[0][2] is None
    assert all_paths(engine, [ongoing], sh(4, 1)) == []


def test_a_rolled_deadline_rolls_again_after_a_pause_and_its_steps_stay_in_working_time() -> None:
    rule = Rule(id="call", trigger=Trigger.CREATED, target=Target.FIRST_CALL,
                within=timedelta(hours=24), roll_to_business=True, pause_on=WAITS,
                conditions=DEALS,
                steps=(Step(StepAction.REMIND, -timedelta(hours=2)), Step(StepAction.BREACH),
                       Step(StepAction.ESCALATE, timedelta(hours=4), Recipient.MANAGER)))  # fmt: skip
    engine = one_rule(rule)
    state = SlaState(subject_id="o", created_at=sh(3, 6, 15), owner_id="amy", manager_id="max",
                     pauses=(Pause("vendor", sh(3, 6, 16), sh(3, 7, 12)),))  # fmt: skip
    # Thu 15:00 + 24 h = Fri 15:00; + the 20 h pause = Sat 11:00 -> rolled to Mon 09:00.
    # reminder: Mon 09:00 - 2 h = Mon 07:00, not working: back to the last close, Fri 17:00.
    # escalation: Mon 09:00 + 4 h = 13:00, the afternoon opening.
    assert all_paths(engine, [state], sh(3, 20)) == [
        ("call", "breach", sh(3, 10, 9)),
        ("call", "escalation", sh(3, 10, 13)),
        ("call", "reminder", sh(3, 7, 17)),
    ]


# --------------------------------------------------------------------------- working time


def test_steps_of_a_business_rule_land_at_the_latest_instant_with_n_working_hours_left() -> None:
    rule = Rule(id="touch", trigger=Trigger.CREATED, target=Target.FIRST_TOUCH,
                within=timedelta(hours=4), basis=TimeBasis.BUSINESS, conditions=DEALS,
                steps=(Step(StepAction.REMIND, -timedelta(hours=3)),
                       Step(StepAction.REMIND, -timedelta(hours=2, minutes=30)),
                       Step(StepAction.BREACH),
                       Step(StepAction.ESCALATE, timedelta(hours=2), Recipient.MANAGER)))  # fmt: skip
    engine = one_rule(rule)
    state = SlaState(subject_id="o", created_at=sh(3, 4, 10, 30), owner_id="amy", manager_id="max")
    # due: 10:30-12:00 (1.5 h) + 13:00-15:30 (2.5 h) = Tue 15:30.
    # 3 h before: 13:00-15:30 is 2.5 h, half an hour more in the morning: 11:30.
    # 2.5 h before: 13:00 exactly (the afternoon opening, not 12:00, the lunch close).
    # escalation 2 h after: 15:30-17:00 (1.5 h) + Wed 09:00-09:30 = Wed 09:30.
    assert all_paths(engine, [state], sh(3, 10)) == [
        ("touch", "breach", sh(3, 4, 15, 30)),
        ("touch", "escalation", sh(3, 5, 9, 30)),
        ("touch", "reminder", sh(3, 4, 11, 30)),
        ("touch", "reminder", sh(3, 4, 13)),
    ]


@pytest.mark.parametrize("country", ["CN"])
def test_day_scale_steps_across_the_spring_festival_and_its_make_up_sunday(country: str) -> None:
    cal = default_calendar(country=country)  # 09:00-12:00, 13:30-18:00; 2025-01-28..02-04 off
    engine = SlaEngine(default_policy(cal))
    # created on Sunday 26 January 2025, a make-up working day (调休)
    state = SlaState(subject_id="o", kind="opportunity", created_at=sh(1, 26, 10),
                     owner_id="amy", manager_id="max")  # fmt: skip
    items = [i for i in all_paths(engine, [state], sh(2, 10)) if i[0] == "opportunity.first_call"]
    # Sun 10:00 + 48 h = Tue 28 Jan 10:00, a holiday: rolled to Wed 5 Feb 09:00.
    # reminder 4 h before = Wed 05:00: back to the last close before, Mon 27 Jan 18:00.
    # escalation 1 day after = Thu 6 Feb 09:00 (working).
    assert items == [
        ("opportunity.first_call", "breach", sh(2, 5, 9)),
        ("opportunity.first_call", "escalation", sh(2, 6, 9)),
        ("opportunity.first_call", "reminder", sh(1, 27, 18)),
    ]


# --------------------------------------------------------------------------- recurrences


@pytest.mark.parametrize(
    "spelling",
    ["FREQ=MONTHLY;INTERVAL=3", "RRULE:FREQ=MONTHLY;INTERVAL=3;WKST=MO",
     "FREQ=MONTHLY;WKST=SU;INTERVAL=3;COUNT=10", "FREQ=MONTHLY;INTERVAL=3;UNTIL=20301231T000000Z"],
)  # fmt: skip
def test_every_spelling_of_a_quarterly_survey_clamps_to_the_month_end(spelling: str) -> None:
    rule = Rule(id="survey", trigger=Trigger.WON, target=Target.ACTION, action="survey",
                recurrence=spelling, while_open=False, steps=())  # fmt: skip
    engine = one_rule(rule)
    won = sh(3, 31, 10)
    state = SlaState(subject_id="o", created_at=sh(3, 1), owner_id="amy", won_at=won, closed_at=won)
    # 31 Mar + 3 months = 30 Jun (clamped), + 6 = 30 Sep, + 9 = 31 Dec (each from the start)
    assert engine.next_due(state, sh(4, 1)) == sh(6, 30, 10)
    assert engine.next_due(state, sh(7, 1)) == sh(9, 30, 10)
    assert engine.next_due(state, sh(10, 1)) == sh(12, 31, 10)
    # no survey followed either occurrence: both are due (each occurrence, docs/sla.md)
    assert all_paths(engine, [state], sh(10, 1)) == [
        ("survey", "reminder", sh(6, 30, 10)),
        ("survey", "reminder", sh(9, 30, 10)),
    ]


def test_a_counted_recurrence_ends_after_its_last_occurrence() -> None:
    rule = Rule(id="survey", trigger=Trigger.WON, target=Target.ACTION, action="survey",
                recurrence="FREQ=MONTHLY;INTERVAL=3;COUNT=3", while_open=False, steps=())  # fmt: skip
    engine = one_rule(rule)
    won = sh(3, 31, 10)
    state = SlaState(subject_id="o", created_at=sh(3, 1), owner_id="amy", won_at=won, closed_at=won)
    # COUNT=3 counts the start itself (RFC 5545): two surveys, 30 Jun and 30 Sep, then none
    assert engine.next_due(state, sh(7, 1)) == sh(9, 30, 10)
    assert engine.next_due(state, sh(10, 1)) is None
    assert all_paths(engine, [state], sh(12, 31, 23)) == [
        ("survey", "reminder", sh(6, 30, 10)),
        ("survey", "reminder", sh(9, 30, 10)),
    ]


@settings(max_examples=120, deadline=None)
@given(
    st.dates(min_value=datetime(2020, 1, 1).date(), max_value=datetime(2030, 12, 31).date()),
    st.integers(1, 12),
    st.integers(1, 30),
    st.sampled_from(["", ";WKST=MO", ";COUNT=400", ";WKST=SU;COUNT=300"]),
)
def test_monthly_recurrences_clamp_like_relativedelta_on_every_spelling(
    day: object, interval: int, k: int, extra: str
) -> None:
    start = datetime.combine(day, datetime.min.time(), tzinfo=SH) + timedelta(hours=10)  # type: ignore[arg-type]
    rule = Rule(id="r", trigger=Trigger.WON, target=Target.ACTION, action="x",
                recurrence=f"FREQ=MONTHLY;INTERVAL={interval}{extra}", while_open=False,
                steps=())  # fmt: skip
    engine = one_rule(rule)
    state = SlaState(subject_id="o", created_at=start, won_at=start, closed_at=start)
    # the k-th occurrence is the start + k * interval months, clamped to the month end
    expected = start + relativedelta(months=k * interval)
    before = start + relativedelta(months=(k - 1) * interval) + timedelta(minutes=1)
    assert engine.next_due(state, before) == expected


# --------------------------------------------------------------------------- wins


def test_a_win_is_the_won_stages_instant_whatever_won_reason_says() -> None:
    pipeline = templates.get("small_team")
    t0 = sh(4, 1, 9)
    deal = Opportunity(id="o1", name="Pumps", created_at=t0, owner_id="amy",
                       stage="first_contact", stage_entered_at=t0, pipeline="small_team",
                       needs="pumps", expected_amount=Money.of("80000", "CNY"))  # fmt: skip
    events = []
    for hours, stage in ((50, "needs_confirmed"), (100, "proposal_quote"),
                         (150, "contract_negotiation"), (200, "won")):  # fmt: skip
        deal, event = pipeline.move(deal, stage, at=t0 + timedelta(hours=hours), by="amy")
        events.append(event)
    won = t0 + timedelta(hours=200)  # Wed 1 Apr 09:00 + 200 h = Thu 9 Apr 17:00
    assert state_from_records(deal, pipeline=pipeline).won_at == won
    assert state_from_records(deal, pipeline=pipeline, events=events).won_at == won
    assert state_from_records(deal).won_at == won  # the template the deal names
    # a lost deal carrying a stale won_reason is not won
    lost = Opportunity(id="o2", name="Valves", created_at=t0, owner_id="amy", stage="lost",
                       stage_entered_at=t0 + timedelta(days=3), closed_at=t0 + timedelta(days=3),
                       pipeline="small_team", won_reason="old note", lost_reason="budget")  # fmt: skip
    assert state_from_records(lost, pipeline=pipeline).won_at is None


# --------------------------------------------------------------------------- actions


def test_a_stage_revisit_is_done_by_a_visit_that_reached_the_customer() -> None:
    # without the policy's revisit rule the stage's weekly revisit stands alone (with it they are
    # one obligation: tests/sla/test_review_followup.py)
    base = default_policy(default_calendar())
    alone = attrs.evolve(base, rules=tuple(r for r in base.rules if r.id != "opportunity.revisit"))
    engine = SlaEngine(alone, pipeline=templates.get("small_team"))
    entered = sh(3, 3, 10)  # Monday
    deal = Opportunity(id="o1", name="Piles", created_at=entered, owner_id="amy",
                       stage="needs_confirmed", stage_entered_at=entered, needs="piles")  # fmt: skip
    silent_visit = Activity(
        id="a1", kind=ActivityKind.VISIT, at=sh(3, 4, 10), owner_id="amy", opportunity_id="o1"
    )  # nobody answered, no outcome: not a revisit
    answered_call = Activity(id="a2", kind=ActivityKind.CALL, at=sh(3, 6, 15), owner_id="amy",
                             opportunity_id="o1", outcome=Outcome.WATCHING)  # fmt: skip
    rule = "sop.needs_confirmed.weekly_revisit"

    def revisit_items(acts: list[Activity]) -> list[tuple[str, datetime]]:
        state = state_from_records(deal, acts, manager_id="max")
        return [(k, at) for r, k, at in all_paths(engine, [state], sh(3, 20)) if r == rule]

    assert revisit_items([silent_visit, answered_call]) == []  # done Thu 15:00, before any step
    # only the silent visit: the stage limit P7D from Mon 10:00 -> Mon 10 Mar 10:00 (calendar
    # time, rolled); reminder a quarter of the limit (42 h) before: Sat 8 Mar 16:00 -> back to
    # Fri 7 Mar 18:00; escalation half the limit (84 h) after: Thu 13 Mar 22:00 -> Fri 09:00
    assert revisit_items([silent_visit]) == [
        ("breach", sh(3, 10, 10)),
        ("escalation", sh(3, 14, 9)),
        ("reminder", sh(3, 7, 18)),
    ]


def test_an_action_deadline_is_met_by_its_first_doing_after_the_clock_started() -> None:
    engine = SlaEngine(default_policy(default_calendar()))
    created = sh(3, 3, 10)
    deal = Opportunity(id="o1", name="Piles", created_at=created, owner_id="amy", stage="new",
                       stage_entered_at=created)  # fmt: skip
    acts = [
        Activity(id=f"a{d}", kind=ActivityKind.MEETING, at=sh(3, d, 11), owner_id="amy",
                 opportunity_id="o1", tags=frozenset({"action:needs_analysis"}))
        for d in (5, 12)
    ]  # fmt: skip
    state = state_from_records(deal, acts)
    items = [i for i in engine.evaluate(state, sh(3, 30)) if i.rule == "opportunity.needs_analysis"]
    assert items == []  # done Wed 5 Mar, before the Mon 10 Mar deadline (the 12 Mar one is later)
    (outcome,) = [o for o in engine.outcomes(state) if o.rule == "opportunity.needs_analysis"]
    assert outcome.met and outcome.finished_at == sh(3, 5, 11)


# --------------------------------------------------------------------------- obligations


def test_a_stage_rule_and_a_policy_rule_for_one_action_are_one_obligation() -> None:
    engine = SlaEngine(default_policy(default_calendar()), pipeline=templates.get("small_team"))
    created, entered = sh(2, 28, 10), sh(3, 3, 10)  # created Fri, entered first_contact Mon
    state = SlaState(subject_id="o", kind="opportunity", created_at=created, stage="first_contact",
                     stage_entered_at=entered, owner_id="amy", manager_id="max")  # fmt: skip
    calls = [i for i in all_paths(engine, [state], sh(3, 20)) if "first_call" in i[0]]
    # the stage's deadline: entry Mon 10:00 + 48 h = Wed 10:00 (the policy's would be Sun 10:00
    # from creation, rolled to Mon 09:00); the policy's chain: remind 4 h before (Wed 06:00, back
    # to the last close Tue 18:00), breach, escalate a day after (Thu 10:00)
    assert calls == [
        ("opportunity.first_call", "breach", sh(3, 5, 10)),
        ("opportunity.first_call", "escalation", sh(3, 6, 10)),
        ("opportunity.first_call", "reminder", sh(3, 4, 18)),
    ]
    # one obligation, one id: the stage's rule reports as the policy rule it merged with
    (merged,) = [r for r in engine.policy.rules if r.id == "sop.first_contact.first_call"]
    assert merged.obligation == "opportunity.first_call"
    # in a stage whose SOP does not name the action, the policy rule applies from creation:
    # Fri 10:00 + 48 h = Sun 10:00, rolled to Mon 09:00; reminder Mon 05:00 -> back to Fri 18:00;
    # escalation Tue 09:00
    later = state.evolve(stage="needs_confirmed")
    assert [i for i in all_paths(engine, [later], sh(3, 20)) if "first_call" in i[0]] == [
        ("opportunity.first_call", "breach", sh(3, 3, 9)),
        ("opportunity.first_call", "escalation", sh(3, 4, 9)),
        ("opportunity.first_call", "reminder", sh(2, 28, 18)),
    ]


def test_a_deal_created_in_the_stage_keeps_one_set_of_items_when_it_moves_on() -> None:
    engine = SlaEngine(default_policy(default_calendar()), pipeline=templates.get("small_team"))
    t0 = sh(3, 3, 10)
    in_stage = SlaState(subject_id="o", kind="opportunity", created_at=t0, stage="first_contact",
                        stage_entered_at=t0, owner_id="amy", manager_id="max",
                        first_call_at=sh(3, 7, 11))  # a late call, Friday 11:00  # fmt: skip
    moved = in_stage.evolve(stage="needs_confirmed", stage_entered_at=sh(3, 7, 12))
    calls = {i.id for i in engine.evaluate(in_stage, sh(3, 20)) if "first_call" in i.rule}
    # reminder Tue 18:00, breach Wed 10:00, escalation Thu 10:00: the same three items (same ids)
    # whether the deal is still in first_contact or has moved on; an agenda reports them once
    assert len(calls) == 3
    assert calls == {i.id for i in engine.evaluate(moved, sh(3, 20)) if "first_call" in i.rule}
    agenda = Agenda(engine)
    agenda.put(in_stage)
    first = agenda.advance(sh(3, 7, 11, 30))
    agenda.put(moved)
    again = agenda.advance(sh(3, 20))
    assert {i.id for i in first} >= calls and not any("first_call" in i.rule for i in again)


def test_a_stage_action_that_cannot_merge_with_its_policy_rule_is_a_config_error() -> None:
    base = default_policy(default_calendar())
    cadence = Rule(id="calls.weekly", trigger=Trigger.CREATED, target=Target.FIRST_CALL,
                   recurrence="FREQ=WEEKLY", conditions=DEALS, steps=())  # fmt: skip
    rules = (*(r for r in base.rules if r.id != "opportunity.first_call"), cadence)
    with pytest.raises(ConfigError, match=r"calls\.weekly"):
        SlaEngine(attrs.evolve(base, rules=rules), pipeline=templates.get("small_team"))
    graded = tuple(
        attrs.evolve(r, conditions=attrs.evolve(r.conditions, grades=frozenset({"A"})))
        if r.id == "opportunity.needs_analysis" else r
        for r in base.rules
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"opportunity\.needs_analysis"):
        SlaEngine(attrs.evolve(base, rules=graded), pipeline=templates.get("small_team"))


# --------------------------------------------------------------------------- escalation chain


def test_escalations_go_to_the_manager_then_the_fallback_else_say_they_are_unrouted() -> None:
    t0 = sh(3, 3, 10)
    orphan = SlaState(subject_id="o1", kind="opportunity", created_at=t0, owner_id="amy")
    managed = orphan.evolve(subject_id="o2", manager_id="max")
    chained = SlaEngine(attrs.evolve(default_policy(default_calendar()), fallback_recipient="dir"))
    up = [i for s in (orphan, managed) for i in chained.evaluate(s, sh(3, 30))
          if i.kind == "escalation"]  # fmt: skip
    assert {(i.subject_id, i.recipient, i.recipient_id) for i in up} == {
        ("o1", "fallback", "dir"),
        ("o2", "manager", "max"),
    }
    assert not any(i.unrouted for i in up)
    assert sorted(map(str, chained.evaluate_batch([orphan, managed], sh(3, 30)))) == sorted(
        str(i) for s in (orphan, managed) for i in chained.evaluate(s, sh(3, 30))
    )
    bare = SlaEngine(default_policy(default_calendar()))
    items = list(bare.evaluate_batch([orphan, managed], sh(3, 30)))  # the book goes on
    unrouted = [i for i in items if i.kind == "escalation" and i.subject_id == "o1"]
    assert unrouted and all(i.unrouted and i.recipient_id is None for i in unrouted)
    assert all(i.to_dict()["unrouted"] for i in unrouted)
    assert any(i.subject_id == "o2" and i.recipient_id == "max" for i in items)


def test_a_policy_with_one_id_twice_is_refused_when_it_is_built() -> None:
    rule = Rule(id="touch", trigger=Trigger.CREATED, target=Target.FIRST_TOUCH,
                within=timedelta(hours=1))  # fmt: skip
    with pytest.raises(ConfigError) as exc:
        Policy(id="p", rules=(rule, attrs.evolve(rule, within=timedelta(hours=2))))
    assert "touch" in str(exc.value) and exc.value.problems[0].path == ("rules", 1, "id")
    risk = default_policy().risks[0]
    with pytest.raises(ConfigError, match=risk.id):
        Policy(id="p", rules=(attrs.evolve(rule, id=risk.id),), risks=(risk,))
    with pytest.raises(ConfigError, match="fallback_recipient"):
        Policy(id="p", fallback_recipient="  ")


# --------------------------------------------------------------------------- grade clock, zones


def test_the_grade_clock_starts_at_the_last_grade_change() -> None:
    lead = Lead(id="l1", created_at=sh(2, 3, 9), source="website", owner_id="amy",
                graded_at=sh(3, 4, 15))  # regraded to A on Tue 4 Mar 15:00  # fmt: skip
    state = state_from_records(lead, grade="A")
    assert state.grade_at == sh(3, 4, 15)
    engine = SlaEngine(default_policy(default_calendar()))
    due = [i.at for i in engine.evaluate(state, sh(3, 6)) if i.rule == "grade.A.contact"
           and i.kind == "breach"]  # fmt: skip
    assert due == [sh(3, 5, 15)]  # 1 day later, Wed 15:00 (working time)
    with pytest.raises(ValidationError, match="graded_at"):
        Lead(id="l2", created_at=sh(3, 4), source="website", graded_at=sh(3, 3))


def test_a_persons_day_is_their_own_zone_then_their_teams_then_the_policy_calendars() -> None:
    team = Team(id="t", name="East", timezone="Asia/Shanghai")
    lena = User(id="lena", name="Lena", role=Role.AE, team_id="t", timezone="Europe/Berlin")
    wei = User(id="wei", name="Wei", role=Role.AE, team_id="t")
    assert zone_of(lena, team).key == "Europe/Berlin"
    assert zone_of(wei, team).key == "Asia/Shanghai"
    assert zone_of(wei, None, default_policy()).key == "Asia/Shanghai"
    assert zone_of().key == "UTC"
    with pytest.raises(ValidationError, match="timezone"):
        User(id="x", name="X", role=Role.AE, timezone="Europe/Atlantis")
    with pytest.raises(ValidationError, match="timezone"):
        SlaState(subject_id="s", created_at=sh(3, 1), timezone="Mars/Olympus")


def test_whole_days_of_calendar_time_count_the_owners_local_days_across_dst() -> None:
    engine = SlaEngine(default_policy(default_calendar()))
    contact = datetime(2025, 3, 29, 10, tzinfo=BERLIN)  # Sat; clocks go forward Sun 30 Mar 02:00
    state = SlaState(subject_id="o", kind="opportunity", created_at=contact, owner_id="lena",
                     last_contact_at=contact, timezone="Europe/Berlin")  # fmt: skip
    remind = [i.at for i in engine.evaluate(state, contact + timedelta(days=5))
              if i.rule == "reply.3d"]  # fmt: skip
    # 3 of Lena's days: Tue 1 Apr 10:00 Berlin, 71 elapsed hours (one day had 23 h)
    assert remind == [datetime(2025, 4, 1, 10, tzinfo=BERLIN)]
    assert remind[0] - contact == timedelta(hours=71)
    # in the policy calendar's zone (Shanghai, no DST) the same rule is 72 h
    plain = state.evolve(timezone=None)
    assert [i.at for i in engine.evaluate(plain, contact + timedelta(days=5))
            if i.rule == "reply.3d"] == [contact.astimezone(UTC) + timedelta(hours=72)]  # fmt: skip


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["customer", "vendor", "other"]), st.integers(0, 40),
                  st.integers(1, 16)),
        max_size=4,
    ),
    st.integers(1, 24),
)  # fmt: skip
def test_a_paused_calendar_deadline_is_the_instant_the_unpaused_time_reaches_the_limit(
    pauses: list[tuple[str, int, int]], hours: int
) -> None:
    """Oracle: walk hour by hour from the start, counting the hours no relevant pause covers."""
    rule = Rule(id="r", trigger=Trigger.CREATED, target=Target.FIRST_CALL,
                within=timedelta(hours=hours), pause_on=WAITS, conditions=DEALS)  # fmt: skip
    engine = one_rule(rule)
    start = sh(3, 3, 9)
    state = SlaState(
        subject_id="o", created_at=start,
        pauses=tuple(Pause(r, start + timedelta(hours=a), start + timedelta(hours=a + n))
                     for r, a, n in pauses),
    )  # fmt: skip
    covered = {a + j for r, a, n in pauses if r in WAITS for j in range(n)}
    counted, h = 0, 0
    while counted < hours:
        if h not in covered:
            counted += 1
        h += 1
    assert engine.open_clocks(state)[0][2] == start + timedelta(hours=h)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 60 * 24 * 30), st.integers(1, 60 * 30), st.sampled_from(["lunch", "cn"]))
def test_n_working_hours_before_is_the_latest_instant_with_n_left(
    minutes: int, before: int, which: str
) -> None:
    cal = LUNCH_CAL if which == "lunch" else default_calendar(country="CN")
    due = cal.next_open(sh(1, 20) + timedelta(minutes=minutes))
    n = timedelta(minutes=before)
    at = cal.add(due, -n)
    assert cal.between(at, due) == n
    assert cal.is_working_time(at)  # an opening or inside, never a close or a lunch break
    assert cal.between(at + timedelta(microseconds=1), due) < n  # nothing later has n left


_INSIDE_ENGINE = SlaEngine(default_policy(default_calendar(country="CN")),
                           pipeline=templates.get("small_team"))  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 60 * 24 * 365),
    st.sampled_from([None, "first_contact", "needs_confirmed"]),
    st.sampled_from([None, "A", "B"]),
    st.sampled_from(["lead", "opportunity"]),
)
def test_every_step_of_a_working_time_rule_lands_in_working_time(
    minutes: int, stage: str | None, grade: str | None, kind: str
) -> None:
    cal = _INSIDE_ENGINE.calendar
    t = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    state = SlaState(subject_id="s", kind=kind, created_at=t, stage=stage, stage_entered_at=t,
                     grade=grade, grade_at=t, owner_id="amy", manager_id="max")  # fmt: skip
    working = {r.id for r in _INSIDE_ENGINE.policy.rules
               if r.basis is TimeBasis.BUSINESS or r.roll_to_business}  # fmt: skip
    for item in _INSIDE_ENGINE.evaluate_batch([state], t + timedelta(days=60)):
        if item.rule in working:
            at = item.at
            assert cal.is_working_time(at) or cal.is_working_time(at - timedelta(microseconds=1))


def test_a_backtest_decides_wins_by_stage_and_actions_by_evidence_too() -> None:
    from pipeline_core.sla import backtest_policy as backtest

    pipeline = templates.get("small_team")
    t0 = sh(1, 6, 10)  # Monday
    deal = Opportunity(id="o1", name="Pumps", created_at=t0, owner_id="amy",
                       stage="first_contact", stage_entered_at=t0, pipeline="small_team",
                       needs="pumps", expected_amount=Money.of("80000", "CNY"))  # fmt: skip
    events = []
    for day, stage in ((1, "needs_confirmed"), (2, "proposal_quote"),
                       (3, "contract_negotiation"), (4, "won")):  # fmt: skip
        deal, event = pipeline.move(deal, stage, at=t0 + timedelta(days=day), by="amy")
        events.append(event)
    lost = Opportunity(id="o2", name="Valves", created_at=t0, owner_id="amy", stage="lost",
                       stage_entered_at=t0 + timedelta(days=1), closed_at=t0 + timedelta(days=1),
                       pipeline="small_team", won_reason="stale", lost_reason="budget")  # fmt: skip
    visit = Activity(id="a1", kind=ActivityKind.VISIT, at=t0 + timedelta(hours=30),
                     owner_id="amy", opportunity_id="o1", outcome=Outcome.POSITIVE)  # fmt: skip
    engine = SlaEngine(default_policy(default_calendar()), pipeline=pipeline)
    report = backtest(engine, until=sh(5, 1), opportunities=[deal, lost], stage_events=events,
                      activities=[visit])  # fmt: skip
    surveys = [(i.subject_id, i.at) for i in report.items if i.rule == "after_sale.survey"]
    # o1 won Fri 10 Jan 10:00 (the won stage event; no won_reason): survey 10 Apr 10:00;
    # o2 is lost whatever its won_reason says: no survey
    assert surveys == [("o1", sh(4, 10, 10))]
    # the visit of Tue 7 Jan 16:00 (an outcome: the customer was reached) is the revisit of
    # needs_confirmed (entered Tue 10:00): no weekly-revisit item
    assert not [i for i in report.items if "weekly_revisit" in i.rule]


def test_a_recurrence_refuses_a_working_time_basis_it_would_not_follow() -> None:
    for extra in ({"roll_to_business": True}, {"basis": "business"}):
        with pytest.raises(ConfigError, match="recurrence"):
            Policy.from_dict({"id": "p", "rules": [
                {"id": "nurture", "trigger": "grade_assigned", "target": "contact",
                 "recurrence": "FREQ=WEEKLY", "steps": [], **extra}]})  # fmt: skip


def test_the_sla_command_starts_the_grade_clock_at_the_last_grade_change(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from pipeline_core import storage
    from pipeline_core.cli import main

    url = f"sqlite:///{tmp_path / 'g.db'}"
    store = storage.open(url)
    store.leads.add(Lead(id="L1", created_at=sh(2, 3, 9), source="website", owner_id="amy",
                         custom={"grade": "A"}, graded_at=sh(3, 4, 15)))  # fmt: skip
    store.activities.append(Activity(id="a1", kind=ActivityKind.CALL, at=sh(2, 3, 9, 30),
                                     owner_id="amy", lead_id="L1", replied=True))  # fmt: skip
    store.close()
    assert main(["sla", "--store", url, "--now", "2025-03-05T10:00:00+08:00", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    # regraded to A on Tue 4 Mar 15:00: contact due Wed 15:00, reminder 4 h before = Wed 11:00,
    # both after 10:00 — nothing is due yet (from creation it would be four weeks overdue)
    assert [i for i in items if i["rule"] == "grade.A.contact"] == []
    assert main(["sla", "--store", url, "--now", "2025-03-05T15:30:00+08:00", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    assert sorted((i["kind"], i["at"]) for i in items if i["rule"] == "grade.A.contact") == [
        ("breach", "2025-03-05T07:00:00+00:00"),
        ("reminder", "2025-03-05T03:00:00+00:00"),
    ]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 7 * 24 * 12),  # the start, in 5-minute steps after Monday 3 March 00:00
    st.lists(
        st.tuples(st.sampled_from(["customer", "vendor", "other"]), st.integers(0, 5 * 24 * 12),
                  st.integers(1, 24 * 12)),
        max_size=3,
    ),
    st.integers(1, 12 * 12),  # the limit, in 5-minute steps of working time
)  # fmt: skip
def test_a_paused_business_deadline_is_where_the_unpaused_working_time_reaches_the_limit(
    start_step: int, pauses: list[tuple[str, int, int]], limit_steps: int
) -> None:
    """Oracle: walk 5-minute slots (the calendar's hours are on that grid) from the start,
    counting those in working time that no relevant pause covers."""
    five = timedelta(minutes=5)
    origin = sh(3, 3)
    start = origin + start_step * five
    rule = Rule(id="r", trigger=Trigger.CREATED, target=Target.FIRST_CALL,
                within=limit_steps * five, basis=TimeBasis.BUSINESS, pause_on=WAITS,
                conditions=DEALS)  # fmt: skip
    state = SlaState(
        subject_id="o", created_at=start,
        pauses=tuple(Pause(r, start + a * five, start + (a + n) * five) for r, a, n in pauses),
    )  # fmt: skip
    covered = {a + j for r, a, n in pauses if r in WAITS for j in range(n)}
    counted, k = 0, 0
    while counted < limit_steps:
        if k not in covered and LUNCH_CAL.is_working_time(start + k * five):
            counted += 1
        k += 1
    assert one_rule(rule).open_clocks(state)[0][2] == start + k * five


def test_the_sla_command_counts_whole_days_in_the_owners_zone(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from pipeline_core import storage
    from pipeline_core.cli import main

    ny = ZoneInfo("America/New_York")
    url = f"sqlite:///{tmp_path / 'z.db'}"
    store = storage.open(url)
    store.teams.add(Team(id="east", name="East", timezone="Asia/Shanghai"))
    store.users.add(User(id="ken", name="Ken", role=Role.AE, team_id="east",
                         timezone="America/New_York"))  # fmt: skip
    sent = datetime(2025, 3, 7, 10, tzinfo=ny)  # Fri 10:00 EST; EDT from Sunday 9 March
    store.opportunities.add(Opportunity(id="O1", name="O1", created_at=sent, owner_id="ken",
                                        stage="anything", stage_entered_at=sent))  # fmt: skip
    store.activities.append(Activity(id="a1", kind=ActivityKind.EMAIL, at=sent, owner_id="ken",
                                     opportunity_id="O1"))  # fmt: skip
    store.close()
    assert main(["sla", "--store", url, "--now", "2025-03-11T00:00:00+00:00", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    # no reply for 3 of Ken's days: Mon 10 Mar 10:00 EDT = 14:00 UTC (71 h, not 72)
    assert [i["at"] for i in items if i["rule"] == "reply.3d"] == ["2025-03-10T14:00:00+00:00"]
