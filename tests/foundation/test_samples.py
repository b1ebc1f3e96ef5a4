"""The sample generator: deterministic, consistent across streams, and shaped like a real team."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError
from pipeline_core.records import LeadStatus, Opportunity, StageEvent
from pipeline_core.samples import COLUMN_KINDS, SampleConfig, generate

START = datetime(2025, 1, 6, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def company():  # type: ignore[no-untyped-def]
    return generate(SampleConfig(seed=11, n_leads=3_000, start=START, regression_rate=0.1))


def test_same_seed_same_company_other_seed_other_company() -> None:
    def snapshot(seed: int) -> list[dict[str, object]]:
        c = generate(SampleConfig(seed=seed, n_leads=150, start=START))
        return [r.to_dict() for r in (*c.leads(), *c.opportunities(), *c.stage_events())]

    assert snapshot(3) == snapshot(3)
    assert snapshot(3) != snapshot(4)


def test_streams_are_consistent(company) -> None:  # type: ignore[no-untyped-def]
    cfg = company.config
    leads = {lead.id: lead for lead in company.leads()}
    opps = {o.id: o for o in company.opportunities()}
    events: dict[str, list[StageEvent]] = defaultdict(list)
    for e in company.stage_events():
        events[e.opportunity_id].append(e)
    assert len(leads) == cfg.n_leads
    assert set(events) == set(opps)
    for opp in opps.values():
        lead = leads[opp.lead_id]
        assert lead.status is LeadStatus.CONVERTED
        assert lead.opportunity_id == opp.id
        path = events[opp.id]
        assert path[0].from_stage is None
        assert path[0].to_stage == cfg.stage_ids[0]
        assert path[0].at == opp.created_at >= lead.created_at
        assert all(a.to_stage == b.from_stage for a, b in pairwise(path))
        assert all(a.at <= b.at for a, b in pairwise(path))
        assert path[-1].to_stage == opp.stage
        assert path[-1].at == opp.stage_entered_at
        assert opp.version == len(path)
        assert all(e.at < cfg.end for e in path)
        closed = opp.stage in (cfg.won_stage, cfg.lost_stage)
        assert (opp.closed_at is not None) == closed
        assert (opp.lost_reason is not None) == (opp.stage == cfg.lost_stage)
        assert (opp.next_step is None) == closed
    converted = sum(lead.status is LeadStatus.CONVERTED for lead in leads.values())
    assert converted == len(opps)


def test_generated_records_are_valid(company) -> None:  # type: ignore[no-untyped-def]
    # Trusted construction must produce exactly what validation would.
    for stream in (company.leads, company.opportunities, company.stage_events, company.activities,
                   company.accounts, company.contacts):  # fmt: skip
        for i, rec in enumerate(stream()):
            if i % 37 == 0:
                assert type(rec).from_dict(rec.to_dict()) == rec
    for user in company.users:
        assert type(user).from_dict(user.to_dict()) == user


@pytest.mark.parametrize("kind", COLUMN_KINDS)
def test_columns_match_the_records(company, kind: str) -> None:  # type: ignore[no-untyped-def]
    batches = list(company.columns(kind, batch_size=997))
    assert all(len(set(map(len, b.values()))) == 1 for b in batches)
    assert all(len(b["id"]) == 997 for b in batches[:-1])
    ids = [i for b in batches for i in b["id"]]
    stream = {
        "leads": company.leads,
        "opportunities": company.opportunities,
        "stage_events": company.stage_events,
        "activities": company.activities,
    }[kind]
    records = list(stream())
    assert ids == [r.id for r in records]
    if kind == "opportunities":
        flat = [
            (i, s, a)
            for b in batches
            for i, s, a in zip(b["id"], b["stage"], b["expected_amount"], strict=True)
        ]
        assert flat == [(o.id, o.stage, int(o.expected_amount.amount)) for o in records]


def test_the_company_looks_like_a_sales_team(company) -> None:  # type: ignore[no-untyped-def]
    cfg = company.config
    leads = list(company.leads())
    opps: list[Opportunity] = list(company.opportunities())
    sources = Counter(lead.source for lead in leads)
    assert len(sources) >= 6
    # Better leads win more often: the hidden quality separates won from lost deals.
    quality = {lead.id: lead.custom["quality"] for lead in leads}
    won = [quality[o.lead_id] for o in opps if o.stage == cfg.won_stage]
    lost = [quality[o.lead_id] for o in opps if o.stage == cfg.lost_stage]
    assert statistics.mean(won) > statistics.mean(lost) + 0.05

    # Referrals convert better than cold outreach.
    def conversion(source: str) -> float:
        group = [lead for lead in leads if lead.source == source]
        return sum(lead.status is LeadStatus.CONVERTED for lead in group) / len(group)

    assert conversion("referral") > conversion("cold_outreach")
    # Amounts have a heavy tail.
    amounts = sorted(o.expected_amount.amount for o in opps)
    assert amounts[-1] > 10 * amounts[len(amounts) // 2]
    # Re-work happens when asked for.
    assert any(e.from_stage and cfg.stage_ids.index(e.to_stage) < cfg.stage_ids.index(e.from_stage)
               for e in company.stage_events()
               if e.to_stage in cfg.stage_ids and e.from_stage in cfg.stage_ids)  # fmt: skip
    # Every lead belongs to a rep; every rep is in a team with a manager.
    owners = {lead.owner_id for lead in leads}
    assert owners <= {u.id for u in company.users}
    assert all(t.manager_id in {u.id for u in company.users} for t in company.teams)
    # Variant B of the first-touch script converts better (a real effect for A/B tests).
    by_variant = defaultdict(list)
    for lead in leads:
        by_variant["B" if "variant:B" in lead.tags else "A"].append(
            lead.status is LeadStatus.CONVERTED
        )
    assert statistics.mean(by_variant["B"]) > statistics.mean(by_variant["A"])


@settings(max_examples=15)
@given(st.integers(0, 10_000), st.integers(1, 120), st.integers(1, 6))
def test_nothing_happens_after_the_horizon(seed: int, days: int, n_stages: int) -> None:
    stages = tuple(f"s{i}" for i in range(n_stages))
    cfg = SampleConfig(seed=seed, n_leads=40, start=START, days=days, stage_ids=stages)
    company = generate(cfg)
    assert all(lead.created_at < cfg.end for lead in company.leads())
    assert all(e.at < cfg.end for e in company.stage_events())
    assert all(a.at < cfg.end for a in company.activities())
    assert {o.stage for o in company.opportunities()} <= {*stages, "won", "lost"}


def test_bad_config_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        SampleConfig(
            n_leads=-1,
            days=0,
            start=datetime(2025, 1, 1),
            stage_ids=("a", "a"),
            won_stage="a",
            lead_conversion=2.0,
            currency="XXX",
        )
    assert set(info.value.fields) >= {
        "n_leads", "days", "start", "stage_ids", "won_stage", "lead_conversion", "currency",
    }  # fmt: skip


def test_for_pipeline_takes_the_stages_of_a_pipeline() -> None:
    class P:
        id = "p1"
        open_stage_ids = ("a", "b")
        won_stage_ids = ("done",)
        lost_stage_ids = ("dropped", "disqualified")

    cfg = SampleConfig.for_pipeline(P(), n_leads=300, start=START)
    assert (cfg.stage_ids, cfg.won_stage, cfg.lost_stage, cfg.pipeline_id) == (
        ("a", "b"), "done", "dropped", "p1",
    )  # fmt: skip
    events = list(generate(cfg).stage_events())
    assert events
    assert {e.pipeline for e in events} == {"p1"}
    assert {e.to_stage for e in events} <= {"a", "b", "done", "dropped"}


def test_columns_refuses_unknown_kinds() -> None:
    with pytest.raises(ConfigError):
        next(generate(SampleConfig(n_leads=1)).columns("deals"))
    assert timedelta(0) < generate(SampleConfig(days=3)).config.end - START
