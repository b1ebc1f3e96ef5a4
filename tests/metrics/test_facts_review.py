"""Review of the shared facts in the metrics (issue 14): a merged duplicate, decided once, is the
same on records and on frames, and a blank ``merged_into`` is missing, not a merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import polars as pl
import pytest

from pipeline_core import facts
from pipeline_core import metrics as m
from pipeline_core.records import Money, Opportunity
from pipeline_core.stages import templates

T = datetime(2025, 6, 2, 9, tzinfo=UTC)
PIPE = templates.get("small_team")
PERIOD = {"start": T, "end": T + timedelta(days=7)}


def _won(id: str, **kw: Any) -> Opportunity:
    return Opportunity(id=id, name=id, created_at=T, owner_id="rep", stage="won",
                       stage_entered_at=T + timedelta(days=1), closed_at=T + timedelta(days=1),
                       expected_amount=Money.of("100", "CNY"), **kw)  # fmt: skip


# a: a plain win; b: merged (tagged by a merge, survivor not recorded); c: a custom field
# merged_into imported empty (None); d: imported as a blank text. Only b is a merged duplicate
# (is_missing: None and blank are no value), so 3 wins are counted: a, c, d.
DEALS = [
    _won("a"),
    _won("b", tags=frozenset({facts.MERGED_TAG})),
    _won("c", custom={"merged_into": None}),
    _won("d", custom={"merged_into": "  "}),
]


def test_is_merged_reads_a_missing_merged_into_as_no_merge() -> None:
    assert [facts.is_merged(d) for d in DEALS] == [False, True, False, False]


@pytest.mark.parametrize("engine", ["records", "polars", "pandas"])
def test_win_rate_counts_the_same_deals_on_records_and_frames(engine: str) -> None:
    data: Any = DEALS
    if engine != "records":
        columns = m.opportunity_columns(DEALS)
        data = pl.DataFrame(columns) if engine == "polars" else pd.DataFrame(columns)
    got = m.win_rate(data, stages=PIPE, value=False, **PERIOD).records()
    assert [(r["n"], r["won"]) for r in got] == [(3, 3)]


def test_a_blank_merged_into_cell_is_not_a_merge_in_a_frame() -> None:
    frame = pl.DataFrame({
        "id": ["x", "y", "z"], "created_at": [T] * 3, "stage": ["won"] * 3,
        "closed_at": [T + timedelta(days=1)] * 3, "merged_into": ["", " ", "x"],
    })  # fmt: skip
    # z is merged into x; the blank cells of x and y are no value: 2 wins
    got = m.win_rate(frame, stages=PIPE, value=False, **PERIOD).records()
    assert [(r["n"], r["won"]) for r in got] == [(2, 2)]
    assert m.win_rate(frame.to_pandas(), stages=PIPE, value=False, **PERIOD).rows == tuple(
        (r["n"], r["won"], r["lost"], r["rate"]) for r in got
    )
