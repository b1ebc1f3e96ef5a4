"""Repurchase and churn rates, the per-rep scorecard, and charts saved as PNG and SVG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from metrics_support import ORDER, T0, generate

from pipeline_core import metrics as m
from pipeline_core.errors import ValidationError
from pipeline_core.metrics import charts
from pipeline_core.records import Money, Opportunity


def d(month: int, day: int = 1, year: int = 2025) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def win(
    oid: str,
    account: str,
    closed: datetime,
    owner: str = "u1",
    amount: int = 100,
    stage: str = "won",
) -> Opportunity:
    return Opportunity(
        id=oid,
        name=oid,
        created_at=closed - timedelta(days=10),
        owner_id=owner,
        stage=stage,
        stage_entered_at=closed,
        account_id=account,
        closed_at=closed,
        expected_amount=Money.of(amount, "CNY"),
    )


DEALS = [
    win("a1", "A", d(1, 10)),
    win("a2", "A", d(3, 1)),  # A: first win Jan, again within 90 d
    win("b1", "B", d(1, 20), owner="u2", amount=500),  # B: first win Jan, never again
    win("c1", "C", d(2, 5)),  # C: first win Feb, window not over at as_of
    win("z1", "Z", d(12, 1, 2024)),
    win("z2", "Z", d(1, 15)),  # Z: first win 2024: not in the cohort
    win("l1", "B", d(1, 25), owner="u2", stage="lost"),
]


def test_repurchase_rate() -> None:
    r = m.repurchase_rate(
        DEALS, stages=ORDER, start=d(1), end=d(3), window=timedelta(days=90), as_of=d(4, 20)
    )
    (row,) = r.records()
    # A repurchased; B's 90 days are over (Apr 20); C's are not (May 6) and it has no repurchase yet
    assert (row["customers"], row["repurchased"], row["pending"], row["rate"]) == (2, 1, 1, 0.5)


def test_churn_rate() -> None:
    (row,) = m.churn_rate(
        DEALS, stages=ORDER, start=d(2), end=d(4), lookback=timedelta(days=60)
    ).records()
    # active at Feb 1 (a win Dec 3 – Jan 31): A, B, Z; in Feb–Mar only A won again
    assert (row["active"], row["churned"]) == (3, 2)
    assert row["rate"] == pytest.approx(2 / 3)


def test_scorecard() -> None:
    card = {
        r["owner_id"]: r
        for r in m.scorecard(
            DEALS, stages=ORDER, start=d(1), end=d(2), collections={"a1": Decimal("60"), "b1": 500}
        ).records()
    }
    u1, u2 = card["u1"], card["u2"]
    assert (u1["won"], u1["lost"], u1["signed"], u1["new_customers"]) == (
        2,
        0,
        200.0,
        1,
    )  # a1 (A new), z2
    assert u1["collection_rate"] == pytest.approx(60 / 200)
    assert (u2["won"], u2["lost"], u2["win_rate"], u2["new_customers"], u2["collection_rate"]) == (
        1,
        1,
        0.5,
        1,
        1.0,
    )
    # median signed = 350; laggards are below half of it
    assert (u1["laggard"], u2["laggard"]) == (False, False)
    lag = {
        r["owner_id"]: r["laggard"]
        for r in m.scorecard(DEALS, stages=ORDER, start=d(1), end=d(2), laggard_share=0.9).records()
    }
    assert lag == {"u1": True, "u2": False}


def test_charts_save_png_and_svg(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    opps, events = generate(seed=4, n=60)
    funnel = m.cohort_funnel(
        opps, events, stages=ORDER, start=T0, end=T0 + timedelta(days=60), by=("source",)
    )
    tis = m.time_in_stage(events, stages=ORDER)
    fan = m.monte_carlo_forecast(
        opps,
        stages=ORDER,
        probabilities={"new": 0.1, "qualified": 0.2, "proposal": 0.4, "negotiation": 0.7},
        by=("owner_id",),
        runs=200,
    )
    ab = m.ab_test_from_funnel(funnel, step="qualified")
    figs = [
        charts.funnel_chart(funnel),
        charts.time_in_stage_chart(tis),
        charts.forecast_fan(fan),
        charts.ab_chart(ab),
    ]
    for i, fig in enumerate(figs):
        png = charts.save(fig, tmp_path / f"c{i}.png")
        svg = charts.save(fig, tmp_path / f"c{i}.svg")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in svg.read_bytes()[:500]
    with pytest.raises(ValidationError):
        charts.save(figs[0], tmp_path / "c.pdf")
    with pytest.raises(ValidationError):
        charts.forecast_fan(funnel)
