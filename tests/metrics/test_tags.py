"""Grouping by a multi-valued dimension (``tags``): an opportunity counts once in each of its tags'
groups and in the ``None`` group when it has none, the same on records and on frames (list column
exploded in the engine)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from metrics_support import ORDER, T0, assert_same, converters, generate, polars_frames

from pipeline_core import metrics as m

OPPS, EVENTS = generate(seed=21, n=120)
AS_OF = T0 + timedelta(days=75)
PERIOD = {"start": T0, "end": T0 + timedelta(days=45)}


def by_tags(opps: Any, events: Any) -> dict[str, Any]:
    by = ("tags",)
    return {
        "funnel": m.cohort_funnel(opps, events, stages=ORDER, by=by, **PERIOD),
        "snapshot": m.snapshot(opps, events, stages=ORDER, as_of=AS_OF, by=by),
        "win": m.win_rate(opps, stages=ORDER, by=("owner_id", "tags"), **PERIOD),
        "tis": m.time_in_stage(events, stages=ORDER, opportunities=opps, by=by),
        "rotting": m.rotting(
            opps, events, stages=ORDER, as_of=AS_OF, limits={"new": timedelta(days=4)}, by=by
        ),
        "cycle": m.sales_cycle(opps, stages=ORDER, as_of=AS_OF, by=by),
        "weighted": m.weighted_forecast(
            opps,
            stages=ORDER,
            probabilities={"new": 0.1, "qualified": 0.3, "proposal": 0.5, "negotiation": 0.7},
            by=by,
        ),
    }


def test_tag_groups_on_records() -> None:
    f = by_tags(OPPS, EVENTS)["funnel"]
    cohort = [o for o in OPPS if T0 <= o.created_at < PERIOD["end"]]
    for tag in ("vip", "smb", "urgent", None):
        members = [o for o in cohort if (tag in o.tags if tag else not o.tags)]
        assert f.where(tags=tag, stage="new")[0]["cohort"] == len(members) > 0
    # an opportunity with two tags is in both groups: the groups add up to more than the cohort
    assert sum(r["cohort"] for r in f.where(stage="new")) > len(cohort)


@pytest.mark.parametrize("backend", ["polars", "polars_lazy", "pandas", "pyarrow", "duckdb"])
def test_tag_groups_same_on_frames(backend: str, request: pytest.FixtureRequest) -> None:
    convert = converters(request, backend)
    o, e = polars_frames(OPPS, EVENTS)
    want = by_tags(OPPS, EVENTS)
    got = by_tags(convert(o), convert(e))
    for name, w in want.items():
        assert_same(got[name], w, name)
