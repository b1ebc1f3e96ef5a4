"""The sample company's records and its column batches (the flat layout) give the same metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from metrics_support import assert_same

from pipeline_core import metrics as m

samples = pytest.importorskip("pipeline_core.samples")


def frame(company: Any, kind: str) -> Any:
    import polars as pl

    batches = [pl.DataFrame(b, strict=False) for b in company.columns(kind, batch_size=5_000)]
    return pl.concat(batches, how="vertical_relaxed")


def test_sample_company_records_equal_frames() -> None:
    start = datetime(2025, 1, 6, tzinfo=UTC)
    company = samples.generate(
        samples.SampleConfig(seed=7, n_leads=600, start=start, days=60, regression_rate=0.1)
    )
    cfg = company.config
    order = m.stage_order(cfg.stage_ids, won=cfg.won_stage, lost=cfg.lost_stage)
    opps, events = list(company.opportunities()), list(company.stage_events())
    o, e = frame(company, "opportunities"), frame(company, "stage_events")
    assert o.height == len(opps) > 50 and e.height == len(events)
    as_of = start + timedelta(days=60)
    period = {"start": start, "end": start + timedelta(days=30)}
    for fn in (
        lambda a, b: m.cohort_funnel(
            a, b, stages=order, horizon=timedelta(days=21), by=("source",), **period
        ),
        lambda a, b: m.time_in_stage(b, stages=order, opportunities=a, by=("team_id",)),
        lambda a, b: m.sales_cycle(a, stages=order, as_of=as_of, won_by=timedelta(days=30)),
        lambda a, b: m.win_rate(a, stages=order, by=("owner_id",), **period),
        lambda a, b: m.snapshot(a, b, stages=order, as_of=start + timedelta(days=20)),
    ):
        assert_same(fn(o, e), fn(opps, events))
