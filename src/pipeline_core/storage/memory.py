"""The in-memory store: plain dictionaries, held to the same contract as the databases.

Good for tests, notebooks and small data. Transactions keep an undo log, so a unit of work that
raises leaves the dictionaries exactly as before. Streamed queries read a sorted snapshot taken
when the query starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pipeline_core._model import Record
from pipeline_core.errors import ConcurrencyError, DuplicateError, NotFoundError, StorageError
from pipeline_core.storage._base import TABLES, Backend, Cond, Query, Table
from pipeline_core.storage.ports import BaseStore

__all__ = ["InMemoryStore"]

_MISSING: Any = object()


def _matches(record: Record, table: Table, cond: Cond) -> bool:
    if cond.op == "any":
        return any(_matches(record, table, c) for c in cond.sub)
    if cond.op == "in":
        return (record.id if cond.column == "id" else table.column(cond.column).get(record)) in (  # type: ignore[attr-defined]
            cond.value
        )
    if cond.op == "tag":
        return cond.value in record.tags  # type: ignore[attr-defined]
    if cond.op == "in_any":
        return any(table.column(c).get(record) == cond.value for c in cond.columns)
    value = table.column(cond.column).get(record)
    if cond.op == "is_null":
        return value is None
    if value is None:
        return False
    if cond.op == "=":
        return bool(value == cond.value)
    if cond.op == "<=":
        return bool(value <= cond.value)
    if cond.op == "<":
        return bool(value < cond.value)
    return bool(value >= cond.value)


class _MemoryBackend(Backend):
    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, dict[str, Record]] = {t.name: {} for t in TABLES}
        self.undo: list[tuple[str, str, Record]] = []
        self.marks: dict[str, int] = {}

    def _begin(self) -> None:
        self.undo = []

    def _commit(self) -> None:
        self.undo = []

    def _undo_to(self, mark: int) -> None:
        while len(self.undo) > mark:
            table, id, previous = self.undo.pop()
            if previous is _MISSING:
                del self.data[table][id]
            else:
                self.data[table][id] = previous

    def _rollback(self) -> None:
        self._undo_to(0)

    def _savepoint(self, name: str) -> None:
        self.marks[name] = len(self.undo)

    def _release(self, name: str) -> None:
        self.marks.pop(name, None)

    def _rollback_to(self, name: str) -> None:
        self._undo_to(self.marks.pop(name))

    def _put(self, table: Table, record: Record) -> None:
        rows = self.data[table.name]
        id = record.id  # type: ignore[attr-defined]
        self.undo.append((table.name, id, rows.get(id, _MISSING)))
        rows[id] = record

    def _rows(self, table: Table) -> dict[str, Record]:
        # A closed store refuses reads as the databases do (never answers as if empty).
        if self.closed:
            raise StorageError("the store is closed")
        return self.data[table.name]

    def get(self, table: Table, id: str) -> Record | None:
        with self.lock:
            return self._rows(table).get(id)

    def insert(self, table: Table, records: Sequence[Record]) -> None:
        rows = self.data[table.name]
        seen: set[str] = set()
        for r in records:
            id = r.id  # type: ignore[attr-defined]
            if id in rows or id in seen:
                raise DuplicateError(f"{table.kind} {id!r} already exists")
            seen.add(id)
        for r in records:
            self._put(table, r)

    def update(self, table: Table, record: Record) -> None:
        id = record.id  # type: ignore[attr-defined]
        stored = self.data[table.name].get(id)
        if stored is None:
            raise NotFoundError(table.kind, id)
        expected = record.version - 1  # type: ignore[attr-defined]
        actual = stored.version  # type: ignore[attr-defined]
        if actual != expected:
            raise ConcurrencyError(table.kind, id, expected=expected, actual=actual)
        self._put(table, record)

    def _resolve(self, cond: Cond) -> Cond:
        # A parent condition (in_table) becomes the set of the parent ids that meet it.
        if cond.op == "any":
            return Cond("any", sub=tuple(self._resolve(c) for c in cond.sub))
        if cond.op != "in_table" or cond.table is None:
            return cond
        parent = cond.table
        where = [self._resolve(c) for c in cond.sub]
        ids = frozenset(
            id
            for id, r in self.data[parent.name].items()
            if all(_matches(r, parent, c) for c in where)
        )
        return Cond("in", cond.column, ids)

    def stream(self, query: Query) -> Iterator[Record]:
        table = query.table
        with self.lock:
            where = [self._resolve(c) for c in query.where]
            rows = [
                r for r in self._rows(table).values() if all(_matches(r, table, c) for c in where)
            ]
        getters = [table.column(c).get for c in query.order]

        def key(r: Record) -> tuple[Any, ...]:
            return (*(g(r) for g in getters), r.id)  # type: ignore[attr-defined]

        keyed = sorted(((key(r), r) for r in rows), key=lambda kr: kr[0])
        if query.after is not None:
            after = query.after
            keyed = [kr for kr in keyed if kr[0] > after]
        if query.limit is not None:
            keyed = keyed[: query.limit]
        return iter([r for _, r in keyed])

    def count(self, table: Table) -> int:
        with self.lock:
            return len(self._rows(table))

    def close(self) -> None:
        self.data = {t.name: {} for t in TABLES}


class InMemoryStore(BaseStore):
    """A store in plain dictionaries (``memory://``); nothing survives ``close()``."""

    def __init__(self) -> None:
        super().__init__(_MemoryBackend(), "memory://")
