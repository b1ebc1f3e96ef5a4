"""Scoring 1,000,000 generated leads with ``BANT.default()`` (at scale 1.0).

- object path: ``model.score_units(lead)`` over Lead records (target ≥ 100,000 leads/s), against a
  hand-written Python ``if``/dict function of the same rules;
- full explainable ``model.score(lead)`` objects (reported as leads/s, no baseline);
- frame path: ``score_frame(polars_frame, model)`` against a hand-written polars expression of the
  same rules (target ratio ≤ 1.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks._harness import Row, median_time
from pipeline_core.samples import SampleConfig, generate
from pipeline_core.scoring import BANT, score_frame

AUTHORITY = {"decision_maker": 25, "influencer": 15, "user": 8, "none": 0}
NEED = {"strong": 15, "medium": 9, "weak": 3}
INTENT = {"high": 10, "medium": 6, "low": 2}
TIMELINE = {
    "within_1_month": 25,
    "1_3_months": 18,
    "3_6_months": 10,
    "over_6_months": 4,
    "no_plan": 0,
}


def hand_written(lead: Any) -> float:
    """The BANT.default() rules as plain Python (the baseline of the object path)."""
    b = lead.budget
    if b is None:
        s = 0
    else:
        a = b.amount
        s = 25 if a >= 500_000 else 20 if a >= 100_000 else 12 if a >= 30_000 else 5
    s += AUTHORITY.get(lead.authority, 0)  # type: ignore[call-overload]
    s += NEED.get(lead.need, 0)  # type: ignore[call-overload]
    s += INTENT.get(lead.intent, 0)  # type: ignore[call-overload]
    s += TIMELINE.get(lead.timeline, 0)  # type: ignore[call-overload]
    return float(s)


def polars_expression(frame: Any) -> Any:
    """The same rules written by hand in polars."""
    import polars as pl

    def cat(name: str, table: Mapping[str, int]) -> pl.Expr:
        return pl.col(name).replace_strict(table, default=0, return_dtype=pl.Int64)

    b = pl.col("budget")
    budget = (
        pl.when(b.is_null())
        .then(0)
        .when(b >= 500_000)
        .then(25)
        .when(b >= 100_000)
        .then(20)
        .when(b >= 30_000)
        .then(12)
        .otherwise(5)
    )
    total = (
        budget
        + cat("authority", AUTHORITY)
        + cat("need", NEED)
        + cat("intent", INTENT)
        + cat("timeline", TIMELINE)
    )
    return frame.with_columns(total.cast(pl.Float64).alias("score")).with_columns(
        pl.when(pl.col("score") >= 80)
        .then(pl.lit("A"))
        .when(pl.col("score") >= 50)
        .then(pl.lit("B"))
        .otherwise(pl.lit("C"))
        .alias("grade")
    )


def run(scale: float) -> list[Row]:
    """Benchmark rows for ``python -m benchmarks``."""
    import polars as pl

    n = max(1_000, int(1_000_000 * scale))
    company = generate(
        SampleConfig(
            seed=11, n_leads=n, start=datetime(2025, 1, 6, tzinfo=ZoneInfo("Asia/Shanghai"))
        )
    )
    model = BANT.default()
    rows: list[Row] = []

    leads = list(company.leads())
    units = model.score_units
    ours = median_time(lambda: [units(lead) for lead in leads], repeat=3)
    base = median_time(lambda: [hand_written(lead) for lead in leads], repeat=3)
    assert model.score_many(leads[:5000]) == [hand_written(x) for x in leads[:5000]]
    rows.append(
        Row(
            f"scoring: BANT object path, {n:,} leads (score_units)",
            ours,
            base,
            "hand-written Python",
            f"{n / ours:,.0f} leads/s (target ≥ 100,000/s)",
        )
    )
    ours_v = median_time(lambda: model.score_many(leads), repeat=3)
    rows.append(
        Row(
            f"scoring: BANT object path, {n:,} leads (score_many floats)",
            ours_v,
            base,
            "hand-written Python",
            f"{n / ours_v:,.0f} leads/s",
        )
    )
    grade_for = model.bands.grade_for_units
    ours_g = median_time(lambda: [grade_for(units(lead)).name for lead in leads], repeat=3)
    rows.append(
        Row(
            f"scoring: BANT object path, {n:,} leads (grade of score_units)",
            ours_g,
            None,
            note=f"{n / ours_g:,.0f} leads/s",
        )
    )
    sample = leads[: max(1_000, n // 10)]
    full = median_time(lambda: [model.score(lead) for lead in sample], repeat=3)
    rows.append(
        Row(
            f"scoring: full Score objects kept in a list, {len(sample):,} leads",
            full,
            None,
            note=f"{len(sample) / full:,.0f} leads/s (model.score; cyclic GC grows with the list)",
        )
    )

    def stream() -> None:
        score = model.score
        for lead in sample:
            score(lead).explain  # noqa: B018 - build each Score, then let it go

    streamed = median_time(stream, repeat=3)
    rows.append(
        Row(
            f"scoring: full Score objects streamed, {len(sample):,} leads",
            streamed,
            None,
            note=f"{len(sample) / streamed:,.0f} leads/s (model.score, one at a time)",
        )
    )
    leads.clear()
    sample.clear()

    frame = pl.concat(
        [pl.DataFrame(batch) for batch in company.columns("leads", batch_size=250_000)]
    ).select("id", "budget", "authority", "need", "intent", "timeline")
    ours_f = median_time(lambda: score_frame(frame, model), repeat=5)
    base_f = median_time(lambda: polars_expression(frame), repeat=5)
    a, b = score_frame(frame, model), polars_expression(frame)
    assert a["score"].equals(b["score"])
    assert a["grade"].equals(b["grade"])
    rows.append(
        Row(
            f"scoring: score_frame polars, {n:,} leads",
            ours_f,
            base_f,
            "hand-written polars",
            f"{n / ours_f:,.0f} rows/s (target ratio ≤ 1.5)",
        )
    )
    return rows
