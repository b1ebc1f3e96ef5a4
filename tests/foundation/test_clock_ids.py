"""Injected time and ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.clock import Clock, ManualClock, SystemClock, require_aware
from pipeline_core.errors import ValidationError
from pipeline_core.ids import IdFactory, SeededIds, SequentialIds, UuidIds

START = datetime(2025, 1, 6, 9, tzinfo=UTC)


def test_system_clock_is_aware_and_a_clock() -> None:
    clock = SystemClock()
    assert isinstance(clock, Clock)
    assert clock.now().tzinfo is not None


@given(st.lists(st.timedeltas(timedelta(0), timedelta(days=30)), max_size=20))
def test_manual_clock_moves_only_forward_by_what_it_is_told(steps: list[timedelta]) -> None:
    clock = ManualClock(START)
    for step in steps:
        before = clock.now()
        assert clock.advance(step) == before + step
    assert clock.now() == START + sum(steps, timedelta(0))


def test_manual_clock_refuses_naive_and_backwards() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        ManualClock(datetime(2025, 1, 1))
    clock = ManualClock(START)
    with pytest.raises(ValidationError):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValidationError):
        clock.set(START - timedelta(seconds=1))
    assert clock.now() == START


def test_require_aware() -> None:
    assert require_aware(START) is START
    with pytest.raises(ValidationError) as info:
        require_aware(datetime(2025, 1, 1), "due_at")
    assert info.value.fields == ("due_at",)


@given(st.integers(0, 2**32))
def test_seeded_ids_repeat_for_a_seed_and_never_within_a_run(seed: int) -> None:
    a, b = SeededIds(seed), SeededIds(seed)
    first = [a.new("lead") for _ in range(50)]
    assert first == [b.new("lead") for _ in range(50)]
    assert len(set(first)) == 50
    assert all(x.startswith("lead_") for x in first)


def test_sequential_ids_count_per_kind() -> None:
    ids = SequentialIds()
    assert [ids.new("lead"), ids.new("lead"), ids.new("event")] == [
        "lead-000001",
        "lead-000002",
        "event-000001",
    ]
    assert isinstance(ids, IdFactory) and isinstance(UuidIds(), IdFactory)
    assert UuidIds().new("x") != UuidIds().new("x")
