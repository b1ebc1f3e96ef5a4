"""The sample company's stage histories replay cleanly against a template pipeline."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import groupby

from pipeline_core.samples import SampleConfig, generate
from pipeline_core.stages import templates
from pipeline_core.stages.history import History


def test_sample_histories_replay_and_follow_the_pipeline() -> None:
    p = templates.get("small_team")
    cfg = SampleConfig.for_pipeline(
        p, seed=11, n_leads=300, start=datetime(2025, 1, 6, tzinfo=UTC), days=60
    )
    company = generate(cfg)
    opps = {o.id: o for o in company.opportunities()}
    edges = {(a, b) for a, b, _ in p.edges}
    seen = 0
    for oid, group in groupby(company.stage_events(), key=lambda e: e.opportunity_id):
        events = list(group)
        h = History.of(events)
        assert h.matches(opps[oid])
        assert events[0].to_stage == p.first.id
        for ev in events[1:]:
            assert (ev.from_stage, ev.to_stage) in edges
        seen += 1
    assert seen == len(opps) > 0
