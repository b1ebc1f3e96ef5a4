"""Property: the plain-Python records path and the frame path (polars, pandas) give the same
numbers, or the same typed error, for any history, including ties, unknown stages, out-of-order
chains and mixed currencies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_support import LOST, OPEN, ORDER, T0, WON, assert_same, outcome, polars_frames

from pipeline_core import metrics as m
from pipeline_core.records import Money, Opportunity, StageEvent

STAGES = (*OPEN, WON, LOST)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Opportunity], list[StageEvent]]:
    opps: list[Opportunity] = []
    events: list[StageEvent] = []
    for i in range(draw(st.integers(0, 7))):
        oid = f"o{i}"
        created = T0 + timedelta(hours=draw(st.integers(0, 24 * 20)))
        at, prev = created, None
        for j in range(draw(st.integers(0, 6))):
            at = at + timedelta(hours=draw(st.integers(0, 96)))  # 0: ties, ordered by id
            stage = draw(
                st.sampled_from(STAGES) | st.just("bogus")
                if draw(st.integers(0, 30)) == 0
                else st.sampled_from(STAGES)
            )
            src = (
                prev if draw(st.integers(0, 25)) else draw(st.sampled_from(STAGES))
            )  # sometimes out of order
            events.append(
                StageEvent(
                    id=f"{oid}-{j:02d}",
                    opportunity_id=oid,
                    from_stage=src,
                    to_stage=stage,
                    at=at,
                    by="u",
                )
            )
            prev = stage
        stage = prev or OPEN[0]
        currency = "USD" if draw(st.integers(0, 30)) == 0 else "CNY"
        amount = draw(st.none() | st.integers(0, 10_000))
        opps.append(
            Opportunity(
                id=oid,
                name=oid,
                created_at=created,
                owner_id=draw(st.sampled_from(["u1", "u2"])),
                stage=stage if stage != "bogus" else OPEN[0],
                stage_entered_at=at,
                source=draw(st.sampled_from(["web", "event", None])),
                expected_amount=None if amount is None else Money.of(amount, currency),
                closed_at=at if stage in (WON, LOST) else None,
            )
        )
    return opps, events


def metrics_of(opps: Any, events: Any) -> dict[str, Any]:
    start, end = T0 + timedelta(days=2), T0 + timedelta(days=15)
    as_of = T0 + timedelta(days=25)
    return {
        "funnel": outcome(
            lambda: m.cohort_funnel(
                opps, events, stages=ORDER, start=start, end=end, by=("source",)
            )
        ),
        "funnel_h": outcome(
            lambda: m.cohort_funnel(
                opps,
                events,
                stages=ORDER,
                start=start,
                end=end,
                horizon=timedelta(days=3),
                value=False,
            )
        ),
        "snapshot": outcome(
            lambda: m.snapshot(
                opps, events, stages=ORDER, as_of=T0 + timedelta(days=9), by=("owner_id",)
            )
        ),
        "tis": outcome(lambda: m.time_in_stage(events, stages=ORDER, as_of=as_of)),
        "tis_by": outcome(
            lambda: m.time_in_stage(events, stages=ORDER, opportunities=opps, by=("owner_id",))
        ),
        "win": outcome(
            lambda: m.win_rate(opps, stages=ORDER, start=start, end=as_of, by=("source",))
        ),
        "cycle": outcome(
            lambda: m.sales_cycle(opps, stages=ORDER, as_of=as_of, won_by=timedelta(days=5))
        ),
        "rotting": outcome(
            lambda: m.rotting(
                opps, events, stages=ORDER, as_of=as_of, limits={"new": timedelta(days=2)}
            )
        ),
    }


def compare(got: dict[str, Any], want: dict[str, Any]) -> None:
    for name, w in want.items():
        g = got[name]
        assert g[0] == w[0], (name, g, w)
        if w[0] == "ok":
            assert_same(g[1], w[1], name)
        else:
            assert g[1] == w[1], (name, g, w)


@settings(max_examples=60, deadline=None)
@given(histories())
def test_records_path_equals_polars(history: tuple[list[Opportunity], list[StageEvent]]) -> None:
    opps, events = history
    o, e = polars_frames(opps, events)
    compare(metrics_of(o, e), metrics_of(opps, events))


@settings(max_examples=12, deadline=None)
@given(histories())
def test_records_path_equals_pandas(history: tuple[list[Opportunity], list[StageEvent]]) -> None:
    # pandas null semantics differ most (NaN, object columns); fewer examples: it is slow here
    opps, events = history
    o, e = polars_frames(opps, events)
    compare(metrics_of(o.to_pandas(), e.to_pandas()), metrics_of(opps, events))
