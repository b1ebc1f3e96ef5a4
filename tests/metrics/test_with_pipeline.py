"""The metrics take a real ``pipeline_core.stages.Pipeline``: its stage order, probabilities and
rotting limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline_core import metrics as m
from pipeline_core.records import Money, Opportunity, StageEvent

stages_mod = pytest.importorskip("pipeline_core.stages")
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def test_metrics_with_the_small_team_template() -> None:
    pipeline = stages_mod.templates.get("small_team")
    order = m.stage_order(pipeline)
    assert order.open_ids == tuple(pipeline.open_stage_ids)
    assert all(order.rank(s) == pipeline.rank(s) for s in pipeline.stage_ids)
    first, second = pipeline.open_stage_ids[:2]
    opps = [
        Opportunity(
            id="a",
            name="a",
            created_at=T0,
            owner_id="u",
            stage=first,
            stage_entered_at=T0,
            expected_amount=Money.of(1000, "CNY"),
        ),
        Opportunity(
            id="b",
            name="b",
            created_at=T0,
            owner_id="u",
            stage=second,
            stage_entered_at=T0 + timedelta(days=1),
            expected_amount=Money.of(2000, "CNY"),
        ),
    ]
    events = [
        StageEvent(id="1", opportunity_id="a", to_stage=first, at=T0, by="u"),
        StageEvent(id="2", opportunity_id="b", to_stage=first, at=T0, by="u"),
        StageEvent(
            id="3",
            opportunity_id="b",
            from_stage=first,
            to_stage=second,
            at=T0 + timedelta(days=1),
            by="u",
        ),
    ]
    (w,) = m.weighted_forecast(opps, stages=pipeline).records()
    p1, p2 = (pipeline.stage(s).probability for s in (first, second))
    assert w["weighted"] == pytest.approx(1000 * p1 + 2000 * p2)
    limit = pipeline.stage(first).rotting_days
    rot = {
        r["stage"]: r
        for r in m.rotting(
            opps, events, stages=pipeline, as_of=T0 + timedelta(days=limit + 1)
        ).records()
    }
    assert (rot[first]["open"], rot[first]["rotting"]) == (1, 1)
    assert rot[second]["rotting"] == 0  # entered a day later: exactly at the limit, not over it
    fresh = {
        r["stage"]: r["rotting"]
        for r in m.rotting(
            opps, events, stages=pipeline, as_of=T0 + timedelta(days=limit)
        ).records()
    }
    assert fresh[first] == 0 and fresh[second] == 0
