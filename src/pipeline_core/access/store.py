"""Access enforcement on a store: :class:`ScopedStore` filters every read and checks every write.

``ScopedStore(store, actor, policy)`` is itself a :class:`~pipeline_core.storage.ports.Store`, so
everything written against the port (engines, exports, the CLI) runs unchanged, seeing only what
the actor may see:

- ``get`` of a record the actor may not read raises :class:`~pipeline_core.errors.NotFoundError`
  and ``find`` returns ``None`` (the record does not exist for them); every query, ``all`` and
  ``count`` skip such records (``limit`` counts visible records only);
- every write (``add``, ``save``, ``bulk_add``, ``append``, ``bulk_append``, in or outside a unit
  of work) the actor may not make raises :class:`~pipeline_core.errors.PermissionDeniedError`
  before anything is written; a ``save`` needs write access to both the stored version and the
  new one (a rep cannot take over another rep's record, nor give one away out of scope), and a
  new or changed owner must be the actor or within their write scope, a deal's new or changed
  ``team_id`` one of the actor's teams (all-scope writers excepted); claiming
  from the public pool (stored owner = the pool, new owner = the actor) is allowed to readers,
  and releasing a writable record into the pool is allowed to its writers;
- records are returned masked for actors whose grant masks contact details (analysts), and such
  actors may not write leads or contacts (they would overwrite the real details with masks);
- :meth:`ScopedStore.export` streams plain data of visible records and needs the export grant;
  so does :meth:`ScopedStore.collection`, through which
  :func:`pipeline_core.storage.io.export_records` reads (it then exports visible, masked records).

Records without an owner are decided through their parent: a contact through its account, a stage
event through its opportunity, an activity through its lead/opportunity/account (or its author),
a journal entry through its subject (entries about anything else need ``all`` scope). Users and
teams form the directory: any active actor may read them; only ``all``-scope writers may change
them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from pipeline_core._model import Record
from pipeline_core.access.guard import Guard
from pipeline_core.access.policy import AccessPolicy, Directory, Scope
from pipeline_core.access.subjects import EXPORTABLE
from pipeline_core.assignment.pool import (
    PoolPolicy,
)
from pipeline_core.clock import Clock, SystemClock
from pipeline_core.errors import (
    ConfigError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
)
from pipeline_core.ids import IdFactory, UuidIds
from pipeline_core.records import (
    JournalEntry,
    Lead,
    Opportunity,
    User,
)
from pipeline_core.storage._base import (
    JOURNAL,
    Backend,
    Query,
    Table,
)
from pipeline_core.storage.ports import AppendLog, BaseStore, Repository, Store

__all__ = ["ScopedBackend", "ScopedStore"]


def _delegated() -> NotImplementedError:
    return NotImplementedError(
        "a scoped backend's transactions are its inner backend's: use atomic(), which runs them"
    )


class ScopedBackend(Backend):
    """The access rules as a decorator on another store's backend: every read primitive answers
    only what the actor may read (visibility inside the query where the rules can say it as
    conditions, record by record otherwise), every write primitive checks what comes in before
    it reaches the inner backend. Transactions are the inner backend's."""

    def __init__(self, inner: Backend, guard: Guard) -> None:
        super().__init__()
        self.inner = inner
        self.guard = guard
        self.lock = inner.lock

    # transactions: the inner backend's ------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """The inner backend's transaction (or savepoint)."""
        with self.inner.atomic():
            yield

    # atomic() above delegates whole: the steps a transaction is made of are never run here
    def _begin(self) -> None:
        raise _delegated()

    def _commit(self) -> None:
        raise _delegated()

    def _rollback(self) -> None:
        raise _delegated()

    def _savepoint(self, name: str) -> None:
        raise _delegated()

    def _release(self, name: str) -> None:
        raise _delegated()

    def _rollback_to(self, name: str) -> None:
        raise _delegated()

    def serialise(self, key: str) -> None:
        """The inner backend's (see :meth:`pipeline_core.storage._base.Backend.serialise`)."""
        self.inner.serialise(key)

    def close(self) -> None:
        """Nothing to release: the inner store belongs to its owner."""

    # reads -------------------------------------------------------------------------------------

    def get(self, table: Table, id: str) -> Record | None:
        record = self.inner.get(table, id)
        if record is None or not self.guard.allows("read", record):
            return None
        return self.guard.view(record)

    def _visible(self, query: Query) -> tuple[Query, bool]:
        # The query with the actor's visibility added, and whether those conditions are exact
        # (else every record they let through is still decided by `allows`).
        conds, exact = self.guard.visibility(query.table)
        if not conds:
            return query, exact
        return replace(query, where=(*query.where, *conds)), exact

    def _readable(self, query: Query) -> Iterator[Record]:
        # The records of `query` the actor may read, as stored (not yet masked).
        scoped, exact = self._visible(query)
        if exact:
            return self.inner.stream(scoped)
        candidates = self.inner.stream(replace(scoped, limit=None))
        records: Iterator[Record] = (r for r in candidates if self.guard.allows("read", r))
        if query.limit is not None:
            records = itertools.islice(records, query.limit)
        return records

    def stream(self, query: Query) -> Iterator[Record]:
        records = self._readable(query)
        return map(self.guard.view, records) if self.guard.mask else records

    def count(self, table: Table) -> int:
        if self.guard.grant.read is Scope.ALL:
            return self.inner.count(table)
        return sum(1 for _ in self._readable(Query(table)))  # counted unmasked: same number

    def columns(self, query: Query, names: Sequence[str]) -> Iterator[list[tuple[Any, ...]]]:
        scoped, exact = self._visible(query)
        if exact and not self.guard.mask:
            return self.inner.columns(scoped, names)
        return super().columns(query, names)  # from the visible (masked) records

    # writes ------------------------------------------------------------------------------------

    def insert(self, table: Table, records: Sequence[Record]) -> None:
        for r in records:
            self.guard.check_new(r, self.inner.get(table, r.id), table.kind)  # type: ignore[attr-defined]
        self.inner.insert(table, records)

    def update(self, table: Table, record: Record) -> None:
        guard = self.guard
        stored = self.inner.get(table, record.id)  # type: ignore[attr-defined]
        move = guard.pool_move(record, stored)
        if move is None:
            guard.check_save(record, stored, table.kind)
            self.inner.update(table, record)
            return
        # A claim or release: limits counted and the move written in the one transaction the
        # repository opened (it serialises writers), so two claims at once cannot both pass.
        assert isinstance(record, Lead | Opportunity)
        assert isinstance(stored, Lead | Opportunity)
        # PostgreSQL does not serialise writers: two connections claiming for one rep would both
        # count the same claims. One claimer at a time per new owner, until the transaction ends.
        self.inner.serialise(f"pipeline_core.pool:{record.owner_id}")
        new, entry = guard.pool_entry(move, record, stored, table.kind)
        self.inner.update(table, new)
        self.inner.append(JOURNAL, [entry])

    def append(self, table: Table, entries: Sequence[Record]) -> int:
        guard = self.guard
        fresh = [e for e in entries if not (isinstance(e, JournalEntry) and guard.journaled(e))]
        for e in fresh:
            guard.check_new(e, self.inner.get(table, e.id), table.kind)  # type: ignore[attr-defined]
        return self.inner.append(table, fresh) if fresh else 0


class ScopedStore(BaseStore):
    """A :class:`~pipeline_core.storage.ports.Store` seen and changed as ``actor`` under ``policy``.

    The typed repositories of :mod:`pipeline_core.storage.ports` over a decorator of ``store``'s
    backend (``store.backend``), so every query, ``all`` and ``count`` answer with what the actor
    may see (on SQL stores the visibility is part of the ``WHERE``) and every write is checked
    on its way in; bulk writes stream as on the store itself.

    ``actor`` is a :class:`~pipeline_core.records.User` or the id of one stored in ``store``.
    The directory (users, teams) is read from ``store`` when the scoped store is created; pass
    ``directory`` to supply it, or call :meth:`reload_directory` after team changes.
    ``close()`` does not close the underlying store (the caller owns it). A policy whose
    ``pool_owner`` is a stored user raises :class:`~pipeline_core.errors.ConfigError` (every
    role may read the pool). A store without a ``backend`` raises :class:`TypeError`.
    """

    def __init__(
        self,
        store: Store,
        actor: User | str,
        policy: AccessPolicy | None = None,
        *,
        directory: Directory | None = None,
        pool: PoolPolicy | None = None,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
    ) -> None:
        inner_backend = getattr(store, "backend", None)
        if not isinstance(inner_backend, Backend):
            raise TypeError(
                f"ScopedStore decorates a store's backend; {type(store).__name__} has none"
            )
        self.inner = store
        self.policy = policy or AccessPolicy.default()
        owner = self.policy.pool_owner
        if pool is None and owner is not None:
            pool = PoolPolicy(pool_id=owner)
        if pool is not None and pool.pool_id != owner:
            raise ConfigError(
                "ScopedStore",
                [
                    Problem(
                        ("pool", "pool_id"),
                        f"must be the access policy's pool_owner ({owner!r})",
                        pool.pool_id,
                        "pool_owner",
                    )
                ],
            )
        self.pool = pool
        self.clock: Clock = clock or SystemClock()
        self.ids: IdFactory = ids or UuidIds()
        self.directory = directory or Directory.of(store.users.all(), store.teams.all())
        if owner is not None and owner in self.directory.users:
            # every role reads the pool: a person as pool would show their records to everyone
            raise ConfigError(
                "AccessPolicy",
                [Problem(("pool_owner",), "names a stored user, not a pool", owner, "is_user")],
            )
        if isinstance(actor, str):
            found = self.directory.users.get(actor)
            if found is None:
                raise NotFoundError("user", actor)
            actor = found
        self.actor = actor
        self._scoped = ScopedBackend(inner_backend, self._new_guard())
        super().__init__(self._scoped, store.url)

    def _new_guard(self) -> Guard:
        return Guard(
            self.inner, self.actor, self.policy, self.directory, self.pool, self.clock, self.ids
        )

    @property
    def _guard(self) -> Guard:
        return self._scoped.guard

    def reload_directory(self) -> None:
        """Re-read users and teams from the store (after team or role changes)."""
        self.directory = Directory.of(self.inner.users.all(), self.inner.teams.all())
        self.actor = self.directory.users.get(self.actor.id, self.actor)
        self._scoped.guard = self._new_guard()

    def export(self, kind: str, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Plain data of the visible records of ``kind`` (``"leads"``, ``"opportunities"``, ...),
        masked as for reads. Needs the export grant (:class:`PermissionDeniedError` otherwise)."""
        self._require_export()
        if kind not in EXPORTABLE:
            raise NotFoundError("collection", kind)
        repo: Repository[Any] | AppendLog[Any] = getattr(self, kind)
        return (r.to_dict() for r in repo.all(limit=limit))

    def collection(self, kind: str) -> Repository[Any] | AppendLog[Any]:
        """The scoped repository or log for a record kind (``"lead"``, ``"stage_event"`` ...) or
        collection name (``"leads"``): the entry point of bulk I/O such as
        :func:`pipeline_core.storage.io.export_records`, so it needs the export grant."""
        self._require_export()
        return super().collection(kind)

    def _require_export(self) -> None:
        if not self._guard.grant.export:
            role = self.policy.role_of(self.actor)
            raise PermissionDeniedError(
                f"{role.value if role else 'inactive user'} {self.actor.id} may not export or "
                "import in bulk"
            )

    def close(self) -> None:
        """Nothing to release: the underlying store stays open (its owner closes it)."""

    def __enter__(self) -> ScopedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
