"""The one contract suite every storage adapter passes: in-memory, SQLite, PostgreSQL, and yours.

Install the ``testing`` extra (``pip install 'pipeline-core[testing]'``: pytest and
hypothesis), subclass :class:`StoreContract` in a test module whose name pytest collects and give
it a ``store`` fixture that yields a fresh, empty store (and cleans up afterwards)::

    import pytest

    from pipeline_core.storage import InMemoryStore
    from pipeline_core.testing.storage_contract import StoreContract


    class TestMyStore(StoreContract):
        allows_nul = True  # False if the backend cannot store "\\x00" in text

        @pytest.fixture
        def store(self):
            s = InMemoryStore()  # your store here: fresh and empty for every test
            yield s
            s.close()

A database adapter should also override :meth:`StoreContract.connect` to open a second
connection to the same data, so that the race tests run over two connections.

Every test uses only the public port (:mod:`pipeline_core.storage.ports`), so a store that passes
behaves like the built-in ones: optimistic concurrency (two writers of one version: exactly one
wins, from two threads), idempotent append-only logs, all-or-nothing units of work and bulk writes,
and the same answers, in the same order, to every query.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_core.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from pipeline_core.records import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    JournalEntry,
    Lead,
    Money,
    NextStep,
    Opportunity,
    Role,
    SlaOutcome,
    StageEvent,
    Team,
    User,
)
from pipeline_core.storage.ports import Store, UnitOfWork
from pipeline_core.testing import strategies as pcst

__all__ = ["T0", "StoreContract", "make_opportunity"]

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
"""The base instant of the contract's example records."""

HOSTILE_TEXTS: tuple[str, ...] = (
    'O\'Brien "Quoted" `back` \\ slash',
    "'; DROP TABLE opportunities; --",
    "Robert'); DELETE FROM stage_events WHERE ('1'='1",
    "%s %(name)s ? :name $1 {0}",
    "emoji 😀👍🏽 and 北京某某科技有限公司 and עברית and Ünïcödé",
    "line\nbreaks\r\nand\ttabs",
    "a literal \\u0000 and \\x00 are not NUL",
    "x" * 100_000,
)
"""Text that has broken storage code before: quotes, SQL, placeholders, emoji, CJK, 100 KB."""


def make_opportunity(i: int | str, **changes: Any) -> Opportunity:
    """A valid open opportunity ``opp-<i>`` created at :data:`T0`; ``changes`` override fields."""
    values: dict[str, Any] = {
        "id": f"opp-{i}",
        "name": f"Deal {i}",
        "created_at": T0,
        "owner_id": "u1",
        "stage": "new",
        "stage_entered_at": T0,
        "team_id": "t1",
        "expected_amount": Money.of("1000.50", "CNY"),
    }
    values.update(changes)
    return Opportunity(**values)


def _lead(i: int | str, **changes: Any) -> Lead:
    values: dict[str, Any] = {"id": f"lead-{i}", "created_at": T0, "source": "website"}
    values.update(changes)
    return Lead(**values)


def _event(i: int | str, opp: str = "opp-1", **changes: Any) -> StageEvent:
    values: dict[str, Any] = {
        "id": f"ev-{i}",
        "opportunity_id": opp,
        "to_stage": "qualified",
        "from_stage": "new",
        "at": T0,
        "by": "u1",
    }
    values.update(changes)
    return StageEvent(**values)


def _activity(i: int | str, **changes: Any) -> Activity:
    values: dict[str, Any] = {
        "id": f"act-{i}",
        "kind": ActivityKind.CALL,
        "at": T0,
        "owner_id": "u1",
        "opportunity_id": "opp-1",
    }
    values.update(changes)
    return Activity(**values)


def _journal(i: int | str, **changes: Any) -> JournalEntry:
    values: dict[str, Any] = {
        "id": f"j-{i}",
        "kind": "transfer",
        "subject_id": "opp-1",
        "at": T0,
        "by": "u1",
        "payload": {"from": "u1", "to": "u2"},
    }
    values.update(changes)
    return JournalEntry(**values)


def _sla(i: int | str, **changes: Any) -> SlaOutcome:
    values: dict[str, Any] = {
        "id": f"sla-{i}",
        "rule": "first_touch",
        "target": "first_touch",
        "subject_kind": "lead",
        "subject_id": "lead-1",
        "started_at": T0,
        "due_at": T0 + timedelta(hours=4),
        "met": True,
        "elapsed_seconds": 600.0,
        "owner_id": "u1",
    }
    values.update(changes)
    return SlaOutcome(**values)


def _one_of_each() -> dict[str, Any]:
    return {
        "leads": _lead(1, budget=Money.of(5000, "USD"), tags=frozenset({"vip"})),
        "opportunities": make_opportunity(1, tags=frozenset({"vip", "q1"}), custom={"x": 1}),
        "accounts": Account(id="acc-1", name="北京某某科技有限公司", created_at=T0, owner_id="u1"),
        "contacts": Contact(id="c-1", name="张三", created_at=T0, account_id="acc-1"),
        "users": User(id="u1", name="Wang Fang", role=Role.AE, team_id="t1"),
        "teams": Team(id="t1", name="East", parent_id="t0"),
        "sla_outcomes": _sla(1),
    }


_VERSIONED = ("leads", "opportunities", "accounts", "contacts", "users", "teams", "sla_outcomes")
_LOGS = ("stage_events", "activities", "journal")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _ids(records: Iterator[Any]) -> list[str]:
    return [r.id for r in records]


def _race(saves: list[tuple[Store, Opportunity]]) -> dict[int, str]:
    """Run ``store.opportunities.save(record)`` for each pair at once, one thread each (released
    together by a barrier); ``{index: "won" | "conflict" | the unexpected error}``."""
    barrier = threading.Barrier(len(saves), timeout=60)
    outcomes: dict[int, str] = {}

    def run(i: int, store: Store, record: Opportunity) -> None:
        try:
            barrier.wait()
            store.opportunities.save(record)
            outcomes[i] = "won"
        except ConcurrencyError:
            outcomes[i] = "conflict"
        except BaseException as exc:  # reported by the assertion, not lost in the thread
            outcomes[i] = repr(exc)

    threads = [
        threading.Thread(target=run, args=(i, s, r), daemon=True) for i, (s, r) in enumerate(saves)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return outcomes


class StoreContract:
    """The storage contract. Subclass it with a ``store`` fixture yielding a fresh empty store."""

    allows_nul: ClassVar[bool] = True
    """Whether the backend can store the NUL character in text (PostgreSQL cannot)."""

    def connect(self, store: Store) -> Store | None:
        """A second connection to the data of ``store`` (closed by the test), or ``None``: the
        race tests then run on ``store`` itself from two threads. Override it for a database
        adapter (the built-in SQLite and PostgreSQL contracts do)."""
        return None

    # ------------------------------------------------------------------ the port itself

    def test_store_implements_the_port(self, store: Store) -> None:
        assert isinstance(store, Store)
        with store.unit_of_work() as uow:
            assert isinstance(uow, UnitOfWork)

    # ------------------------------------------------------------------ versioned repositories

    @pytest.mark.parametrize("name", _VERSIONED)
    def test_add_then_get_returns_an_equal_record(self, store: Store, name: str) -> None:
        record = _one_of_each()[name]
        repo = getattr(store, name)
        repo.add(record)
        assert repo.get(record.id) == record
        assert repo.find(record.id) == record
        assert repo.count() == 1
        assert list(repo.all()) == [record]

    @pytest.mark.parametrize("name", [*_VERSIONED, *_LOGS])
    def test_missing_record(self, store: Store, name: str) -> None:
        repo = getattr(store, name)
        assert repo.find("nope") is None
        with pytest.raises(NotFoundError) as info:
            repo.get("nope")
        assert info.value.key == "nope"

    def test_add_twice_is_a_duplicate_and_keeps_the_first(self, store: Store) -> None:
        first = make_opportunity(1)
        store.opportunities.add(first)
        with pytest.raises(DuplicateError):
            store.opportunities.add(make_opportunity(1, name="Other"))
        assert store.opportunities.get("opp-1") == first

    def test_save_next_version(self, store: Store) -> None:
        store.opportunities.add(make_opportunity(1))
        v2 = store.opportunities.get("opp-1").evolve(stage="qualified")
        store.opportunities.save(v2)
        got = store.opportunities.get("opp-1")
        assert got == v2
        assert got.version == 2

    def test_stale_save_raises_and_writes_nothing(self, store: Store) -> None:
        store.opportunities.add(make_opportunity(1))
        alice = store.opportunities.get("opp-1")
        bob = store.opportunities.get("opp-1")
        store.opportunities.save(alice.evolve(stage="qualified"))
        with pytest.raises(ConcurrencyError) as info:
            store.opportunities.save(bob.evolve(stage="lost", tags=frozenset({"bob"})))
        assert (info.value.expected, info.value.actual) == (1, 2)
        assert info.value.key == "opp-1"
        got = store.opportunities.get("opp-1")
        assert got.stage == "qualified"
        assert list(store.opportunities.by_tag("bob")) == []

    def test_two_saves_of_one_version_have_exactly_one_winner(self, store: Store) -> None:
        # Two writers (threads, each on its own connection when the adapter gives one) load
        # version 1 and save their version 2 at the same moment, ten times over: each time
        # exactly one save is stored, the other raises ConcurrencyError (optimistic concurrency).
        second = self.connect(store)
        stores = [store, second if second is not None else store]
        try:
            for round_ in range(10):
                store.opportunities.add(make_opportunity(f"race-{round_}"))
                outcomes = _race(
                    [
                        (s, s.opportunities.get(f"opp-race-{round_}").evolve(stage=f"writer {i}"))
                        for i, s in enumerate(stores)
                    ]
                )
                assert sorted(outcomes.values()) == ["conflict", "won"], outcomes
                winner = next(i for i, o in outcomes.items() if o == "won")
                got = store.opportunities.get(f"opp-race-{round_}")
                assert (got.version, got.stage) == (2, f"writer {winner}")
        finally:
            if second is not None:
                second.close()

    def test_save_skipping_a_version_is_a_conflict(self, store: Store) -> None:
        store.opportunities.add(make_opportunity(1))
        v3 = store.opportunities.get("opp-1").evolve(stage="a").evolve(stage="b")
        with pytest.raises(ConcurrencyError) as info:
            store.opportunities.save(v3)
        assert (info.value.expected, info.value.actual) == (2, 1)
        assert store.opportunities.get("opp-1").version == 1

    def test_save_of_a_record_never_added(self, store: Store) -> None:
        with pytest.raises(NotFoundError):
            store.opportunities.save(make_opportunity(1).evolve(stage="b"))
        assert store.opportunities.count() == 0

    def test_wrong_record_type_is_refused(self, store: Store) -> None:
        with pytest.raises(TypeError):
            store.opportunities.add(_lead(1))  # type: ignore[arg-type]
        assert store.opportunities.count() == 0

    def test_bulk_add_with_progress(self, store: Store) -> None:
        seen: list[int] = []
        n = store.opportunities.bulk_add(
            (make_opportunity(i) for i in range(25)), batch_size=10, progress=seen.append
        )
        assert n == 25
        assert seen == [10, 20, 25]
        assert store.opportunities.count() == 25

    def test_bulk_add_is_all_or_nothing(self, store: Store) -> None:
        store.opportunities.add(make_opportunity(7))
        with pytest.raises(DuplicateError):
            store.opportunities.bulk_add((make_opportunity(i) for i in range(20)), batch_size=4)
        assert store.opportunities.count() == 1
        with pytest.raises(DuplicateError):
            store.opportunities.bulk_add([make_opportunity(100), make_opportunity(100)])
        assert store.opportunities.count() == 1

    def test_bulk_add_rejects_a_bad_batch_size(self, store: Store) -> None:
        with pytest.raises(ValueError):
            store.opportunities.bulk_add([make_opportunity(1)], batch_size=0)

    # ------------------------------------------------------------------ append-only logs

    @pytest.mark.parametrize(
        ("name", "make"),
        [("stage_events", _event), ("activities", _activity), ("journal", _journal)],
    )
    def test_append_is_idempotent_on_id(self, store: Store, name: str, make: Any) -> None:
        log = getattr(store, name)
        entry = make(1)
        assert log.append(entry) is True
        assert log.append(make(1)) is False
        assert log.count() == 1
        assert log.get(entry.id) == entry

    @pytest.mark.parametrize(
        ("name", "make", "change"),
        [
            ("stage_events", _event, {"to_stage": "won"}),
            ("activities", _activity, {"notes": "changed"}),
            ("journal", _journal, {"payload": {"from": "u1", "to": "u3"}}),
        ],
    )
    def test_append_conflicting_content_is_refused(
        self, store: Store, name: str, make: Any, change: dict[str, Any]
    ) -> None:
        log = getattr(store, name)
        original = make(1)
        log.append(original)
        with pytest.raises(DuplicateError):
            log.append(make(1, **change))
        assert log.get(original.id) == original

    def test_bulk_append_skips_repeats_and_counts_new(self, store: Store) -> None:
        store.stage_events.append(_event(1))
        seen: list[int] = []
        new = store.stage_events.bulk_append(
            [_event(0), _event(1), _event(2), _event(2), _event(3)],
            batch_size=2,
            progress=seen.append,
        )
        assert new == 3
        assert seen == [2, 4, 5]
        assert _ids(store.stage_events.all()) == ["ev-0", "ev-1", "ev-2", "ev-3"]

    def test_bulk_append_conflict_writes_nothing(self, store: Store) -> None:
        store.stage_events.append(_event(5))
        with pytest.raises(DuplicateError):
            store.stage_events.bulk_append(
                [_event(i) for i in range(4)] + [_event(5, to_stage="won")], batch_size=2
            )
        assert _ids(store.stage_events.all()) == ["ev-5"]

    # ------------------------------------------------------------------ unit of work

    def test_unit_of_work_commits_every_repository_together(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.opportunities.add(make_opportunity(1))
            uow.stage_events.append(_event(1))
            uow.journal.append(_journal(1))
            assert uow.opportunities.get("opp-1").id == "opp-1"  # reads see own writes
        assert store.opportunities.count() == 1
        assert store.stage_events.count() == 1
        assert store.journal.count() == 1

    def test_unit_of_work_rolls_back_on_exception(self, store: Store) -> None:
        store.opportunities.add(make_opportunity(1))
        opp = store.opportunities.get("opp-1")

        def fail_half_way() -> None:
            with store.unit_of_work() as uow:
                uow.opportunities.save(opp.evolve(stage="qualified"))
                uow.opportunities.add(make_opportunity(2))
                uow.stage_events.append(_event(1))
                uow.leads.bulk_add([_lead(i) for i in range(5)])
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            fail_half_way()
        assert store.opportunities.get("opp-1") == opp
        assert store.opportunities.count() == 1
        assert store.stage_events.count() == 0
        assert store.leads.count() == 0
        # The store is usable afterwards.
        store.opportunities.save(opp.evolve(stage="qualified"))
        assert store.opportunities.get("opp-1").version == 2

    def test_failed_write_inside_a_unit_of_work_leaves_the_rest(self, store: Store) -> None:
        store.opportunities.add(make_opportunity(1))
        stale = store.opportunities.get("opp-1")
        store.opportunities.save(stale.evolve(stage="qualified"))
        with store.unit_of_work() as uow:
            uow.stage_events.append(_event(1))
            with pytest.raises(ConcurrencyError):
                uow.opportunities.save(stale.evolve(stage="lost"))
            with pytest.raises(DuplicateError):
                uow.leads.bulk_add([_lead(1), _lead(2), _lead(1)])
            uow.journal.append(_journal(1))
        assert store.stage_events.count() == 1
        assert store.journal.count() == 1
        assert store.leads.count() == 0
        assert store.opportunities.get("opp-1").stage == "qualified"

    # ------------------------------------------------------------------ queries

    def test_open_opportunities_by_owner_and_team(self, store: Store) -> None:
        store.opportunities.bulk_add(
            [
                make_opportunity(1, owner_id="u1", team_id="t1"),
                make_opportunity(2, owner_id="u2", team_id="t1"),
                make_opportunity(3, owner_id="u1", team_id="t2"),
                make_opportunity(4, owner_id="u1", team_id="t1", stage="won", closed_at=T0),
                make_opportunity(5, owner_id="u1", team_id=None),
            ]
        )
        opps = store.opportunities
        assert _ids(opps.open()) == ["opp-1", "opp-2", "opp-3", "opp-5"]
        assert _ids(opps.open(owner_id="u1")) == ["opp-1", "opp-3", "opp-5"]
        assert _ids(opps.open(team_id="t1")) == ["opp-1", "opp-2"]
        assert _ids(opps.open(owner_id="u1", team_id="t1")) == ["opp-1"]
        assert _ids(opps.by_owner("u1")) == ["opp-1", "opp-3", "opp-4", "opp-5"]
        assert _ids(opps.by_owner("u1", include_closed=False)) == ["opp-1", "opp-3", "opp-5"]
        assert _ids(opps.by_team("t1")) == ["opp-1", "opp-2", "opp-4"]
        assert _ids(opps.by_team("t1", include_closed=False)) == ["opp-1", "opp-2"]
        assert _ids(opps.by_stage("won")) == ["opp-4"]
        assert _ids(opps.open(limit=2)) == ["opp-1", "opp-2"]

    def test_closing_an_opportunity_removes_it_from_open(self, store: Store) -> None:
        store.opportunities.add(make_opportunity(1))
        opp = store.opportunities.get("opp-1")
        store.opportunities.save(opp.evolve(stage="lost", closed_at=T0 + timedelta(days=1)))
        assert list(store.opportunities.open()) == []

    def test_due_by_orders_by_due_time_and_skips_closed(self, store: Store) -> None:
        def due(hours: int) -> NextStep:
            return NextStep(action="call", due_at=T0 + timedelta(hours=hours))

        store.opportunities.bulk_add(
            [
                make_opportunity("a", next_step=due(5)),
                make_opportunity("b", next_step=due(1)),
                make_opportunity("c", next_step=due(5)),
                make_opportunity("d", next_step=due(9)),
                make_opportunity("e"),
                make_opportunity("f", next_step=due(0), closed_at=T0, stage="won"),
                make_opportunity("g", next_step=due(2), owner_id="u2"),
            ]
        )
        t = T0 + timedelta(hours=5)
        assert _ids(store.opportunities.due_by(t)) == ["opp-b", "opp-g", "opp-a", "opp-c"]
        assert _ids(store.opportunities.due_by(t, owner_id="u2")) == ["opp-g"]
        assert _ids(store.opportunities.due_by(t, limit=1)) == ["opp-b"]
        # Another offset, same instant: the comparison is by instant.
        shanghai = t.astimezone(ZoneInfo("Asia/Shanghai"))
        assert _ids(store.opportunities.due_by(shanghai)) == ["opp-b", "opp-g", "opp-a", "opp-c"]

    def test_naive_query_times_are_refused(self, store: Store) -> None:
        naive = datetime(2025, 1, 1)  # noqa: DTZ001 - the point of the test
        with pytest.raises(ValidationError):
            store.opportunities.due_by(naive)
        with pytest.raises(ValidationError):
            store.stage_events.between(naive, T0)

    def test_tags_follow_saves(self, store: Store) -> None:
        store.opportunities.add(make_opportunity(1, tags=frozenset({"vip", "q1"})))
        store.opportunities.add(make_opportunity(2, tags=frozenset({"q1"})))
        assert _ids(store.opportunities.by_tag("q1")) == ["opp-1", "opp-2"]
        opp = store.opportunities.get("opp-1")
        store.opportunities.save(opp.evolve(tags=frozenset({"vip"})))
        assert _ids(store.opportunities.by_tag("q1")) == ["opp-2"]
        assert _ids(store.opportunities.by_tag("vip")) == ["opp-1"]
        assert list(store.opportunities.by_tag("none")) == []

    def test_lead_account_contact_user_team_queries(self, store: Store) -> None:
        store.leads.bulk_add(
            [
                _lead(1, owner_id="u1", next_step=NextStep(action="x", due_at=T0)),
                _lead(2, owner_id="u2", tags=frozenset({"hot"})),
                _lead(3, owner_id="u1", next_step=NextStep(action="x", due_at=T0 - timedelta(1))),
            ]
        )
        assert _ids(store.leads.by_owner("u1")) == ["lead-1", "lead-3"]
        assert _ids(store.leads.by_tag("hot")) == ["lead-2"]
        assert _ids(store.leads.due_by(T0)) == ["lead-3", "lead-1"]
        store.accounts.add(Account(id="a1", name="A", created_at=T0, owner_id="u1"))
        store.accounts.add(
            Account(id="a2", name="B", created_at=T0, owner_id="u2", tags=frozenset({"k"}))
        )
        assert _ids(store.accounts.by_owner("u2")) == ["a2"]
        assert _ids(store.accounts.by_tag("k")) == ["a2"]
        store.contacts.add(Contact(id="c1", name="X", created_at=T0, account_id="a1"))
        store.contacts.add(Contact(id="c2", name="Y", created_at=T0, account_id="a2"))
        assert _ids(store.contacts.by_account("a1")) == ["c1"]
        store.users.add(User(id="u1", name="U", role=Role.AE, team_id="t1"))
        store.users.add(User(id="u2", name="V", role=Role.SDR, team_id="t2"))
        assert _ids(store.users.by_team("t2")) == ["u2"]
        store.teams.add(Team(id="t1", name="A", parent_id="t0"))
        store.teams.add(Team(id="t2", name="B"))
        assert _ids(store.teams.children("t0")) == ["t1"]

    def test_events_in_a_time_range_are_half_open_and_ordered(self, store: Store) -> None:
        at = [T0 + timedelta(minutes=m) for m in (30, 0, 10, 10, 20)]
        store.stage_events.bulk_append(
            [_event(i, opp="opp-1" if i % 2 else "opp-2", at=a) for i, a in enumerate(at)]
        )
        got = _ids(store.stage_events.between(T0, T0 + timedelta(minutes=30)))
        assert got == ["ev-1", "ev-2", "ev-3", "ev-4"]
        assert _ids(store.stage_events.for_opportunity("opp-1")) == ["ev-1", "ev-3"]
        assert _ids(store.stage_events.between(T0, T0 + timedelta(minutes=30), limit=2)) == [
            "ev-1",
            "ev-2",
        ]

    def test_events_at_one_instant_come_in_seq_order(self, store: Store) -> None:
        # Three moves of one deal within one microsecond-exact instant, written with ids whose
        # alphabetical order is the reverse of the order they were made in: the store gives them
        # back by (at, seq), the event order of pipeline_core.facts, never by id.
        same = T0 + timedelta(microseconds=400_123)
        store.stage_events.bulk_append(
            [
                _event("c", at=same, seq=2, from_stage="new", to_stage="qualified"),
                _event("b", at=same, seq=3, from_stage="qualified", to_stage="quote"),
                _event("a", at=same, seq=4, from_stage="quote", to_stage="won"),
                _event("z", at=T0, seq=1, from_stage=None, to_stage="new"),
            ]
        )
        expected = ["ev-z", "ev-c", "ev-b", "ev-a"]
        assert _ids(store.stage_events.for_opportunity("opp-1")) == expected
        assert _ids(store.stage_events.between(T0, T0 + timedelta(seconds=1))) == expected
        assert [e.seq for e in store.stage_events.for_opportunity("opp-1")] == [1, 2, 3, 4]
        # keyset pages of two resume after (at, seq, id), not after id
        first = _ids(store.stage_events.between(T0, T0 + timedelta(seconds=1), limit=2))
        assert first == ["ev-z", "ev-c"]
        from pipeline_core.storage.ports import Query

        # the page after ev-c (at=same, seq=2): ev-b (seq 3) and ev-a (seq 4); resuming after
        # the id "ev-c" alone would give nothing ("ev-a" and "ev-b" sort before it)
        events_table = store.stage_events.table
        resume = Query(events_table, order=("at", "seq"), after=(same, 2, "ev-c"), limit=2)
        assert _ids(store.backend.stream(resume)) == ["ev-b", "ev-a"]

    def test_a_merged_duplicate_leaves_the_open_list(self, store: Store) -> None:
        from pipeline_core.identity.merge import plan_merge
        from pipeline_core.ids import SequentialIds

        a = make_opportunity(1)
        later = T0 + timedelta(hours=1)
        b = make_opportunity(2, created_at=later, stage_entered_at=later, owner_id="u2")
        store.opportunities.bulk_add([a, b])
        plan = plan_merge([a, b], at=T0 + timedelta(days=1), by="mgr", ids=SequentialIds())
        with store.unit_of_work() as uow:
            uow.opportunities.save(plan.survivor)
            for m in plan.merged:
                uow.opportunities.save(m)
        assert _ids(store.opportunities.open()) == ["opp-1"]
        kept = store.opportunities.get("opp-2")
        assert kept.closed_at == T0 + timedelta(days=1)
        assert kept.custom["merged_into"] == "opp-1"

    def test_activity_queries(self, store: Store) -> None:
        store.activities.bulk_append(
            [
                _activity(1, at=T0 + timedelta(hours=2), tags=frozenset({"demo"})),
                _activity(2, at=T0, opportunity_id=None, lead_id="lead-1", owner_id="u2"),
                _activity(3, at=T0 + timedelta(hours=1), opportunity_id=None, account_id="opp-1"),
            ]
        )
        assert _ids(store.activities.for_subject("opp-1")) == ["act-3", "act-1"]
        assert _ids(store.activities.for_subject("lead-1")) == ["act-2"]
        assert _ids(store.activities.by_owner("u1")) == ["act-3", "act-1"]
        window = (T0, T0 + timedelta(hours=2))
        assert _ids(store.activities.between(*window)) == ["act-2", "act-3"]
        assert _ids(store.activities.between(*window, owner_id="u2")) == ["act-2"]
        assert _ids(store.activities.by_tag("demo")) == ["act-1"]

    def test_journal_queries(self, store: Store) -> None:
        store.journal.bulk_append(
            [
                _journal(1, at=T0 + timedelta(days=1)),
                _journal(2, at=T0, kind="merge"),
                _journal(3, at=T0 + timedelta(days=2), subject_id="opp-2"),
                _journal(4, at=T0 + timedelta(days=3), kind="pool_return"),
            ]
        )
        assert _ids(store.journal.for_subject("opp-1")) == ["j-2", "j-1", "j-4"]
        assert _ids(store.journal.for_subject("opp-1", kind="transfer")) == ["j-1"]
        assert _ids(store.journal.by_kind("transfer")) == ["j-1", "j-3"]
        assert _ids(store.journal.by_kind("transfer", start=T0 + timedelta(days=2))) == ["j-3"]
        assert _ids(store.journal.by_kind("transfer", end=T0 + timedelta(days=2))) == ["j-1"]

    def test_sla_outcome_queries(self, store: Store) -> None:
        store.sla_outcomes.bulk_add(
            [
                _sla(1, due_at=T0 + timedelta(hours=3)),
                _sla(2, due_at=T0 + timedelta(hours=1), owner_id="u2"),
                _sla(3, subject_id="lead-2"),
            ]
        )
        assert _ids(store.sla_outcomes.for_subject("lead-1")) == ["sla-2", "sla-1"]
        window = (T0, T0 + timedelta(hours=4))
        assert _ids(store.sla_outcomes.due_between(*window)) == ["sla-2", "sla-1"]
        assert _ids(store.sla_outcomes.due_between(*window, owner_id="u2")) == ["sla-2"]

    def test_streaming_and_keyset_pages_cover_everything_once(self, store: Store) -> None:
        n = 2_600  # more than one internal page of the SQL adapters
        due = NextStep(action="call", due_at=T0)  # all equal: the order falls back to id
        store.opportunities.bulk_add(
            (make_opportunity(f"{i:05d}", next_step=due) for i in range(n)), batch_size=1_000
        )
        expected = [f"opp-{i:05d}" for i in range(n)]
        assert _ids(store.opportunities.due_by(T0)) == expected
        pages: list[str] = []
        after: str | None = None
        while True:
            page = _ids(store.opportunities.all(after=after, limit=700))
            if not page:
                break
            pages += page
            after = page[-1]
        assert pages == expected
        assert _ids(store.opportunities.due_by(T0, limit=2_100)) == expected[:2_100]

    def test_negative_limit_is_refused(self, store: Store) -> None:
        with pytest.raises(ValueError):
            store.opportunities.open(limit=-1)

    # ------------------------------------------------------------------ content survives

    @pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=lambda t: repr(t[:12]))
    def test_hostile_text_survives(self, store: Store, text: str) -> None:
        opp = make_opportunity(1, name=text[:300], needs=text, tags=frozenset({text[:100]}))
        store.opportunities.add(opp)
        act = _activity(1, notes=text)
        store.activities.append(act)
        assert store.opportunities.get("opp-1") == opp
        assert store.activities.get("act-1") == act
        assert _ids(store.opportunities.by_tag(text[:100])) == ["opp-1"]
        assert store.opportunities.count() == 1  # nothing dropped, nothing injected
        lead = _lead(
            1,
            source=text[:64],
            company=text[:300],
            contact_name=text[:300],
            industry=text[:2_000],
            region=text[:2_000],
            needs=text,
            pain_points=(text[:300],),
            owner_id="u1",
            disqualified_reason=text[:2_000],
            next_step=NextStep(action=text[:2_000], due_at=T0),
            tags=frozenset({text[:100]}),
            custom={text[:100]: text[:10_000]},
        )
        store.leads.add(lead)
        assert store.leads.get("lead-1") == lead
        entry = _journal(1, reason=text[:2_000], payload={text[:50]: [text, {"k": text}]})
        store.journal.append(entry)
        assert store.journal.get("j-1") == entry
        assert store.journal.append(entry) is False

    def test_nul_either_survives_or_is_refused_clearly(self, store: Store) -> None:
        # Records refuse NUL in text themselves (PostgreSQL cannot store it), so every adapter
        # holds the same values; an adapter that cannot store NUL (``allows_nul = False``) must
        # still refuse it clearly if a record holding one reaches it some other way.
        with pytest.raises(ValidationError) as info:
            make_opportunity(1, needs="before\x00after")
        assert "needs" in info.value.fields
        assert store.opportunities.count() == 0

    def test_amounts_and_offsets_survive_exactly(self, store: Store) -> None:
        plus8 = datetime(2025, 3, 1, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
        opp = make_opportunity(
            1,
            created_at=plus8,
            stage_entered_at=plus8,
            expected_amount=Money.of(Decimal("123456789012345678.10"), "CNY"),
            probability=0.1,
        )
        store.opportunities.add(opp)
        got = store.opportunities.get("opp-1")
        assert got == opp
        assert got.expected_amount is not None
        assert str(got.expected_amount.amount) == "123456789012345678.10"
        assert got.created_at.utcoffset() == timedelta(hours=8)

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,  # one suite, one subclass per adapter: intended
        ],
    )
    @given(data=st.data())
    def test_any_record_round_trips(self, store: Store, data: st.DataObject) -> None:
        name, strategy = data.draw(
            st.sampled_from(
                [
                    ("leads", pcst.leads()),
                    ("opportunities", pcst.opportunities()),
                    ("accounts", pcst.accounts()),
                    ("contacts", pcst.contacts()),
                    ("users", pcst.users()),
                    ("teams", pcst.teams()),
                    ("sla_outcomes", pcst.sla_outcomes()),
                    ("stage_events", pcst.stage_events()),
                    ("activities", pcst.activities()),
                    ("journal", pcst.journal_entries()),
                ]
            )
        )
        drawn: Any = data.draw(strategy)
        # A fresh id per example: the store lives across examples (and replays).
        record: Any = type(drawn).from_dict(
            {**drawn.to_dict(), "id": f"{uuid.uuid4().hex}-{drawn.id}"}
        )
        repo = getattr(store, name)
        write = repo.append if name in _LOGS else repo.add
        if not self.allows_nul and _has_nul(record.to_dict()):
            with pytest.raises(ValidationError):
                write(record)
            assert repo.find(record.id) is None
            return
        write(record)
        assert repo.get(record.id) == record

    # ------------------------------------------------------------------ scoped reads

    def test_a_scoped_store_reads_only_what_the_actor_may_read(self, store: Store) -> None:
        # A ScopedStore decorates this store's backend: its visibility reaches the adapter as
        # conditions the typed queries never send (``in`` owners, ``any`` of owner or team,
        # ``in_table`` through the parent deal or account), in ``stream`` and ``columns``.
        from pipeline_core.access import ScopedStore
        from pipeline_core.storage.ports import Query, Table

        store.teams.bulk_add(
            [Team(id="east", name="East", manager_id="m1"), Team(id="west", name="West")]
        )
        store.users.bulk_add(
            [
                User(id="m1", name="Mia", role=Role.MANAGER, team_id="east"),
                User(id="a1", name="Ann", role=Role.AE, team_id="east"),
                User(id="a2", name="Al", role=Role.AE, team_id="east"),
                User(id="b1", name="Bob", role=Role.AE, team_id="west"),
            ]
        )
        deals = [("a1", "east"), ("a2", "east"), ("b1", "west"), ("a1", "west"), ("b1", "east")]
        store.opportunities.bulk_add(
            [make_opportunity(i, owner_id=o, team_id=t) for i, (o, t) in enumerate(deals)]
        )
        store.stage_events.bulk_append(
            [
                _event(f"{i}-{h}", opp=f"opp-{i}", at=T0 + timedelta(hours=h))
                for i in range(len(deals))
                for h in range(2)
            ]
        )
        store.accounts.bulk_add(
            [Account(id=f"acc-{u}", name=u, created_at=T0, owner_id=u) for u in ("a1", "b1")]
        )
        store.contacts.bulk_add(
            [
                Contact(id=f"con-{u}", name=u, created_at=T0, account_id=f"acc-{u}")
                for u in ("a1", "b1")
            ]
        )
        hour = T0 + timedelta(hours=1)
        # A rep reads their own deals (opp-0, opp-3) and, through them, their events; a manager
        # of east reads the deals of east's people (a1, a2, m1) or filed under east (opp-4).
        for actor, opps in (("a1", [0, 3]), ("m1", [0, 1, 3, 4]), ("b1", [2, 4])):
            scoped = ScopedStore(store, actor)
            assert _ids(scoped.opportunities.all()) == [f"opp-{i}" for i in opps], actor
            assert _ids(scoped.opportunities.open()) == [f"opp-{i}" for i in opps], actor
            events = [f"ev-{i}-{h}" for h in range(2) for i in opps]  # by at, then id
            assert _ids(scoped.stage_events.between(T0, T0 + timedelta(days=1))) == events
            assert _ids(scoped.stage_events.between(hour, T0 + timedelta(days=1))) == [
                f"ev-{i}-1" for i in opps
            ]
            assert _ids(scoped.stage_events.between(T0, hour, limit=1)) == [f"ev-{opps[0]}-0"]
            assert scoped.stage_events.count() == 2 * len(opps)
            assert scoped.opportunities.count() == len(opps)
            events_table: Table = store.stage_events.table
            rows = [
                row[0]
                for batch in scoped.backend.columns(Query(events_table, order=("at",)), ["id"])
                for row in batch
            ]
            assert rows == events, actor
        rep = ScopedStore(store, "a1")
        assert _ids(rep.contacts.all()) == ["con-a1"]  # through the account a1 owns
        assert rep.opportunities.find("opp-2") is None
        assert _ids(rep.stage_events.for_opportunity("opp-2")) == []

    # ------------------------------------------------------------------ lifecycle

    def test_closed_store_refuses_work(self, store: Store) -> None:
        store.close()
        with pytest.raises(StorageError):
            store.opportunities.add(make_opportunity(1))
        # ... reads too: a closed store never answers as if it were empty
        with pytest.raises(StorageError):
            store.opportunities.find("opp-1")
        with pytest.raises(StorageError):
            list(store.opportunities.all())
        with pytest.raises(StorageError):
            store.opportunities.count()
