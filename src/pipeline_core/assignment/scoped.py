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
  new one (a rep cannot take over another rep's record, nor give one away out of scope); claiming
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
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pipeline_core._model import Record
from pipeline_core.assignment.access import AccessPolicy, Directory, Scope
from pipeline_core.errors import NotFoundError, PermissionDeniedError
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
from pipeline_core.storage.ports import (
    AccountRepository,
    ActivityLog,
    AppendLog,
    ContactRepository,
    JournalLog,
    LeadRepository,
    OpportunityRepository,
    Progress,
    Repositories,
    Repository,
    SlaOutcomeRepository,
    StageEventLog,
    Store,
    TeamRepository,
    UnitOfWork,
    UserRepository,
)

__all__ = ["ScopedStore"]

R = TypeVar("R", bound=Record)
Verb = Literal["read", "write"]


class _Guard:
    """The decisions for one actor over one set of repositories (a store or a unit of work)."""

    def __init__(
        self, repos: Repositories, actor: User, policy: AccessPolicy, directory: Directory
    ) -> None:
        self.repos = repos
        self.actor = actor
        self.policy = policy
        self.directory = directory
        self.grant = policy.grant_of(actor)
        self.mask = self.grant.mask_contacts

    def _owned(self, verb: Verb, owner: str | None, team: str | None) -> bool:
        return self.policy.decide(self.actor, verb, owner, self.directory, team_id=team).allowed

    def _subject(self, verb: Verb, subject_id: str | None) -> bool:
        if subject_id is None:
            return False
        for repo in (self.repos.leads, self.repos.opportunities, self.repos.accounts):
            parent = repo.find(subject_id)
            if parent is not None:
                return self.allows(verb, parent)
        contact = self.repos.contacts.find(subject_id)
        if contact is not None:
            return self.allows(verb, contact)
        scope = self.grant.write if verb == "write" else self.grant.read
        return scope is Scope.ALL

    def _in_pool(self, subject_id: str) -> bool:
        pool = self.policy.pool_owner
        if pool is None:
            return False
        for repo in (self.repos.leads, self.repos.opportunities, self.repos.accounts):
            parent = repo.find(subject_id)
            if parent is not None:
                return bool(parent.owner_id == pool)
        return False

    def allows(self, verb: Verb, record: Record) -> bool:
        """Whether the actor may ``verb`` this record."""
        if isinstance(record, User | Team):
            if verb == "read":
                return self.policy.role_of(self.actor) is not None
            return self.grant.write is Scope.ALL
        if verb == "write" and self.mask and isinstance(record, Lead | Contact):
            return False
        if isinstance(record, Opportunity):
            return self._owned(verb, record.owner_id, record.team_id)
        if isinstance(record, Lead | Account | SlaOutcome):
            if isinstance(record, SlaOutcome) and record.owner_id is None:
                return self._subject(verb, record.subject_id)
            return self._owned(verb, record.owner_id, None)
        if isinstance(record, Contact):
            if record.account_id is None:
                scope = self.grant.write if verb == "write" else self.grant.read
                return scope is Scope.ALL
            return self._subject(verb, record.account_id)
        if isinstance(record, StageEvent):
            return self._subject(verb, record.opportunity_id)
        if isinstance(record, Activity):
            if (
                verb == "read"
                and record.owner_id == self.actor.id
                and self.grant.read is not Scope.NONE
            ):
                return True
            return any(
                self._subject(verb, s)
                for s in (record.lead_id, record.opportunity_id, record.account_id)
                if s is not None
            )
        if isinstance(record, JournalEntry):
            if verb == "write" and self._in_pool(record.subject_id):
                # Pool moves: the entry about a record now in the pool (release) may be written
                # by whoever may read the pool.
                return self.grant.read is not Scope.NONE and self.grant.write is not Scope.NONE
            return self._subject(verb, record.subject_id)
        return self.grant.read is Scope.ALL if verb == "read" else self.grant.write is Scope.ALL

    def view(self, record: R) -> R:
        """The record as the actor sees it."""
        return self.policy.mask(record) if self.mask else record

    def visible(self, records: Iterable[R], limit: int | None) -> Iterator[R]:
        """Visible records, masked as needed, at most ``limit``."""
        out = (self.view(r) for r in records if self.allows("read", r))
        return itertools.islice(out, limit) if limit is not None else out

    def deny(self, verb: str, record: Record) -> PermissionDeniedError:
        """The error for a refused write."""
        role = self.policy.role_of(self.actor)
        rid = getattr(record, "id", "?")
        return PermissionDeniedError(
            f"{role.value if role else 'inactive user'} {self.actor.id} may not {verb} "
            f"{type(record).__name__} {rid!r} (owner {getattr(record, 'owner_id', None)!r})"
        )

    def check_new(self, record: Record) -> None:
        """Refuse a new record the actor may not write."""
        if not self.allows("write", record):
            raise self.deny("add", record)

    def check_save(self, record: Record, stored: Record | None) -> None:
        """Refuse a new version the actor may not write (stored and new version both checked)."""
        if stored is not None and not self.allows("write", stored):
            pool = self.policy.pool_owner
            claiming = (
                pool is not None
                and getattr(stored, "owner_id", None) == pool
                and getattr(record, "owner_id", None) == self.actor.id
                and self.allows("read", stored)
            )
            if not claiming:
                raise self.deny("change", stored)
        pool = self.policy.pool_owner
        releasing = (
            pool is not None
            and stored is not None
            and getattr(record, "owner_id", None) == pool
            and self.allows("write", stored)
        )
        if not releasing and not self.allows("write", record):
            raise self.deny("save", record)


class _Scoped(Generic[R]):
    def __init__(self, inner: Any, guard: _Guard) -> None:
        self._inner = inner
        self._guard = guard
        self.kind: str = inner.kind

    def get(self, id: str) -> R:
        """The record if the actor may read it; otherwise :class:`NotFoundError`."""
        found = self.find(id)
        if found is None:
            raise NotFoundError(self.kind, id)
        return found

    def find(self, id: str) -> R | None:
        """The record if it exists and the actor may read it, else ``None``."""
        record: R | None = self._inner.find(id)
        if record is None or not self._guard.allows("read", record):
            return None
        return self._guard.view(record)

    def all(self, *, after: str | None = None, limit: int | None = None) -> Iterator[R]:
        """Visible records in id order."""
        return self._guard.visible(self._inner.all(after=after), limit)

    def count(self) -> int:
        """How many records the actor may see."""
        if self._guard.grant.read is Scope.ALL:
            return int(self._inner.count())
        return sum(1 for _ in self.all())

    def _q(
        self, method: Callable[..., Iterator[R]], *args: Any, limit: int | None, **kw: Any
    ) -> Iterator[R]:
        return self._guard.visible(method(*args, **kw), limit)


class _ScopedRepo(_Scoped[R]):
    def add(self, record: R) -> None:
        """Add a record the actor may write."""
        self._guard.check_new(record)
        self._inner.add(record)

    def save(self, record: R) -> None:
        """Save a new version the actor may write (stored version must be writable too)."""
        stored = self._inner.find(getattr(record, "id", ""))
        self._guard.check_save(record, stored)
        self._inner.save(record)

    def bulk_add(
        self,
        records: Iterable[R],
        *,
        batch_size: int = 10_000,
        progress: Progress | None = None,
    ) -> int:
        """Add many records, all checked before any is written."""
        items = list(records)
        for r in items:
            self._guard.check_new(r)
        return int(self._inner.bulk_add(items, batch_size=batch_size, progress=progress))


class _ScopedLog(_Scoped[R]):
    def append(self, entry: R) -> bool:
        """Append an entry the actor may write."""
        self._guard.check_new(entry)
        return bool(self._inner.append(entry))

    def bulk_append(
        self,
        entries: Iterable[R],
        *,
        batch_size: int = 10_000,
        progress: Progress | None = None,
    ) -> int:
        """Append many entries, all checked before any is written."""
        items = list(entries)
        for e in items:
            self._guard.check_new(e)
        return int(self._inner.bulk_append(items, batch_size=batch_size, progress=progress))


class _Leads(_ScopedRepo[Lead]):
    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[Lead]:
        """Visible leads of ``owner_id``."""
        return self._q(self._inner.by_owner, owner_id, limit=limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Lead]:
        """Visible leads carrying ``tag``."""
        return self._q(self._inner.by_tag, tag, limit=limit)

    def due_by(self, t: datetime, *, limit: int | None = None) -> Iterator[Lead]:
        """Visible leads due by ``t``."""
        return self._q(self._inner.due_by, t, limit=limit)


class _Opportunities(_ScopedRepo[Opportunity]):
    def open(
        self, *, owner_id: str | None = None, team_id: str | None = None, limit: int | None = None
    ) -> Iterator[Opportunity]:
        """Visible open opportunities."""
        return self._q(self._inner.open, owner_id=owner_id, team_id=team_id, limit=limit)

    def by_owner(
        self, owner_id: str, *, include_closed: bool = True, limit: int | None = None
    ) -> Iterator[Opportunity]:
        """Visible opportunities of ``owner_id``."""
        return self._q(self._inner.by_owner, owner_id, include_closed=include_closed, limit=limit)

    def by_team(
        self, team_id: str, *, include_closed: bool = True, limit: int | None = None
    ) -> Iterator[Opportunity]:
        """Visible opportunities of ``team_id``."""
        return self._q(self._inner.by_team, team_id, include_closed=include_closed, limit=limit)

    def by_stage(self, stage: str, *, limit: int | None = None) -> Iterator[Opportunity]:
        """Visible opportunities in ``stage``."""
        return self._q(self._inner.by_stage, stage, limit=limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Opportunity]:
        """Visible opportunities carrying ``tag``."""
        return self._q(self._inner.by_tag, tag, limit=limit)

    def due_by(
        self,
        t: datetime,
        *,
        owner_id: str | None = None,
        team_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Opportunity]:
        """Visible open opportunities due by ``t``."""
        return self._q(self._inner.due_by, t, owner_id=owner_id, team_id=team_id, limit=limit)


class _Accounts(_ScopedRepo[Account]):
    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[Account]:
        """Visible accounts of ``owner_id``."""
        return self._q(self._inner.by_owner, owner_id, limit=limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Account]:
        """Visible accounts carrying ``tag``."""
        return self._q(self._inner.by_tag, tag, limit=limit)


class _Contacts(_ScopedRepo[Contact]):
    def by_account(self, account_id: str, *, limit: int | None = None) -> Iterator[Contact]:
        """Visible contacts of ``account_id``."""
        return self._q(self._inner.by_account, account_id, limit=limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Contact]:
        """Visible contacts carrying ``tag``."""
        return self._q(self._inner.by_tag, tag, limit=limit)


class _Users(_ScopedRepo[User]):
    def by_team(self, team_id: str, *, limit: int | None = None) -> Iterator[User]:
        """Users of ``team_id`` (the directory is readable by every active actor)."""
        return self._q(self._inner.by_team, team_id, limit=limit)


class _Teams(_ScopedRepo[Team]):
    def children(self, parent_id: str, *, limit: int | None = None) -> Iterator[Team]:
        """Teams below ``parent_id``."""
        return self._q(self._inner.children, parent_id, limit=limit)


class _SlaOutcomes(_ScopedRepo[SlaOutcome]):
    def for_subject(self, subject_id: str, *, limit: int | None = None) -> Iterator[SlaOutcome]:
        """Visible outcomes of one subject."""
        return self._q(self._inner.for_subject, subject_id, limit=limit)

    def due_between(
        self,
        start: datetime,
        end: datetime,
        *,
        owner_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[SlaOutcome]:
        """Visible outcomes due in ``[start, end)``."""
        return self._q(self._inner.due_between, start, end, owner_id=owner_id, limit=limit)


class _StageEvents(_ScopedLog[StageEvent]):
    def for_opportunity(
        self, opportunity_id: str, *, limit: int | None = None
    ) -> Iterator[StageEvent]:
        """Visible events of one opportunity."""
        return self._q(self._inner.for_opportunity, opportunity_id, limit=limit)

    def between(
        self, start: datetime, end: datetime, *, limit: int | None = None
    ) -> Iterator[StageEvent]:
        """Visible events in ``[start, end)``."""
        return self._q(self._inner.between, start, end, limit=limit)


class _Activities(_ScopedLog[Activity]):
    def for_subject(self, subject_id: str, *, limit: int | None = None) -> Iterator[Activity]:
        """Visible activities about one subject."""
        return self._q(self._inner.for_subject, subject_id, limit=limit)

    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[Activity]:
        """Visible activities by ``owner_id``."""
        return self._q(self._inner.by_owner, owner_id, limit=limit)

    def between(
        self,
        start: datetime,
        end: datetime,
        *,
        owner_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Activity]:
        """Visible activities in ``[start, end)``."""
        return self._q(self._inner.between, start, end, owner_id=owner_id, limit=limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Activity]:
        """Visible activities carrying ``tag``."""
        return self._q(self._inner.by_tag, tag, limit=limit)


class _Journal(_ScopedLog[JournalEntry]):
    def for_subject(
        self, subject_id: str, *, kind: str | None = None, limit: int | None = None
    ) -> Iterator[JournalEntry]:
        """Visible entries about one subject."""
        return self._q(self._inner.for_subject, subject_id, kind=kind, limit=limit)

    def by_kind(
        self,
        kind: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[JournalEntry]:
        """Visible entries of ``kind``."""
        return self._q(self._inner.by_kind, kind, start=start, end=end, limit=limit)


class _ScopedRepositories:
    """The scoped collections over a store or a unit of work."""

    def __init__(self, repos: Repositories, guard: _Guard) -> None:
        self._repos = repos
        self._guard = guard
        self._leads = _Leads(repos.leads, guard)
        self._opportunities = _Opportunities(repos.opportunities, guard)
        self._accounts = _Accounts(repos.accounts, guard)
        self._contacts = _Contacts(repos.contacts, guard)
        self._users = _Users(repos.users, guard)
        self._teams = _Teams(repos.teams, guard)
        self._activities = _Activities(repos.activities, guard)
        self._stage_events = _StageEvents(repos.stage_events, guard)
        self._sla_outcomes = _SlaOutcomes(repos.sla_outcomes, guard)
        self._journal = _Journal(repos.journal, guard)

    @property
    def leads(self) -> LeadRepository:
        """Visible leads."""
        return self._leads

    @property
    def opportunities(self) -> OpportunityRepository:
        """Visible opportunities."""
        return self._opportunities

    @property
    def accounts(self) -> AccountRepository:
        """Visible accounts."""
        return self._accounts

    @property
    def contacts(self) -> ContactRepository:
        """Visible contacts."""
        return self._contacts

    @property
    def users(self) -> UserRepository:
        """The user directory."""
        return self._users

    @property
    def teams(self) -> TeamRepository:
        """The team directory."""
        return self._teams

    @property
    def activities(self) -> ActivityLog:
        """Visible activities."""
        return self._activities

    @property
    def stage_events(self) -> StageEventLog:
        """Visible stage events."""
        return self._stage_events

    @property
    def sla_outcomes(self) -> SlaOutcomeRepository:
        """Visible SLA outcomes."""
        return self._sla_outcomes

    @property
    def journal(self) -> JournalLog:
        """Visible journal entries."""
        return self._journal


_EXPORTABLE = (
    "leads",
    "opportunities",
    "accounts",
    "contacts",
    "activities",
    "stage_events",
    "sla_outcomes",
    "journal",
)


class ScopedStore(_ScopedRepositories):
    """A :class:`~pipeline_core.storage.ports.Store` seen and changed as ``actor`` under ``policy``.

    ``actor`` is a :class:`~pipeline_core.records.User` or the id of one stored in ``store``.
    The directory (users, teams) is read from ``store`` when the scoped store is created; pass
    ``directory`` to supply it, or call :meth:`reload_directory` after team changes.
    ``close()`` does not close the underlying store (the caller owns it).
    """

    def __init__(
        self,
        store: Store,
        actor: User | str,
        policy: AccessPolicy | None = None,
        *,
        directory: Directory | None = None,
    ) -> None:
        self.inner = store
        self.url = store.url
        self.policy = policy or AccessPolicy.default()
        self.directory = directory or Directory.of(store.users.all(), store.teams.all())
        if isinstance(actor, str):
            found = self.directory.users.get(actor)
            if found is None:
                raise NotFoundError("user", actor)
            actor = found
        self.actor = actor
        super().__init__(store, _Guard(store, actor, self.policy, self.directory))

    def reload_directory(self) -> None:
        """Re-read users and teams from the store (after team or role changes)."""
        self.directory = Directory.of(self.inner.users.all(), self.inner.teams.all())
        actor = self.directory.users.get(self.actor.id, self.actor)
        self.actor = actor
        self.__init__(self.inner, actor, self.policy, directory=self.directory)  # type: ignore[misc]

    @contextmanager
    def _uow(self) -> Iterator[UnitOfWork]:
        with self.inner.unit_of_work() as uow:
            guard = _Guard(uow, self.actor, self.policy, self.directory)
            yield _ScopedRepositories(uow, guard)

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """A transaction whose reads are filtered and whose writes are checked like the store's."""
        return self._uow()

    def export(self, kind: str, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Plain data of the visible records of ``kind`` (``"leads"``, ``"opportunities"``, ...),
        masked as for reads. Needs the export grant (:class:`PermissionDeniedError` otherwise)."""
        self._require_export()
        if kind not in _EXPORTABLE:
            raise NotFoundError("collection", kind)
        repo: Repository[Any] | AppendLog[Any] = getattr(self, kind)
        return (r.to_dict() for r in repo.all(limit=limit))

    def collection(self, kind: str) -> Any:
        """The scoped repository or log for a record kind (``"lead"``, ``"stage_event"`` ...) or
        collection name (``"leads"``): the entry point of bulk I/O such as
        :func:`pipeline_core.storage.io.export_records`, so it needs the export grant."""
        self._require_export()
        for name in (*_EXPORTABLE, "users", "teams"):
            repo = getattr(self, name)
            if kind in (name, repo.kind):
                return repo
        raise NotFoundError("record kind", kind)

    def _require_export(self) -> None:
        if not self._guard.grant.export:
            role = self.policy.role_of(self.actor)
            raise PermissionDeniedError(
                f"{role.value if role else 'inactive user'} {self.actor.id} may not export"
            )

    def close(self) -> None:
        """Nothing to release: the underlying store stays open (its owner closes it)."""

    def __enter__(self) -> ScopedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
