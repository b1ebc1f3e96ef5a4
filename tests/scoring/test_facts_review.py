"""Review of the shared facts in scoring (issue 14): a merged duplicate is not a deal; a frame's
missing currency cells read as a row's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from pipeline_core.errors import CurrencyMismatchError
from pipeline_core.records import Lead, Money, Opportunity
from pipeline_core.scoring import BANT, examples_from_records, score_frame

T = datetime(2025, 4, 7, 9, tzinfo=UTC)


def _won(id: str, lead: str, **kw: object) -> Opportunity:
    return Opportunity(id=id, name=id, created_at=T, owner_id="rep", stage="won",
                       stage_entered_at=T + timedelta(days=3), closed_at=T + timedelta(days=3),
                       lead_id=lead, expected_amount=Money.of("5000", "CNY"), **kw)  # fmt: skip


def test_a_merged_duplicate_win_is_not_a_second_training_example() -> None:
    leads = {
        "l1": Lead(id="l1", created_at=T, source="expo", industry="retail"),
        "l2": Lead(id="l2", created_at=T, source="expo", industry="retail"),
        "l3": Lead(id="l3", created_at=T, source="web", industry="steel"),
    }
    # o1 and its duplicate o2 (the same win entered twice, then merged into o1); o3 lost.
    o1 = _won("o1", "l1")
    o2 = _won("o2", "l2", tags=frozenset({"merged"}), custom={"merged_into": "o1"})
    o3 = Opportunity(id="o3", name="o3", created_at=T, owner_id="rep", stage="lost",
                     stage_entered_at=T + timedelta(days=1), closed_at=T + timedelta(days=1),
                     lead_id="l3")  # fmt: skip
    examples = examples_from_records([o1, o2, o3], leads, won_stages=["won"], lost_stages=["lost"])
    # one won (o1) and one lost (o3): 2 examples; the duplicate would make "expo" look twice as
    # likely to win as it is
    assert sorted((e.attributes.id, e.won) for e in examples) == [("l1", True), ("l3", False)]


def _bant_frame(budget: list[float | None], currency: list[str | None]) -> pl.DataFrame:
    unknown = {k: [None] * len(budget) for k in ("authority", "need", "intent", "timeline")}
    return pl.DataFrame({"budget": budget, "currency": currency, **unknown},
                        schema_overrides=dict.fromkeys(unknown, pl.String))  # fmt: skip


@pytest.mark.parametrize("engine", ["polars", "pandas"])
def test_score_frame_reads_currency_cells_as_a_row_does(engine: str) -> None:
    model = BANT.default()
    # a blank currency cell is missing (the amount is read in the model's CNY): 120,000 is in
    # 100,000 <= b < 500,000 -> 20 points; a JPY code next to a missing budget compares nothing:
    # 0 points (budget missing), as model.score_many on the same rows gives
    frame = _bant_frame(
        [120000.0, 120000.0, None, float("nan"), 5.0], ["", " ", "JPY", "JPY", "CNY"]
    )
    data: Any = frame if engine == "polars" else frame.to_pandas()
    got = score_frame(data, model)["score"]
    expected = [20.0, 20.0, 0.0, 0.0, 5.0]
    assert list(got) == expected
    assert model.score_many(frame.to_dicts()) == expected
    # a JPY amount is still refused, naming both currencies
    with pytest.raises(CurrencyMismatchError) as err:
        score_frame(_bant_frame([120000.0], ["JPY"]), model)
    assert set(err.value.currencies) == {"CNY", "JPY"}


def test_a_negative_budget_in_a_plain_mapping_is_refused_like_money() -> None:
    """Money refuses a negative amount; a bare number given as a budget in a mapping follows the
    same rule (a typed error naming the field), where it scored 5 points before."""
    from pipeline_core.errors import ValidationError
    from pipeline_core.scoring import BANT

    model = BANT.default()
    for bad in (-5, -0.5):
        with pytest.raises(ValidationError) as info:
            model.score({"budget": bad})
        assert info.value.fields == ("budget",)
    # zero is an amount, not an error: BANT's lowest budget band (< 30,000) gives 5 points, and
    # the other four criteria are missing (0 each): 5 in all
    assert model.score({"budget": 0}).value == 5
