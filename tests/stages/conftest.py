"""Shared fixtures for the stage tests: a small pipeline, an opportunity factory, fixed instants."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline_core.ids import SequentialIds
from pipeline_core.records import Money, Opportunity
from pipeline_core.stages import Pipeline, Stage, StageAction, TransitionRules

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def simple_pipeline(**rules: bool) -> Pipeline:
    """new -> qualified (needs) -> quote (amount) -> won; any open -> lost (lost_reason)."""
    return Pipeline(
        "simple",
        "Simple",
        [
            Stage("new", "New", "新", actions=[StageAction("call", "Call", timedelta(hours=48))]),
            Stage("qualified", "Qualified", required_fields=["needs"], probability=0.3),
            Stage("quote", "Quote", required_fields=["expected_amount"], probability=0.6),
            Stage("won", "Won", kind="won"),
            Stage("lost", "Lost", kind="lost", required_fields=["lost_reason"]),
        ],
        rules=TransitionRules(**rules),
        ids=SequentialIds(),
    )


def make_opportunity(stage: str = "new", **changes: Any) -> Opportunity:
    values: dict[str, Any] = {
        "id": "opp-1",
        "name": "Acme",
        "created_at": T0,
        "owner_id": "u1",
        "stage": stage,
        "stage_entered_at": T0,
    }
    values.update(changes)
    return Opportunity(**values)


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def pipeline() -> Pipeline:
    return simple_pipeline()


@pytest.fixture
def make_pipeline() -> Callable[..., Pipeline]:
    return simple_pipeline


@pytest.fixture
def make_opp() -> Callable[..., Opportunity]:
    return make_opportunity


@pytest.fixture
def ready() -> Opportunity:
    """An opportunity at "new" that meets every field requirement."""
    return make_opportunity(
        needs="50 seats", expected_amount=Money.of("1000.00", "CNY"), lost_reason="budget cut"
    )
