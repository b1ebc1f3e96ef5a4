"""The cyclic collector pause around a sync: restored on the way out, also after an error."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from pipeline_core.ingest import sync
from pipeline_core.ingest.rows import MappedRow
from pipeline_core.ingest.sync_checks import no_cycle_collection
from pipeline_core.storage import InMemoryStore

AT = datetime(2025, 6, 1, 9, tzinfo=UTC)


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_inside_and_restored(collector_on: None) -> None:
    with no_cycle_collection():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_restored_after_an_error(collector_on: None) -> None:
    with pytest.raises(RuntimeError), no_cycle_collection():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_left_off_when_it_was_off(collector_on: None) -> None:
    gc.disable()
    with no_cycle_collection():
        pass
    assert not gc.isenabled()


def test_sync_pauses_and_restores(collector_on: None) -> None:
    seen: list[bool] = []

    def rows() -> Iterator[MappedRow]:
        seen.append(gc.isenabled())
        yield MappedRow(2, {"id": "L1", "created_at": AT, "source": "website"}, (), None)

    report = sync(InMemoryStore(), "lead", rows(), by="importer", at=AT)
    assert report.added == 1
    assert seen == [False]
    assert gc.isenabled()


def test_sync_restores_after_a_storage_error(collector_on: None) -> None:
    def rows() -> Iterator[MappedRow]:
        yield MappedRow(2, {"id": "L1", "created_at": AT, "source": "website"}, (), None)
        raise OSError("the file went away")

    with pytest.raises(OSError):
        sync(InMemoryStore(), "lead", rows(), by="importer", at=AT)
    assert gc.isenabled()
