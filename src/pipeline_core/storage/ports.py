"""The storage port: what the engines need from a store, independent of any database.

The typed surface is declared once: each query of each collection is one method that
describes a :class:`~pipeline_core.storage._base.Query` (its signature, documentation and
filter in one place; the collections are in :mod:`pipeline_core.storage._collections`, exported
here with the store and unit-of-work protocols and :class:`BaseStore`). Adapters implement only :class:`~pipeline_core.storage._base.Backend`, a
narrow set of primitives (get, stream a query, insert, update with a version check, append, the
columns of a query, transactions), and pass a backend to :class:`BaseStore`:
:class:`~pipeline_core.storage.memory.InMemoryStore`,
:class:`~pipeline_core.storage.sqlite.SQLiteStore`,
:class:`~pipeline_core.storage.postgres.PostgresStore`, a third party's, and the scoped store of
:mod:`pipeline_core.assignment.scoped` (a decorator on another store's backend) all do, and pass
the one contract suite in :mod:`pipeline_core.testing.storage_contract`.

Two families of collections:

- **Versioned repositories** (leads, opportunities, accounts, contacts, users, teams, SLA outcomes)
  hold the current version of each record. ``add(record)`` stores a record that is not there yet
  (normally version 1; an import may add a record at its exported version). ``save(record)`` stores
  the next version: the stored version must be exactly ``record.version - 1`` (records get their
  next version from ``record.evolve(...)``), otherwise :class:`~pipeline_core.errors.ConcurrencyError`
  is raised and nothing is written (optimistic concurrency).
- **Append-only logs** (stage events, activities, journal entries) never change an entry once
  written. ``append(entry)`` is idempotent on the id: the same entry twice is a no-op (returns
  ``False``); a different entry under an existing id raises
  :class:`~pipeline_core.errors.DuplicateError`.

Queries return iterators that the adapters fill in batches (keyset pagination on the sort key),
so a million records never sit in memory at once. Every query also accepts ``limit``; the
``all(after=..., limit=...)`` method pages by id for callers that hold a cursor between requests.

*Open* means ``closed_at is None``: :meth:`pipeline_core.stages.Pipeline.move` sets ``closed_at``
when an opportunity enters a won or lost stage, so the store needs no pipeline to answer
"which deals are open". Time ranges are half-open, ``start <= t < end``, and every timestamp
argument must be timezone-aware.

Writes outside a unit of work are each their own transaction. Inside
``with store.unit_of_work() as uow:`` every write through ``uow``'s repositories is one transaction:
committed when the block ends normally, rolled back entirely when it raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, runtime_checkable

from pipeline_core.errors import NotFoundError
from pipeline_core.storage._base import (
    DEFAULT_BATCH,
    TABLES_BY_KIND,
    Backend,
    Cond,
    Progress,
    Query,
    Table,
)
from pipeline_core.storage._collections import (
    AccountRepository,
    ActivityLog,
    AppendLog,
    ContactRepository,
    JournalLog,
    LeadRepository,
    OpportunityRepository,
    Repository,
    SlaOutcomeRepository,
    StageEventLog,
    TeamRepository,
    UserRepository,
)

__all__ = [
    "DEFAULT_BATCH",
    "TABLES_BY_KIND",
    "AccountRepository",
    "ActivityLog",
    "AppendLog",
    "Backend",
    "BaseStore",
    "Cond",
    "ContactRepository",
    "JournalLog",
    "LeadRepository",
    "OpportunityRepository",
    "Progress",
    "Query",
    "Repositories",
    "Repository",
    "SlaOutcomeRepository",
    "StageEventLog",
    "Store",
    "Table",
    "TeamRepository",
    "UnitOfWork",
    "UserRepository",
]

# --------------------------------------------------------------------------- store and unit of work


@runtime_checkable
class Repositories(Protocol):
    """The collections of one store, or of one unit of work."""

    leads: LeadRepository
    """Leads."""
    opportunities: OpportunityRepository
    """Opportunities."""
    accounts: AccountRepository
    """Accounts."""
    contacts: ContactRepository
    """Contacts."""
    users: UserRepository
    """Users (the directory)."""
    teams: TeamRepository
    """Teams (the directory)."""
    activities: ActivityLog
    """Follow-up activities (append-only)."""
    stage_events: StageEventLog
    """Stage events (append-only)."""
    sla_outcomes: SlaOutcomeRepository
    """SLA outcomes."""
    journal: JournalLog
    """Journal entries (append-only)."""


@runtime_checkable
class UnitOfWork(Repositories, Protocol):
    """One transaction: every write through its repositories commits together or not at all.

    Use as ``with store.unit_of_work() as uow: ...``: committed when the block ends normally,
    rolled back when it raises (the exception propagates). Reads see the unit's own writes.
    """


@runtime_checkable
class Store(Repositories, Protocol):
    """A storage backend: the repositories (each write its own transaction), units of work,
    and ``close()``. Usable as a context manager that closes it."""

    url: str
    """The URL the store was opened with (``memory://``, ``sqlite:///path``, ``postgresql://...``)."""

    @property
    def backend(self) -> Backend:
        """The primitives under the repositories (for frames and decorators such as a scoped
        store)."""
        ...

    def collection(self, kind: str) -> Repository[Any] | AppendLog[Any]:
        """The repository or log of a record kind (``"opportunity"``) or collection name
        (``"opportunities"``); :class:`~pipeline_core.errors.NotFoundError` otherwise."""
        ...

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """Begin a transaction (see :class:`UnitOfWork`)."""
        ...

    def close(self) -> None:
        """Release connections and files. The store cannot be used afterwards."""
        ...

    def __enter__(self) -> Store:
        """Return the store itself."""
        ...

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        ...


class BaseStore(Repositories):
    """The store shell shared by every adapter: the typed collections over one
    :class:`~pipeline_core.storage._base.Backend`, units of work, closing. An adapter passes its
    backend (and the URL it was opened with)."""

    url: str

    def __init__(self, backend: Backend, url: str) -> None:
        self._backend = backend
        self.url = url
        self.leads = LeadRepository(backend)
        self.opportunities = OpportunityRepository(backend)
        self.accounts = AccountRepository(backend)
        self.contacts = ContactRepository(backend)
        self.users = UserRepository(backend)
        self.teams = TeamRepository(backend)
        self.activities = ActivityLog(backend)
        self.stage_events = StageEventLog(backend)
        self.sla_outcomes = SlaOutcomeRepository(backend)
        self.journal = JournalLog(backend)

    @property
    def backend(self) -> Backend:
        """The primitives under the repositories."""
        return self._backend

    def collection(self, kind: str) -> Repository[Any] | AppendLog[Any]:
        """The repository or log of a record kind (``"opportunity"``, ``"stage_event"`` ...) or
        collection name (``"opportunities"``); :class:`~pipeline_core.errors.NotFoundError`
        otherwise."""
        table = TABLES_BY_KIND.get(kind) or next(
            (t for t in TABLES_BY_KIND.values() if t.name == kind), None
        )
        if table is None:
            raise NotFoundError("record kind", kind)
        return getattr(self, table.name)  # type: ignore[no-any-return]

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """One transaction over every repository: commit on success, roll back on exception.

        While it is open, writes from the same thread through this store join it; other threads
        wait until it ends."""
        return self._uow()

    @contextmanager
    def _uow(self) -> Iterator[UnitOfWork]:
        with self._backend.atomic():
            yield self

    def close(self) -> None:
        """Release connections and files."""
        with self._backend.lock:
            if not self._backend.closed:
                self._backend.closed = True
                self._backend.close()

    def __enter__(self) -> BaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
