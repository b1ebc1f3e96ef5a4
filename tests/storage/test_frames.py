"""Frames read straight from the store's columns: same frame from every adapter."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from pipeline_core.records import Money, NextStep, StageEvent
from pipeline_core.storage import InMemoryStore
from pipeline_core.storage.frames import opportunities_frame, stage_events_frame
from pipeline_core.testing.storage_contract import T0, make_opportunity

pa = pytest.importorskip("pyarrow")


def _fill(store: Any) -> None:
    store.opportunities.bulk_add(
        [
            make_opportunity(
                i,
                owner_id=f"u{i % 3}",
                expected_amount=Money.of(Decimal(f"{i}.25"), "CNY") if i % 4 else None,
                next_step=NextStep(action="call", due_at=T0 + timedelta(hours=i))
                if i % 2
                else None,
                closed_at=T0 + timedelta(days=1) if i % 5 == 0 else None,
                stage="won" if i % 5 == 0 else "new",
                probability=0.5 if i % 3 else None,
                name=f"Deal '{i}', \"quoted\"" if i == 7 else f"Deal {i}",
            )
            if i != 8
            else make_opportunity(i, name="多行\nname, with comma")
            for i in range(1, 21)
        ]
    )
    store.stage_events.bulk_append(
        StageEvent(
            id=f"ev-{i:03d}",
            opportunity_id=f"opp-{i % 20 + 1}",
            from_stage=None if i % 7 == 0 else "new",
            to_stage="qualified",
            at=T0 + timedelta(minutes=37 * i),
            by="u1",
            reason="" if i == 3 else None,
        )
        for i in range(100)
    )


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def filled(request: pytest.FixtureRequest) -> Any:
    store = request.getfixturevalue(f"{request.param}_store")
    _fill(store)
    return store


@pytest.fixture(scope="module")
def reference() -> Any:
    store = InMemoryStore()
    _fill(store)
    return store


def test_every_adapter_gives_the_same_frames(filled: Any, reference: Any) -> None:
    assert stage_events_frame(filled).equals(stage_events_frame(reference))
    assert opportunities_frame(filled).equals(opportunities_frame(reference))
    assert opportunities_frame(filled, open_only=True).equals(
        opportunities_frame(reference, open_only=True)
    )
    start, end = T0 + timedelta(hours=3), T0 + timedelta(hours=20)
    assert stage_events_frame(filled, start=start, end=end).equals(
        stage_events_frame(reference, start=start, end=end)
    )


def test_reference_frames_hold_the_records_values(reference: Any) -> None:
    events = stage_events_frame(reference)
    assert events.num_rows == 100
    assert events.schema.field("at").type == pa.timestamp("us", tz="UTC")
    ats = events.column("at").to_pylist()
    assert ats == sorted(ats)
    assert ats[0] == T0
    assert events.column("from_stage").null_count == len(range(0, 100, 7))
    opps = opportunities_frame(reference)
    assert opps.column("id").to_pylist() == sorted(f"opp-{i}" for i in range(1, 21))
    by_id = {r["id"]: r for r in opps.to_pylist()}
    assert by_id["opp-6"]["expected_amount"] == Decimal("6.25")
    assert by_id["opp-4"]["expected_amount"] is None
    assert by_id["opp-7"]["name"] == "Deal '7', \"quoted\""
    assert by_id["opp-8"]["name"] == "多行\nname, with comma"
    assert by_id["opp-3"]["due_at"] == T0 + timedelta(hours=3)
    open_ids = opportunities_frame(reference, open_only=True).column("id").to_pylist()
    assert len(open_ids) == 16
    window = stage_events_frame(reference, start=T0, end=T0 + timedelta(minutes=37 * 10))
    assert window.num_rows == 10


def test_sql_frames_build_no_records(filled: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    if isinstance(filled, InMemoryStore):
        pytest.skip("the in-memory store holds records already")
    import pipeline_core.storage._base as base
    import pipeline_core.storage._sql as sql

    def refuse(*args: Any) -> Any:
        raise AssertionError("a record was built")

    monkeypatch.setattr(sql, "load_doc", refuse)
    monkeypatch.setattr(base, "load_doc", refuse)
    assert stage_events_frame(filled).num_rows == 100
    assert opportunities_frame(filled).num_rows == 20


@pytest.mark.parametrize("backend", ["pandas", "polars"])
def test_pandas_and_polars_outputs(reference: Any, backend: str) -> None:
    pytest.importorskip(backend)
    frame = stage_events_frame(reference, backend=backend)  # type: ignore[arg-type]
    assert len(frame) == 100
    assert list(frame.columns) == [
        "id",
        "opportunity_id",
        "from_stage",
        "to_stage",
        "at",
        "seq",
        "by",
        "pipeline",
    ]


def test_unknown_backend(reference: Any) -> None:
    with pytest.raises(ValueError, match="backend"):
        stage_events_frame(reference, backend="excel")  # type: ignore[arg-type]
