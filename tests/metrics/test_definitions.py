"""Hand-checked small examples of every definition (docs/metrics.md uses the same story).

Stages new → qualified → proposal, won "won", lost "lost". Amounts in CNY.
  A created Jan 1: new Jan 1, qualified Jan 3, proposal Jan 10, won Jan 20      (100)
  B created Jan 2: new Jan 2, qualified Jan 5, lost Jan 6                        (200)
  C created Jan 3: new Jan 3 (still open)                                        (300)
  D created Feb 1: new Feb 1, qualified Feb 4 (outside the January cohort)       (400)
  E created Jan 5: no stage event at all, no amount
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipeline_core import metrics as m
from pipeline_core.records import Money, Opportunity, StageEvent

ORDER = m.stage_order(["new", "qualified", "proposal"], won="won", lost="lost")


def d(day: int, month: int = 1) -> datetime:
    return datetime(2025, month, day, tzinfo=UTC)


def _opp(
    oid: str, created: datetime, stage: str, amount: int | None, closed: datetime | None = None
) -> Opportunity:
    return Opportunity(
        id=oid,
        name=oid,
        created_at=created,
        owner_id="u1" if oid in "AC" else "u2",
        stage=stage,
        stage_entered_at=created,
        source="web" if oid in "ABE" else "event",
        expected_amount=None if amount is None else Money.of(amount, "CNY"),
        closed_at=closed,
    )


def _events(oid: str, moves: list[tuple[str, datetime]]) -> list[StageEvent]:
    out, prev = [], None
    for i, (stage, at) in enumerate(moves):
        out.append(
            StageEvent(
                id=f"{oid}{i}", opportunity_id=oid, from_stage=prev, to_stage=stage, at=at, by="u1"
            )
        )
        prev = stage
    return out


OPPS = [
    _opp("A", d(1), "won", 100, d(20)),
    _opp("B", d(2), "lost", 200, d(6)),
    _opp("C", d(3), "new", 300),
    _opp("D", d(1, 2), "qualified", 400),
    _opp("E", d(5), "new", None),
]
EVENTS = [
    *_events("A", [("new", d(1)), ("qualified", d(3)), ("proposal", d(10)), ("won", d(20))]),
    *_events("B", [("new", d(2)), ("qualified", d(5)), ("lost", d(6))]),
    *_events("C", [("new", d(3))]),
    *_events("D", [("new", d(1, 2)), ("qualified", d(4, 2))]),
]
JAN = {"start": d(1), "end": d(1, 2)}


def test_cohort_funnel_with_horizon() -> None:
    f = m.cohort_funnel(OPPS, EVENTS, stages=ORDER, horizon=timedelta(days=15), **JAN)
    rows = f.records()
    assert [r["stage"] for r in rows] == ["new", "qualified", "proposal", "won"]
    assert [r["cohort"] for r in rows] == [4, 4, 4, 4]  # A, B, C, E (D is February)
    # A won on day 19 after creation: beyond the 15-day horizon, so it counts up to proposal
    assert [r["reached"] for r in rows] == [4, 2, 1, 0]
    assert [r["share"] for r in rows] == [1.0, 0.5, 0.25, 0.0]
    assert [r["conversion"] for r in rows] == [None, 0.5, 0.5, 0.0]
    assert [r["value"] for r in rows] == [600.0, 300.0, 100.0, 0.0]
    assert f.kind == "cohort"
    assert f.params["currency"] == "CNY"


def test_cohort_funnel_without_horizon_and_bottleneck() -> None:
    f = m.cohort_funnel(OPPS, EVENTS, stages=ORDER, **JAN)
    assert [r["reached"] for r in f.records()] == [4, 2, 1, 1]
    conv = f.conversion()
    assert [(r["from_stage"], r["to_stage"], r["rate"]) for r in conv.records()] == [
        ("new", "qualified", 0.5),
        ("qualified", "proposal", 0.5),
        ("proposal", "won", 1.0),
    ]
    # tie between two 50 % steps: the earliest is the bottleneck
    assert conv.bottleneck() == conv.records()[0]
    with_h = m.stage_conversion(OPPS, EVENTS, stages=ORDER, horizon=timedelta(days=15), **JAN)
    assert with_h.bottleneck()["from_stage"] == "proposal"


def test_funnel_grouped_by_source() -> None:
    f = m.cohort_funnel(OPPS, EVENTS, stages=ORDER, by=("source",), **JAN)
    web = [r["reached"] for r in f.where(source="web")]
    event = [r["reached"] for r in f.where(source="event")]
    assert web == [3, 2, 1, 1]  # A, B, E
    assert event == [1, 0, 0, 0]  # C
    # groups sorted: event (0/1 at the first step), web (2/3, 1/2, 1/1)
    assert [r["from_stage"] for r in f.conversion().bottlenecks()] == ["new", "qualified"]


def test_snapshot_rebuilt_from_events() -> None:
    s = m.snapshot(OPPS, EVENTS, stages=ORDER, as_of=d(4))
    counts = {r["stage"]: (r["count"], r["value"]) for r in s.records()}
    # Jan 4: A qualified (Jan 3), B still new (qualified Jan 5), C new; D and E have no event yet
    assert counts == {
        "new": (2, 500.0),
        "qualified": (1, 100.0),
        "proposal": (0, 0.0),
        "won": (0, 0.0),
        "lost": (0, 0.0),
    }
    later = {
        r["stage"]: r["count"]
        for r in m.snapshot(OPPS, EVENTS, stages=ORDER, as_of=d(10, 2)).records()
    }
    assert later == {"new": 1, "qualified": 1, "proposal": 0, "won": 1, "lost": 1}
    assert s.kind == "snapshot"


def test_win_rates_cohort_and_snapshot_differ_and_are_labelled() -> None:
    snap = m.win_rate(OPPS, stages=ORDER, **JAN)
    (row,) = snap.records()
    assert (row["won"], row["lost"], row["rate"]) == (1, 1, 0.5)
    assert row["rate_value"] == pytest.approx(100 / 300)
    cohort = m.win_rate(OPPS, EVENTS, stages=ORDER, kind="cohort", **JAN)
    (crow,) = cohort.records()
    assert (crow["n"], crow["won"], crow["rate"]) == (4, 1, 0.25)
    assert crow["rate_value"] == pytest.approx(100 / 600)
    assert (snap.kind, cohort.kind) == ("snapshot", "cohort")


def test_time_in_stage() -> None:
    t = {r["stage"]: r for r in m.time_in_stage(EVENTS, stages=ORDER).records()}
    # new: A 2 d, B 3 d, D 3 d; C still open
    assert t["new"]["n"] == 3 and t["new"]["open"] == 1
    assert t["new"]["median_days"] == 3.0
    assert t["new"]["mean_days"] == pytest.approx(8 / 3)
    # qualified: A 7 d, B 1 d; D still open. Linear quantiles: median 4, p90 1 + 0.9 × 6
    assert (t["qualified"]["n"], t["qualified"]["open"]) == (2, 1)
    assert t["qualified"]["median_days"] == 4.0
    assert t["qualified"]["p90_days"] == pytest.approx(6.4)
    assert t["proposal"]["median_days"] == 10.0
    # as_of Jan 4 cuts history: A's new stay is complete (2 d), B's is open
    early = {r["stage"]: r for r in m.time_in_stage(EVENTS, stages=ORDER, as_of=d(4)).records()}
    assert (early["new"]["n"], early["new"]["open"], early["new"]["median_days"]) == (1, 2, 2.0)


def test_rotting_counts_from_stage_entry() -> None:
    r = {
        x["stage"]: x
        for x in m.rotting(
            OPPS, EVENTS, stages=ORDER, as_of=d(10), limits={"new": timedelta(days=5)}
        ).records()
    }
    assert (r["new"]["open"], r["new"]["rotting"], r["new"]["share"]) == (
        1,
        1,
        1.0,
    )  # C, 7 days in new
    assert (
        r["proposal"]["open"] == 1 and r["proposal"]["rotting"] is None
    )  # A: no limit for proposal
    r2 = {
        x["stage"]: x
        for x in m.rotting(
            OPPS, EVENTS, stages=ORDER, as_of=d(8), limits={"new": timedelta(days=5)}
        ).records()
    }
    assert r2["new"]["rotting"] == 0  # C has been in new exactly 5 days: not more than the limit


def test_sales_cycle_censors_open_deals() -> None:
    c = m.sales_cycle(
        OPPS, stages=ORDER, as_of=d(10, 2), resolution=timedelta(days=1), won_by=timedelta(days=30)
    )
    (row,) = c.records()
    # durations: B 4 d lost, D 9 d open, A 19 d won, E 36 d open, C 38 d open
    assert (row["n"], row["won"], row["lost"], row["censored"]) == (5, 1, 1, 3)
    # S(4) = 4/5; S(19) = 0.8 × 2/3 = 0.533 > 0.5, so the KM median is not reached
    assert row["km_median_days"] is None
    assert row["km_p25_days"] == 19.0  # first time S(t) ≤ 0.75: S(4) = 0.8 is not, S(19) is
    assert row["naive_mean_days"] == 11.5 and row["naive_median_days"] == 11.5
    # Aalen–Johansen: P(won by 30 d) = S(19−) × 1/3 = 0.8 / 3
    assert row["p_won_by"] == pytest.approx(0.8 / 3)
    curve = c.curve()
    assert curve[0] == (4.0, 0.8, 0.0)
    assert curve[1][0] == 19.0 and curve[1][1] == pytest.approx(0.8 * 2 / 3)


def test_results_convert_and_render() -> None:
    f = m.cohort_funnel(OPPS, EVENTS, stages=ORDER, by=("source",), **JAN)
    data = json.loads(json.dumps(f.to_dict()))
    assert data["kind"] == "cohort" and data["params"]["start"] == "2025-01-01T00:00:00+00:00"
    assert len(data["rows"]) == 8
    pdf = f.to_pandas()
    assert list(pdf.columns) == list(f.columns) and len(pdf) == 8
    pl_df = f.to_polars()
    assert pl_df.columns == list(f.columns) and pl_df.height == 8
    html = f._repr_html_()
    assert "cohort_funnel (cohort)" in html and "<td>web</td>" in html
    assert "8 rows" in repr(f)


def test_stage_order_from_a_pipeline_like_object() -> None:
    class FakePipeline:
        open_stage_ids = ("a", "b")
        won_stage_ids = ("w",)
        lost_stage_ids = ("l1", "l2")

    order = m.stage_order(FakePipeline())
    assert order.ranks() == {"a": 0, "b": 1, "w": 2, "l1": -1, "l2": -1}
    assert order.steps == ("a", "b", "w")
