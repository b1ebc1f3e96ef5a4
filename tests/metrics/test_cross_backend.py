"""Every metric on every backend, on the same generated data, must give the same numbers.

The reference is the records path (plain Python); frames go through narwhals in their own engine.
Counts must be equal exactly; floats (rates, money sums, quantiles in days) to a relative 1e-9:
every engine computes the same exact definitions (linear-interpolation quantiles are exact on
polars, pandas, pyarrow→polars, DuckDB ``quantile_cont`` and Spark ``percentile``), so only the
last bits of float arithmetic may differ.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from metrics_support import ORDER, T0, assert_same, converters, generate, polars_frames

from pipeline_core import metrics as m

OPPS, EVENTS = generate(seed=11, n=150)
AS_OF = T0 + timedelta(days=75)


def run_all(opps: Any, events: Any) -> dict[str, Any]:
    """Every metric once (conversion and the cohort win rate are derived from the funnel result,
    which is how ``stage_conversion`` and ``win_rate(kind="cohort")`` compute them)."""
    period = {"start": T0, "end": T0 + timedelta(days=40)}
    funnel = m.cohort_funnel(
        opps, events, stages=ORDER, horizon=timedelta(days=30), by=("source",), **period
    )
    return {
        "funnel": funnel,
        "conversion": funnel.conversion(),
        "win_rate_cohort": funnel.win_rate(),
        "snapshot": m.snapshot(
            opps, events, stages=ORDER, as_of=T0 + timedelta(days=30), by=("owner_id",)
        ),
        "win_rate_snapshot": m.win_rate(
            opps, stages=ORDER, kind="snapshot", by=("owner_id",), **period
        ),
        "time_in_stage": m.time_in_stage(
            events,
            stages=ORDER,
            opportunities=opps,
            as_of=AS_OF,
            by=("owner_id",),
            quantiles=(0.25, 0.5, 0.9),
        ),
        "rotting": m.rotting(
            opps,
            events,
            stages=ORDER,
            as_of=AS_OF,
            limits={"new": timedelta(days=3), "proposal": timedelta(days=7)},
            by=("tags",),  # a multi-valued dimension: exploded in the engine
        ),
        "cycle": m.sales_cycle(
            opps, stages=ORDER, as_of=AS_OF, by=("source",), won_by=timedelta(days=30)
        ),
    }


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return run_all(OPPS, EVENTS)


BACKENDS = [
    "polars",
    "polars_lazy",
    "pandas",
    "pyarrow",
    "duckdb",
    pytest.param("spark", marks=pytest.mark.spark),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_metric_same_numbers_on_every_backend(
    backend: str, reference: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    convert = converters(request, backend)
    o, e = polars_frames(OPPS, EVENTS)
    got = run_all(convert(o), convert(e))
    assert set(got) == set(reference)
    for name, want in reference.items():
        assert_same(got[name], want, name)


def test_reference_is_not_trivial(reference: dict[str, Any]) -> None:
    # The comparison above means something only if the data exercise every branch.
    funnel = reference["funnel"].records()
    assert funnel[-1]["reached"] > 0 and funnel[-1]["reached"] < funnel[0]["cohort"]
    cyc = reference["cycle"].records()
    assert all(r["won"] > 0 and r["lost"] > 0 and r["censored"] > 0 for r in cyc)
    assert any(r["rotting"] for r in reference["rotting"].records())
    assert all(r["n"] > 0 for r in reference["time_in_stage"].records())
    assert reference["conversion"].bottlenecks()
