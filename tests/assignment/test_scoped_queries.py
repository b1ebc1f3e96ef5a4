"""The scoped store as a decorator on the backend: visibility inside the queries, the same
answers as deciding record by record, streamed writes."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_core.storage._base as base
import pipeline_core.storage._sql as sql
from pipeline_core.access import ScopedStore
from pipeline_core.records import Account, Contact, Lead, Opportunity, Role, StageEvent, Team, User
from pipeline_core.storage import InMemoryStore, SQLiteStore, ports
from pipeline_core.storage.frames import stage_events_frame

T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
PEOPLE = ("rep-a", "rep-b", "rep-c", "boss", "admin", "analyst", "gone")
# rep-a and rep-b are in team east (boss manages east), rep-c in west; "gone" is inactive.
ROLES = {
    "rep-a": Role.AE,
    "rep-b": Role.SDR,
    "rep-c": Role.AE,
    "boss": Role.MANAGER,
    "admin": Role.ADMIN,
    "analyst": Role.ANALYST,
    "gone": Role.AE,
}
TEAMS = {"rep-a": "east", "rep-b": "east", "rep-c": "west", "boss": "east", "gone": "east"}
OWNERS = (*PEOPLE, "public-pool", "stranger", None)


def _org(store: Any) -> None:
    store.teams.bulk_add(
        [Team(id="east", name="East", manager_id="boss"), Team(id="west", name="West")]
    )
    store.users.bulk_add(
        User(
            id=p,
            name=p.title(),
            role=ROLES[p],
            team_id=TEAMS.get(p),
            active=p != "gone",
        )
        for p in PEOPLE
    )


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, list[Any]]:
    """Deals, leads, accounts, contacts and stage events with owners and teams drawn from the
    org above (and from nobody known), events and contacts pointing at existing or missing
    parents."""
    n_opps = draw(st.integers(0, 8))
    opps = [
        Opportunity(
            id=f"o{i}",
            name=f"Deal {i}",
            created_at=T0,
            owner_id=draw(st.sampled_from(OWNERS[:-1])),  # a deal always has an owner
            team_id=draw(st.sampled_from(("east", "west", "north", None))),
            stage="new",
            stage_entered_at=T0,
        )
        for i in range(n_opps)
    ]
    leads = [
        Lead(id=f"l{i}", created_at=T0, source="event", owner_id=draw(st.sampled_from(OWNERS)))
        for i in range(draw(st.integers(0, 5)))
    ]
    accounts = [
        Account(id=f"a{i}", name=f"Acme {i}", created_at=T0, owner_id=draw(st.sampled_from(OWNERS)))
        for i in range(draw(st.integers(0, 4)))
    ]
    contacts = [
        Contact(
            id=f"c{i}",
            name=f"Zhang {i}",
            created_at=T0,
            account_id=draw(st.sampled_from(("a0", "a1", "a2", "a9", None))),
        )
        for i in range(draw(st.integers(0, 5)))
    ]
    events = [
        StageEvent(
            id=f"e{i}",
            opportunity_id=draw(st.sampled_from(("o0", "o1", "o2", "o3", "o9"))),
            to_stage="qualified",
            at=T0 + timedelta(minutes=draw(st.integers(0, 3))),
            by="admin",
        )
        for i in range(draw(st.integers(0, 12)))
    ]
    return {
        "opportunities": opps,
        "leads": leads,
        "accounts": accounts,
        "contacts": contacts,
        "stage_events": events,
    }


def _fill(store: Any, world: dict[str, list[Any]]) -> None:
    _org(store)
    for name, records in world.items():
        repo = getattr(store, name)
        (repo.bulk_append if name == "stage_events" else repo.bulk_add)(records)


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    made: list[Any] = []

    def make() -> Any:
        if request.param == "memory":
            store: Any = InMemoryStore()
        else:
            store = SQLiteStore(tmp_path / f"s{len(made)}.db")
        made.append(store)
        return store

    yield make
    for s in made:
        s.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=worlds(), actor=st.sampled_from(PEOPLE))
def test_visibility_in_the_query_answers_as_the_rules_decide_each_record(
    make_store: Any, world: dict[str, list[Any]], actor: str
) -> None:
    # The independent path: every stored record, kept when the actor's guard allows reading
    # it (the per-record rules of the access issue), masked as the actor sees it.
    store = make_store()
    _fill(store, world)
    scoped = ScopedStore(store, actor)
    guard = scoped._guard
    for name in (*world, "users", "teams"):
        expected = [guard.view(r) for r in getattr(store, name).all() if guard.allows("read", r)]
        assert list(getattr(scoped, name).all()) == expected, name
        assert getattr(scoped, name).count() == len(expected), name
        assert list(getattr(scoped, name).all(limit=2)) == expected[:2], name
    wanted = [
        e.id
        for e in store.stage_events.between(T0, T0 + timedelta(hours=1))
        if guard.allows("read", e)
    ]
    got = [e.id for e in scoped.stage_events.between(T0, T0 + timedelta(hours=1))]
    assert got == wanted
    frame_ids = stage_events_frame(scoped).column("id").to_pylist()
    assert frame_ids == wanted


def test_a_reps_scan_builds_only_the_records_they_see(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 30 deals, one in three owned by rep-a; 4 events each. rep-a sees 10 deals x 4 = 40 events,
    # and SQLite builds (parses) exactly those 40: the others never leave the database.
    store = SQLiteStore(tmp_path / "scan.db")
    _org(store)
    store.opportunities.bulk_add(
        Opportunity(
            id=f"o{i:02d}",
            name=f"Deal {i}",
            created_at=T0,
            owner_id="rep-a" if i % 3 == 0 else "rep-c",
            stage="new",
            stage_entered_at=T0,
        )
        for i in range(30)
    )
    store.stage_events.bulk_append(
        StageEvent(
            id=f"e{i:03d}",
            opportunity_id=f"o{i % 30:02d}",
            to_stage="qualified",
            at=T0 + timedelta(minutes=i),
            by="admin",
        )
        for i in range(120)
    )
    scoped = ScopedStore(store, "rep-a")
    built = 0
    load = sql.load_doc

    def counting(cls: Any, doc: Any) -> Any:
        nonlocal built
        built += 1
        return load(cls, doc)

    monkeypatch.setattr(sql, "load_doc", counting)
    events = list(scoped.stage_events.all())
    assert len(events) == 40
    assert built == 40
    store.close()


def test_bulk_add_through_the_scoped_store_streams_its_input() -> None:
    # Records are checked and written batch by batch inside the one transaction: when the
    # generator is asked for its 5th lead, the first two batches (of 2) are stored already.
    store = InMemoryStore()
    _org(store)
    scoped = ScopedStore(store, "rep-a")
    stored_when_asked: list[bool] = []

    def leads() -> Iterator[Lead]:
        for i in range(6):
            if i == 4:
                stored_when_asked.append(store.leads.find("l3") is not None)
            yield Lead(id=f"l{i}", created_at=T0, source="event", owner_id="rep-a")

    assert scoped.leads.bulk_add(leads(), batch_size=2) == 6
    assert stored_when_asked == [True]
    assert [lead.id for lead in scoped.leads.all()] == [f"l{i}" for i in range(6)]


def test_moved_storage_names_keep_deprecated_aliases() -> None:
    for old, new in (
        ("BaseStore", ports.BaseStore),
        ("VersionedRepository", ports.Repository),
        ("AppendOnlyLog", ports.AppendLog),
        ("OpportunityRepo", ports.OpportunityRepository),
        ("StageEventRepo", ports.StageEventLog),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert getattr(base, old) is new
        assert [w.category for w in caught] == [DeprecationWarning]
    with pytest.raises(AttributeError):
        base.NoSuchThing
