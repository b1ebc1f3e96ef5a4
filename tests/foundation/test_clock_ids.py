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


def test_uuid_ids_are_version_4_uuids_and_unique() -> None:
    import uuid

    ids = UuidIds()
    drawn = [ids.new("event") for _ in range(3 * 256 + 7)]  # several refills of the pool
    assert len(set(drawn)) == len(drawn)
    for text in drawn:
        kind, _, hexpart = text.partition("_")
        value = uuid.UUID(hex=hexpart)
        assert kind == "event" and value.hex == hexpart
        assert value.version == 4 and value.variant == uuid.RFC_4122


def test_uuid_ids_copies_and_pickles_do_not_share_unused_ids() -> None:
    import copy
    import pickle

    ids = UuidIds()
    ids.new("x")  # fills the pool
    for twin in (copy.copy(ids), copy.deepcopy(ids), pickle.loads(pickle.dumps(ids))):
        assert isinstance(twin, UuidIds)
        assert twin.new("x") != ids.new("x")


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork (POSIX)")
def test_uuid_ids_forked_child_does_not_repeat_the_parents_ids() -> None:
    import os

    ids = UuidIds()
    ids.new("x")  # the pool now holds ids the parent has not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, ids.new("x").encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 200).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child.startswith("x_") and child != ids.new("x")
