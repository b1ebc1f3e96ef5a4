"""A newcomer's review of the storage surface: a third-party adapter written from
docs/storage.md alone, held to the shipped contract suite; the deprecated aliases; a closed
store on every adapter."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from pipeline_core import storage
from pipeline_core._model import Record
from pipeline_core.errors import ConcurrencyError, DuplicateError, NotFoundError, StorageError
from pipeline_core.storage.ports import Backend, BaseStore, Cond, Query, Table
from pipeline_core.testing.storage_contract import StoreContract, make_opportunity


class _DictBackend(Backend):
    """A third party's backend, written from the docs: dictionaries, a copy per savepoint."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, Record]] = {}
        self.saved: dict[str, dict[str, dict[str, Record]]] = {}

    def _copy(self) -> dict[str, dict[str, Record]]:
        return {name: dict(rows) for name, rows in self.rows.items()}

    def _begin(self) -> None:
        self.saved = {"": self._copy()}

    def _commit(self) -> None:
        self.saved = {}

    def _rollback(self) -> None:
        self.rows = self.saved.pop("")

    def _savepoint(self, name: str) -> None:
        self.saved[name] = self._copy()

    def _release(self, name: str) -> None:
        self.saved.pop(name, None)

    def _rollback_to(self, name: str) -> None:
        self.rows = self.saved.pop(name)

    def _table(self, table: Table) -> dict[str, Record]:
        if self.closed:
            raise StorageError("closed")
        return self.rows.setdefault(table.name, {})

    def get(self, table: Table, id: str) -> Record | None:
        return self._table(table).get(id)

    def insert(self, table: Table, records: Sequence[Record]) -> None:
        rows = self._table(table)
        for r in records:
            if r.id in rows:  # type: ignore[attr-defined]
                raise DuplicateError(f"{r.id} exists")  # type: ignore[attr-defined]
            rows[r.id] = r  # type: ignore[attr-defined]

    def update(self, table: Table, record: Record) -> None:
        rows = self._table(table)
        id: str = record.id  # type: ignore[attr-defined]
        stored = rows.get(id)
        if stored is None:
            raise NotFoundError(table.kind, id)
        expected = record.version - 1  # type: ignore[attr-defined]
        if stored.version != expected:  # type: ignore[attr-defined]
            raise ConcurrencyError(
                table.kind,
                id,
                expected=expected,
                actual=stored.version,  # type: ignore[attr-defined]
            )
        rows[id] = record

    def meets(self, table: Table, r: Any, c: Cond) -> bool:
        """The conditions as the docstring of ``Cond`` describes them."""
        if c.op == "any":
            return any(self.meets(table, r, s) for s in c.sub)
        if c.op == "tag":
            return c.value in r.tags
        if c.op == "in_any":
            return any(table.column(n).get(r) == c.value for n in c.columns)
        v = r.id if c.column == "id" else table.column(c.column).get(r)
        if c.op == "in":
            return v in c.value
        if c.op == "in_table":
            assert c.table is not None
            parent = None if v is None else self.get(c.table, v)
            return parent is not None and all(self.meets(c.table, parent, s) for s in c.sub)
        if c.op == "is_null":
            return v is None
        if v is None:
            return False
        if c.op == "=":
            return bool(v == c.value)
        if c.op == "<=":
            return bool(v <= c.value)
        if c.op == "<":
            return bool(v < c.value)
        return bool(v >= c.value)

    def stream(self, query: Query) -> Iterator[Record]:
        t = query.table

        def key(r: Any) -> tuple[Any, ...]:
            return (*(t.column(n).get(r) for n in query.order), r.id)

        rows = sorted(
            (r for r in self._table(t).values() if all(self.meets(t, r, c) for c in query.where)),
            key=key,
        )
        if query.after is not None:
            rows = [r for r in rows if key(r) > query.after]
        return iter(rows if query.limit is None else rows[: query.limit])

    def count(self, table: Table) -> int:
        return len(self._table(table))

    def close(self) -> None:
        self.rows = {}


class _CarelessBackend(_DictBackend):
    """Right on every query the typed repositories send; but it ignores the conditions only a
    scoped store adds (``in``, ``any``, ``in_table``): a rep would see every record."""

    def meets(self, table: Table, r: Any, c: Cond) -> bool:
        if c.op in ("in", "any", "in_table"):
            return True
        return super().meets(table, r, c)


class _DictStore(BaseStore):
    def __init__(self, backend: Backend | None = None) -> None:
        super().__init__(backend or _DictBackend(), "dict://")


class TestThirdPartyAdapter(StoreContract):
    """The docstring example of the contract suite, with a third party's store."""

    @pytest.fixture
    def store(self) -> Iterator[Any]:
        s = _DictStore()
        yield s
        s.close()


def test_the_contract_catches_an_adapter_that_ignores_the_scoped_conditions() -> None:
    # Before: the careless adapter passed every contract test, and a ScopedStore over it showed
    # a rep the whole store. The contract now reads through a scoped store too.
    contract = StoreContract()
    contract.test_a_scoped_store_reads_only_what_the_actor_may_read(_DictStore())  # honest: passes
    with pytest.raises(AssertionError):
        contract.test_a_scoped_store_reads_only_what_the_actor_may_read(
            _DictStore(_CarelessBackend())
        )


@pytest.mark.parametrize("url", ["memory://", "sqlite://"])
def test_a_closed_store_refuses_reads_too(url: str) -> None:
    # Store.close(): "the store cannot be used afterwards". SQLite and PostgreSQL refused reads
    # after close with StorageError; the memory store answered as if empty (None, [], 0).
    s = storage.open(url)
    s.opportunities.add(make_opportunity(1))
    s.close()
    with pytest.raises(StorageError):
        s.opportunities.find("opp-1")
    with pytest.raises(StorageError):
        list(s.opportunities.all())
    with pytest.raises(StorageError):
        s.opportunities.count()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("LeadRepo", "LeadRepository"),
        ("OpportunityRepo", "OpportunityRepository"),
        ("StageEventRepo", "StageEventLog"),
        ("JournalRepo", "JournalLog"),
        ("VersionedRepository", "Repository"),
        ("AppendOnlyLog", "AppendLog"),
        ("BaseStore", "BaseStore"),
    ],
)
def test_deprecated_aliases_warn_and_still_work(old: str, new: str) -> None:
    from pipeline_core.storage import _base, ports

    with pytest.warns(DeprecationWarning, match=f"ports.{new}"):
        alias = getattr(_base, old)
    assert alias is getattr(ports, new)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        s = storage.open("memory://")
        assert isinstance(s, _base.BaseStore)
        assert isinstance(s.leads, _base.LeadRepo)
        s.close()


def test_a_wrong_record_type_is_one_of_the_librarys_errors() -> None:
    """An activity given to the deals is refused with a typed error (still a ``TypeError``)."""
    from datetime import UTC, datetime

    from pipeline_core import storage
    from pipeline_core.errors import PipelineCoreError, RecordTypeError
    from pipeline_core.records import Lead

    store = storage.open("memory://")
    lead = Lead(id="l1", created_at=datetime(2025, 1, 6, tzinfo=UTC), source="web")
    with pytest.raises(RecordTypeError) as info:
        store.opportunities.add(lead)  # type: ignore[arg-type]
    assert isinstance(info.value, PipelineCoreError) and isinstance(info.value, TypeError)
    assert "Opportunity" in str(info.value) and "Lead" in str(info.value)
    assert store.opportunities.count() == 0
