"""Backtesting a policy over the sample generator's history, and SOP rules from a real pipeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from pipeline_core.samples import SampleConfig, generate
from pipeline_core.sla import Breach, SlaEngine, SlaState, backtest_policy, default_policy
from pipeline_core.sla.calendar import to_us

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2025, 1, 6, tzinfo=SH)


@pytest.fixture(scope="module")
def company():  # type: ignore[no-untyped-def]
    return generate(SampleConfig(seed=7, n_leads=300, start=START, days=60))


def _run(company):  # type: ignore[no-untyped-def]
    managers = {u.id: u.manager_id for u in company.users if u.manager_id}
    return backtest_policy(
        default_policy(),
        until=company.config.end,
        opportunities=company.opportunities(),
        stage_events=company.stage_events(),
        activities=company.activities(),
        leads=company.leads(),
        grade_of=lambda r: {"high": "A", "medium": "B"}.get(str(r.intent), "C"),
        managers=managers,
        actions_on_entry={"qualified": "needs_analysis"},
    )


def test_backtest_reports_items_outcomes_and_breach_rates(company) -> None:  # type: ignore[no-untyped-def]
    report = _run(company)
    n_leads = sum(1 for _ in company.leads())
    n_opps = sum(1 for _ in company.opportunities())
    assert report.subjects == n_leads + n_opps
    assert report.items and report.outcomes
    touch = report.stats["lead.first_touch"]
    # every lead's first-touch clock either finished or is overdue or is still running at the end
    assert touch.met + touch.breached + touch.omitted + touch.open_overdue <= n_leads
    assert touch.met > 0
    for stats in report.stats.values():
        rate = stats.breach_rate
        assert rate is None or 0.0 <= rate <= 1.0
    overall = report.breach_rate()
    assert overall is not None and 0.0 < overall < 1.0
    rows = report.rows()
    assert {r["rule"] for r in rows} == set(report.stats)


def test_every_breached_clock_fired_its_breach(company) -> None:  # type: ignore[no-untyped-def]
    report = _run(company)
    # the item at the deadline itself (a breach, or a reminder for rules without a breach step)
    fired = {(i.rule, i.subject_id, i.start_us) for i in report.items if i.at_us == i.due_us}
    assert any(isinstance(i, Breach) for i in report.items)
    for o in report.outcomes:
        if o.finished_at is not None and not o.met:
            assert (o.rule, o.subject_id, to_us(o.started_at)) in fired, o
        if o.met:
            assert o.finished_at is not None and o.finished_at <= o.due_at
    ids = [i.id for i in report.items]
    assert len(ids) == len(set(ids)), "an item was fired twice"


def test_backtest_is_deterministic(company) -> None:  # type: ignore[no-untyped-def]
    a, b = _run(company), _run(company)
    assert [i.id for i in a.items] == [i.id for i in b.items]
    assert a.rows() == b.rows()


def test_met_first_touch_matches_direct_evaluation(company) -> None:  # type: ignore[no-untyped-def]
    """The replay's first-touch outcomes agree with evaluating each lead's final facts directly."""
    report = _run(company)
    engine = SlaEngine(default_policy())
    first_touch: dict[str, datetime] = {}
    for act in company.activities():
        if act.lead_id is not None:
            first_touch.setdefault(act.lead_id, act.at)
    direct = {}
    for lead in company.leads():
        if lead.id in first_touch:
            state = SlaState(
                subject_id=lead.id,
                kind="lead",
                created_at=lead.created_at,
                first_touch_at=first_touch[lead.id],
            )
            for o in engine.outcomes(state):
                if o.rule == "lead.first_touch":
                    direct[lead.id] = o.met
    replayed = {o.subject_id: o.met for o in report.outcomes if o.rule == "lead.first_touch"}
    common = set(direct) & set(replayed)
    assert len(common) > 100
    assert all(direct[k] == replayed[k] for k in common)


def test_stage_sop_limits_from_a_real_template_feed_the_engine() -> None:
    templates = pytest.importorskip("pipeline_core.stages.templates")
    pipeline = templates.get("small_team")
    # without the policy's reply rule the stage's chase stands alone (with it they are one
    # obligation: tests/sla/test_review_followup.py)
    base = default_policy()
    alone = attrs.evolve(base, rules=tuple(r for r in base.rules if r.id != "reply.3d"))
    engine = SlaEngine(alone, pipeline=pipeline)
    rules = {r.id for r in engine.policy.rules}
    assert "sop.first_contact.first_call" in rules
    assert "sop.proposal_quote.chase_reply" in rules
    entered = datetime(2025, 1, 6, 10, 0, tzinfo=SH)
    state = SlaState(
        subject_id="o1",
        created_at=entered,
        stage="proposal_quote",
        stage_entered_at=entered,
        owner_id="u1",
    )
    items = engine.evaluate(state, entered + timedelta(days=10))
    sop = {i.step: i for i in items if i.rule == "sop.proposal_quote.chase_reply"}
    # 3 days from entry (Thu 9 Jan 10:00); reminder a quarter of the limit (18 h) before (Wed
    # 16:00); escalation 1.5 days after = Fri 10 Jan 22:00, rolled to Mon 13 Jan 09:00
    assert sop["breach+0"].at == entered + timedelta(days=3)
    assert sop["remind-64800"].at == entered + timedelta(days=3) - timedelta(hours=18)
    assert sop["escalate+129600"].at == datetime(2025, 1, 13, 9, 0, tzinfo=SH)
    # rules of other stages do not apply
    assert not any(i.rule.startswith("sop.first_contact.") for i in items)
    done = state.evolve(actions={"chase_reply": entered + timedelta(days=1)})
    assert not any(
        i.rule == "sop.proposal_quote.chase_reply"
        for i in engine.evaluate(done, entered + timedelta(days=10))
    )
