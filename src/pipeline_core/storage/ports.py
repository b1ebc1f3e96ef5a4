"""The storage port: what the engines need from a store, independent of any database.

Every adapter (:class:`~pipeline_core.storage.memory.InMemoryStore`,
:class:`~pipeline_core.storage.sqlite.SQLiteStore`, :class:`~pipeline_core.storage.postgres.PostgresStore`,
or a third party's) implements these Protocols and passes the one contract suite in
:mod:`pipeline_core.testing.storage_contract`.

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

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

from pipeline_core._model import Record
from pipeline_core.records import (
    Account,
    Activity,
    Contact,
    JournalEntry,
    Lead,
    Opportunity,
    SlaOutcome,
    StageEvent,
    Team,
    User,
)

__all__ = [
    "AccountRepository",
    "ActivityLog",
    "AppendLog",
    "ContactRepository",
    "JournalLog",
    "LeadRepository",
    "OpportunityRepository",
    "Progress",
    "Repositories",
    "Repository",
    "SlaOutcomeRepository",
    "StageEventLog",
    "Store",
    "TeamRepository",
    "UnitOfWork",
    "UserRepository",
]

R = TypeVar("R", bound=Record)

Progress = Callable[[int], None]
"""A progress callback: called with the number of records written so far, after each batch."""

DEFAULT_BATCH = 10_000
"""Records per batch for bulk writes and for streamed reads."""


class Repository(Protocol[R]):
    """A versioned collection of records with optimistic concurrency (see the module doc)."""

    kind: str
    """The record kind, e.g. ``"opportunity"``: used in errors."""

    def get(self, id: str) -> R:
        """The stored record; :class:`~pipeline_core.errors.NotFoundError` if there is none."""
        ...

    def find(self, id: str) -> R | None:
        """The stored record, or ``None``."""
        ...

    def add(self, record: R) -> None:
        """Store a new record. :class:`~pipeline_core.errors.DuplicateError` if the id exists."""
        ...

    def save(self, record: R) -> None:
        """Store the next version of a record.

        The stored version must equal ``record.version - 1``; otherwise
        :class:`~pipeline_core.errors.ConcurrencyError` (``expected`` = ``record.version - 1``,
        ``actual`` = the stored version) and nothing is written.
        :class:`~pipeline_core.errors.NotFoundError` if the record was never added.
        """
        ...

    def bulk_add(
        self,
        records: Iterable[R],
        *,
        batch_size: int = DEFAULT_BATCH,
        progress: Progress | None = None,
    ) -> int:
        """Add many new records in one transaction, streamed in batches; returns how many.

        All or nothing: a duplicate id (stored or repeated in ``records``) raises
        :class:`~pipeline_core.errors.DuplicateError` and nothing is written.
        """
        ...

    def all(self, *, after: str | None = None, limit: int | None = None) -> Iterator[R]:
        """Every record in id order, streamed; ``after`` = the last id of the previous page."""
        ...

    def count(self) -> int:
        """How many records are stored."""
        ...


class AppendLog(Protocol[R]):
    """An append-only, id-idempotent log of entries (see the module doc)."""

    kind: str
    """The entry kind, e.g. ``"stage_event"``: used in errors."""

    def get(self, id: str) -> R:
        """The stored entry; :class:`~pipeline_core.errors.NotFoundError` if there is none."""
        ...

    def find(self, id: str) -> R | None:
        """The stored entry, or ``None``."""
        ...

    def append(self, entry: R) -> bool:
        """Append one entry. ``True`` if written, ``False`` if the identical entry was already
        there; :class:`~pipeline_core.errors.DuplicateError` if a *different* entry has this id."""
        ...

    def bulk_append(
        self,
        entries: Iterable[R],
        *,
        batch_size: int = DEFAULT_BATCH,
        progress: Progress | None = None,
    ) -> int:
        """Append many entries in one transaction, streamed in batches; returns how many were new.

        Identical repeats are skipped; a conflicting one raises
        :class:`~pipeline_core.errors.DuplicateError` and nothing is written.
        """
        ...

    def all(self, *, after: str | None = None, limit: int | None = None) -> Iterator[R]:
        """Every entry in id order, streamed; ``after`` = the last id of the previous page."""
        ...

    def count(self) -> int:
        """How many entries are stored."""
        ...


# --------------------------------------------------------------------------- typed collections


class LeadRepository(Repository[Lead], Protocol):
    """Leads (线索)."""

    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[Lead]:
        """Leads owned by ``owner_id``, in id order."""
        ...

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Lead]:
        """Leads carrying ``tag``, in id order."""
        ...

    def due_by(self, t: datetime, *, limit: int | None = None) -> Iterator[Lead]:
        """Leads whose ``next_step.due_at <= t``, earliest due first (ties by id)."""
        ...


class OpportunityRepository(Repository[Opportunity], Protocol):
    """Opportunities (商机). *Open* means ``closed_at is None``."""

    def open(
        self,
        *,
        owner_id: str | None = None,
        team_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Opportunity]:
        """Open opportunities, optionally of one owner and/or team, in id order."""
        ...

    def by_owner(
        self, owner_id: str, *, include_closed: bool = True, limit: int | None = None
    ) -> Iterator[Opportunity]:
        """Opportunities owned by ``owner_id``, in id order."""
        ...

    def by_team(
        self, team_id: str, *, include_closed: bool = True, limit: int | None = None
    ) -> Iterator[Opportunity]:
        """Opportunities of team ``team_id``, in id order."""
        ...

    def by_stage(self, stage: str, *, limit: int | None = None) -> Iterator[Opportunity]:
        """Opportunities currently in stage ``stage``, in id order."""
        ...

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Opportunity]:
        """Opportunities carrying ``tag``, in id order."""
        ...

    def due_by(
        self,
        t: datetime,
        *,
        owner_id: str | None = None,
        team_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Opportunity]:
        """Open opportunities whose ``next_step.due_at <= t``, earliest due first (ties by id)."""
        ...


class AccountRepository(Repository[Account], Protocol):
    """Customer companies (客户)."""

    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[Account]:
        """Accounts owned by ``owner_id``, in id order."""
        ...

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Account]:
        """Accounts carrying ``tag``, in id order."""
        ...


class ContactRepository(Repository[Contact], Protocol):
    """People at customers (联系人)."""

    def by_account(self, account_id: str, *, limit: int | None = None) -> Iterator[Contact]:
        """Contacts of ``account_id``, in id order."""
        ...

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Contact]:
        """Contacts carrying ``tag``, in id order."""
        ...


class UserRepository(Repository[User], Protocol):
    """People of the sales organisation."""

    def by_team(self, team_id: str, *, limit: int | None = None) -> Iterator[User]:
        """Users of ``team_id``, in id order."""
        ...


class TeamRepository(Repository[Team], Protocol):
    """Sales teams."""

    def children(self, parent_id: str, *, limit: int | None = None) -> Iterator[Team]:
        """Teams whose ``parent_id`` is ``parent_id``, in id order."""
        ...


class SlaOutcomeRepository(Repository[SlaOutcome], Protocol):
    """How SLA clocks ended (:class:`~pipeline_core.records.SlaOutcome`)."""

    def for_subject(self, subject_id: str, *, limit: int | None = None) -> Iterator[SlaOutcome]:
        """Outcomes of one lead/opportunity, by ``due_at`` (ties by id)."""
        ...

    def due_between(
        self,
        start: datetime,
        end: datetime,
        *,
        owner_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[SlaOutcome]:
        """Outcomes with ``start <= due_at < end``, by ``due_at`` (ties by id)."""
        ...


class StageEventLog(AppendLog[StageEvent], Protocol):
    """The append-only stage history of every opportunity."""

    def for_opportunity(
        self, opportunity_id: str, *, limit: int | None = None
    ) -> Iterator[StageEvent]:
        """One opportunity's events in :func:`pipeline_core.facts.event_order` (``at``, then
        ``seq``; ties by id)."""
        ...

    def between(
        self, start: datetime, end: datetime, *, limit: int | None = None
    ) -> Iterator[StageEvent]:
        """Events with ``start <= at < end``, by ``at``, then ``seq`` (ties by id)."""
        ...


class ActivityLog(AppendLog[Activity], Protocol):
    """The append-only log of follow-up activities (跟进记录)."""

    def for_subject(self, subject_id: str, *, limit: int | None = None) -> Iterator[Activity]:
        """Activities whose ``lead_id``, ``opportunity_id`` or ``account_id`` is ``subject_id``,
        by ``at`` (ties by id)."""
        ...

    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[Activity]:
        """Activities by ``owner_id``, by ``at`` (ties by id)."""
        ...

    def between(
        self,
        start: datetime,
        end: datetime,
        *,
        owner_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Activity]:
        """Activities with ``start <= at < end``, by ``at`` (ties by id)."""
        ...

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Activity]:
        """Activities carrying ``tag``, by ``at`` (ties by id)."""
        ...


class JournalLog(AppendLog[JournalEntry], Protocol):
    """Append-only history of ownership transfers, merges, pool moves, grade changes."""

    def for_subject(
        self, subject_id: str, *, kind: str | None = None, limit: int | None = None
    ) -> Iterator[JournalEntry]:
        """Entries about ``subject_id`` (optionally of one ``kind``), by ``at`` (ties by id)."""
        ...

    def by_kind(
        self,
        kind: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[JournalEntry]:
        """Entries of ``kind`` (with ``start <= at < end`` when given), by ``at`` (ties by id)."""
        ...


# --------------------------------------------------------------------------- store and unit of work


@runtime_checkable
class Repositories(Protocol):
    """The collections of one store, or of one unit of work."""

    @property
    def leads(self) -> LeadRepository:
        """Leads."""
        ...

    @property
    def opportunities(self) -> OpportunityRepository:
        """Opportunities."""
        ...

    @property
    def accounts(self) -> AccountRepository:
        """Accounts."""
        ...

    @property
    def contacts(self) -> ContactRepository:
        """Contacts."""
        ...

    @property
    def users(self) -> UserRepository:
        """Users."""
        ...

    @property
    def teams(self) -> TeamRepository:
        """Teams."""
        ...

    @property
    def activities(self) -> ActivityLog:
        """Follow-up activities (append-only)."""
        ...

    @property
    def stage_events(self) -> StageEventLog:
        """Stage events (append-only)."""
        ...

    @property
    def sla_outcomes(self) -> SlaOutcomeRepository:
        """SLA outcomes."""
        ...

    @property
    def journal(self) -> JournalLog:
        """Journal entries (append-only)."""
        ...


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
