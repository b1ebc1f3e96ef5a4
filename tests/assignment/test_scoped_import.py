"""Importing through a ScopedStore writes what the actor may write, and refuses the rest loudly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline_core import storage
from pipeline_core.access import ScopedStore
from pipeline_core.errors import PermissionDeniedError
from pipeline_core.records import Lead, Role, Team, User
from pipeline_core.storage.io import export_records, import_records

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)


def _store() -> storage.BaseStore:
    store = storage.open("memory://")
    store.teams.bulk_add([Team(id="east", name="East"), Team(id="west", name="West")])
    store.users.bulk_add(
        [
            User(id="boss", name="Boss", role=Role.ADMIN),
            User(id="wu", name="Wu", role=Role.AE, team_id="west"),
            User(id="bob", name="Bob", role=Role.AE, team_id="east"),
        ]
    )
    return store


def _csv(tmp_path: Path) -> Path:
    source = storage.open("memory://")
    source.leads.bulk_add(
        [Lead(id=f"l{i}", created_at=T0, source="website", owner_id="bob") for i in range(5)]
    )
    path = tmp_path / "leads.csv"
    export_records(source, "lead", path)
    return path


def test_admin_import_through_scoped_store_writes_every_row(tmp_path: Path) -> None:
    store = _store()
    report = import_records(ScopedStore(store, "boss"), "lead", _csv(tmp_path))
    assert report.written == 5
    assert sorted(lead.id for lead in store.leads.all()) == [f"l{i}" for i in range(5)]


def test_rep_of_another_team_cannot_import_and_nothing_is_written(tmp_path: Path) -> None:
    store = _store()
    with pytest.raises(PermissionDeniedError):
        import_records(ScopedStore(store, "wu"), "lead", _csv(tmp_path))
    assert list(store.leads.all()) == []
