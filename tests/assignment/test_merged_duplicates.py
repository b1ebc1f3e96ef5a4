"""A merged duplicate is closed, leaves the open list, and no metric counts it."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest

from pipeline_core import facts, storage
from pipeline_core import metrics as m
from pipeline_core.assignment import PoolPolicy, apply_merge, pool_reason
from pipeline_core.identity import plan_merge
from pipeline_core.ids import SequentialIds
from pipeline_core.records import Money, Opportunity
from pipeline_core.stages import templates

T0 = datetime(2025, 9, 1, 9, tzinfo=UTC)
PIPE = templates.get("small_team")


def twins() -> tuple[Opportunity, Opportunity]:
    """Two reps entered the same 50 000 CNY deal (proposal_quote p=0.5 / first_contact)."""
    a = Opportunity(
        id="q-1",
        name="Delta Mills",
        created_at=T0,
        owner_id="kim",
        stage="proposal_quote",
        stage_entered_at=T0,
        expected_amount=Money.of("50000", "CNY"),
    )
    later = T0 + timedelta(hours=3)
    b = Opportunity(
        id="q-2",
        name="Delta Mills",
        created_at=later,
        owner_id="raj",
        stage="first_contact",
        stage_entered_at=later,
        expected_amount=Money.of("50000", "CNY"),
    )
    return a, b


@pytest.mark.parametrize("url", ["memory://", "sqlite://"])
def test_after_a_merge_one_deal_is_open_and_counted(url: str) -> None:
    a, b = twins()
    store = storage.open(url)
    store.opportunities.bulk_add([a, b])
    plan = plan_merge([a, b], at=T0 + timedelta(days=1), by="boss", ids=SequentialIds())
    apply_merge(store, plan)

    assert [o.id for o in store.opportunities.open()] == ["q-1"]
    dup = store.opportunities.get("q-2")
    assert facts.is_merged(dup) and facts.deal_status(dup, PIPE) == "merged"
    assert dup.closed_at == T0 + timedelta(days=1) and dup.stage == "first_contact"

    stored = list(store.opportunities.all())
    row = m.weighted_forecast(stored, stages=PIPE).records()[0]
    # one real deal: pipeline 50 000, weighted 50 000 x 0.5 (proposal_quote) = 25 000
    assert (row["open"], row["pipeline"]) == (1, 50_000.0)
    assert row["weighted"] == pytest.approx(25_000.0)


def test_store_frames_leave_the_merged_duplicate_out_too() -> None:
    pytest.importorskip("polars")
    from pipeline_core.storage.frames import opportunities_frame

    a, b = twins()
    store = storage.open("sqlite://")
    store.opportunities.bulk_add([a, b])
    apply_merge(
        store, plan_merge([a, b], at=T0 + timedelta(days=1), by="boss", ids=SequentialIds())
    )
    frame = opportunities_frame(store, backend="polars")
    assert frame["merged_into"].to_list() == [None, "q-1"]
    row = m.weighted_forecast(frame, stages=PIPE).records()[0]
    assert (row["open"], row["pipeline"]) == (1, 50_000.0)


def test_pool_nurtures_only_deals_in_a_lost_stage() -> None:
    policy = PoolPolicy.from_dict({"idle_days": 30, "nurture_lost_reasons": ["timing"]})
    now = T0 + timedelta(days=60)
    base = {
        "name": "x",
        "created_at": T0,
        "owner_id": "kim",
        "stage_entered_at": T0,
        "closed_at": T0 + timedelta(days=5),
        "lost_reason": "timing",
    }
    lost = Opportunity(id="p-1", stage="lost", **base)
    won_with_old_note = Opportunity(id="p-2", stage="won", **base)
    assert pool_reason(lost, as_of=now, policy=policy, stages=PIPE) == (
        "lost (timing) but worth nurturing"
    )
    assert pool_reason(won_with_old_note, as_of=now, policy=policy, stages=PIPE) is None
    merged = lost.evolve(id="p-3", tags=frozenset({"merged"}), custom={"merged_into": "p-1"})
    assert pool_reason(merged, as_of=now, policy=policy, stages=PIPE) is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert pool_reason(lost, as_of=now, policy=policy) == "lost (timing) but worth nurturing"
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
