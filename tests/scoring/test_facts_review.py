"""Review of the shared facts in scoring (issue 14): a merged duplicate is not a deal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline_core.records import Lead, Money, Opportunity
from pipeline_core.scoring import examples_from_records

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
