"""The storage contract, writes: the port itself, versioned saves and their races, append-only
logs, bulk writes and units of work (internal to :mod:`pipeline_core.testing.storage_contract`)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_core.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFoundError,
)
from pipeline_core.storage.ports import Store, UnitOfWork
from pipeline_core.testing._contract_data import (
    LOGS,
    VERSIONED,
    ContractBase,
    ids_of,
    make_activity,
    make_event,
    make_journal,
    make_lead,
    make_opportunity,
    one_of_each,
    race,
)

__all__ = ["WritesContract"]


class WritesContract(ContractBase):
    """The write half of :class:`~pipeline_core.testing.storage_contract.StoreContract`."""

    # ------------------------------------------------------------------ the port itself

    def test_store_implements_the_port(self, store: Store) -> None:
        assert isinstance(store, Store)
        with store.unit_of_work() as uow:
            assert isinstance(uow, UnitOfWork)

    # ------------------------------------------------------------------ versioned repositories

    @pytest.mark.parametrize("name", VERSIONED)
    def test_add_then_get_returns_an_equal_record(self, store: Store, name: str) -> None:
        record = one_of_each()[name]
        repo = getattr(store, name)
        repo.add(record)
        assert repo.get(record.id) == record
        assert repo.find(record.id) == record
        assert repo.count() == 1
        assert list(repo.all()) == [record]

    @pytest.mark.parametrize("name", [*VERSIONED, *LOGS])
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
                outcomes = race(
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
            store.opportunities.add(make_lead(1))  # type: ignore[arg-type]
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
        [("stage_events", make_event), ("activities", make_activity), ("journal", make_journal)],
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
            ("stage_events", make_event, {"to_stage": "won"}),
            ("activities", make_activity, {"notes": "changed"}),
            ("journal", make_journal, {"payload": {"from": "u1", "to": "u3"}}),
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
        store.stage_events.append(make_event(1))
        seen: list[int] = []
        new = store.stage_events.bulk_append(
            [make_event(0), make_event(1), make_event(2), make_event(2), make_event(3)],
            batch_size=2,
            progress=seen.append,
        )
        assert new == 3
        assert seen == [2, 4, 5]
        assert ids_of(store.stage_events.all()) == ["ev-0", "ev-1", "ev-2", "ev-3"]

    def test_bulk_append_conflict_writes_nothing(self, store: Store) -> None:
        store.stage_events.append(make_event(5))
        with pytest.raises(DuplicateError):
            store.stage_events.bulk_append(
                [make_event(i) for i in range(4)] + [make_event(5, to_stage="won")], batch_size=2
            )
        assert ids_of(store.stage_events.all()) == ["ev-5"]

    # ------------------------------------------------------------------ unit of work

    def test_unit_of_work_commits_every_repository_together(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.opportunities.add(make_opportunity(1))
            uow.stage_events.append(make_event(1))
            uow.journal.append(make_journal(1))
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
                uow.stage_events.append(make_event(1))
                uow.leads.bulk_add([make_lead(i) for i in range(5)])
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
            uow.stage_events.append(make_event(1))
            with pytest.raises(ConcurrencyError):
                uow.opportunities.save(stale.evolve(stage="lost"))
            with pytest.raises(DuplicateError):
                uow.leads.bulk_add([make_lead(1), make_lead(2), make_lead(1)])
            uow.journal.append(make_journal(1))
        assert store.stage_events.count() == 1
        assert store.journal.count() == 1
        assert store.leads.count() == 0
        assert store.opportunities.get("opp-1").stage == "qualified"
