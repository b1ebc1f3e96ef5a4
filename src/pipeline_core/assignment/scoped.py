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
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from pipeline_core._model import Record
from pipeline_core.assignment.access import PERSONAL_FIELDS, AccessPolicy, Directory, Scope
from pipeline_core.assignment.pool import (
    POOL_CLAIM,
    POOL_RELEASE,
    POOL_TAG,
    PoolPolicy,
    claim,
    release,
)
from pipeline_core.clock import Clock, SystemClock
from pipeline_core.errors import (
    ConcurrencyError,
    ConfigError,
    DuplicateError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    ValidationError,
)
from pipeline_core.ids import IdFactory, UuidIds
from pipeline_core.records import (
    REFERENCES,
    SUBJECT_KINDS,
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
from pipeline_core.storage._base import TABLES
from pipeline_core.storage.check import Finding
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

__all__ = [
    "ScopedStore",
    "access_findings",
    "audit",
    "reference_collection",
    "subject_collection",
]

R = TypeVar("R", bound=Record)
Verb = Literal["read", "write"]


_SUBJECT_COLLECTIONS = ("leads", "opportunities", "accounts", "contacts")
_NOT_DECLARED = "?"  # a subject whose kind is not declared: every kind holding the id must allow
_UNKNOWN = ""  # a declared subject kind this library does not know: needs all scope

# Reference fields that decide access to a record without an owner of its own ("parents"); the
# other entries of REFERENCES towards _SUBJECT_COLLECTIONS are links, checked when written.
_PARENTS: dict[type[Record], tuple[str, ...]] = {
    Contact: ("account_id",),
    StageEvent: ("opportunity_id",),
    Activity: ("lead_id", "opportunity_id", "account_id"),
    SlaOutcome: ("subject_id",),
    JournalEntry: ("subject_id",),
}
# Reference fields naming the author of a record: the actor or a user within their write scope.
_AUTHORS: dict[type[Record], str] = {Activity: "owner_id", StageEvent: "by", JournalEntry: "by"}


def subject_collection(record: Record) -> str | None:
    """The collection the subject of an SLA outcome or journal entry is looked up in.

    An outcome's ``subject_kind`` and a journal entry's ``payload["subject_kind"]`` (or the
    ``payload["record_kind"]`` of an ownership transfer) name it through
    :data:`~pipeline_core.records.SUBJECT_KINDS`; ``""`` for a declared kind this library does
    not know; ``None`` for a journal entry that declares none (every kind holding the id counts).
    """
    if isinstance(record, SlaOutcome):
        return SUBJECT_KINDS.get(record.subject_kind, _UNKNOWN)
    if isinstance(record, JournalEntry):
        declared = record.payload.get("subject_kind", record.payload.get("record_kind"))
        if declared is None:
            return None
        return SUBJECT_KINDS.get(str(declared), _UNKNOWN)
    return None


def reference_collection(record: Record, field: str) -> str | None:
    """The collection ``record.field`` points to (:data:`~pipeline_core.records.REFERENCES`),
    ``None`` if the field is no reference or points to an undeclared subject kind."""
    target = REFERENCES.get((type(record).__name__, field))
    if target == "subject_kind":
        found = subject_collection(record)
        return found if found else None
    return target


def _links(record: Record) -> Iterator[tuple[str, str, str]]:
    # (field, collection, id) of each link reference: REFERENCES towards customer records that
    # are not parents (those decide access and are checked by `allows`).
    parents = _PARENTS.get(type(record), ())
    name = type(record).__name__
    for (kind, field), target in REFERENCES.items():
        if kind != name or field in parents or target not in _SUBJECT_COLLECTIONS:
            continue
        value = getattr(record, field, None)
        if isinstance(value, str):
            yield field, target, value


class _Guard:
    """The decisions for one actor over one set of repositories (a store or a unit of work)."""

    def __init__(
        self,
        repos: Repositories,
        actor: User,
        policy: AccessPolicy,
        directory: Directory,
        pool: PoolPolicy | None,
        clock: Clock,
        ids: IdFactory,
        atomic: Callable[[], AbstractContextManager[Repositories]],
    ) -> None:
        self.repos = repos
        self.actor = actor
        self.policy = policy
        self.directory = directory
        self.pool = pool
        self.clock = clock
        self.ids = ids
        self.atomic = atomic
        self.grant = policy.grant_of(actor)
        self.mask = self.grant.mask_contacts

    def _scope(self, verb: Verb) -> Scope:
        return self.grant.write if verb == "write" else self.grant.read

    def _owned(self, verb: Verb, owner: str | None, team: str | None) -> bool:
        return self.policy.decide(self.actor, verb, owner, self.directory, team_id=team).allowed

    def author_ok(self, user_id: str | None) -> bool:
        """Whether ``user_id`` may be named as author (or new owner) by the actor: the actor
        themself, or a user within the actor's write scope."""
        if self.grant.write is Scope.NONE:
            return False
        if user_id == self.actor.id or self.grant.write is Scope.ALL:
            return True
        if user_id is None or user_id == self.policy.pool_owner:
            return False
        return self._owned("write", user_id, None)

    def _find(self, collection: str, id: str) -> Record | None:
        found: Record | None = getattr(self.repos, collection).find(id)
        return found

    def _through(self, verb: Verb, collection: str | None, ref: str | None) -> bool:
        # Access through a parent reference, looked up in its own collection only.
        if ref is None:
            return False
        if self._scope(verb) is Scope.ALL:
            return True  # whatever the parent, and without looking it up
        if collection is None:
            found = [r for c in _SUBJECT_COLLECTIONS if (r := self._find(c, ref)) is not None]
            if not found:
                return self._scope(verb) is Scope.ALL
            return all(self.allows(verb, r) for r in found)
        if collection == _UNKNOWN:
            return self._scope(verb) is Scope.ALL
        parent = self._find(collection, ref)
        if parent is None:
            return self._scope(verb) is Scope.ALL
        return self.allows(verb, parent)

    def allows(self, verb: Verb, record: Record) -> bool:
        """Whether the actor may ``verb`` this record (its parents and author included)."""
        if isinstance(record, User | Team):
            if verb == "read":
                return self.policy.role_of(self.actor) is not None
            return self.grant.write is Scope.ALL
        if verb == "write" and self.mask and type(record) in PERSONAL_FIELDS:
            return False
        if verb == "write":
            author = _AUTHORS.get(type(record))
            if author is not None and not self.author_ok(getattr(record, author)):
                return False
        if isinstance(record, Opportunity):
            return self._owned(verb, record.owner_id, record.team_id)
        if isinstance(record, Lead | Account):
            return self._owned(verb, record.owner_id, None)
        if isinstance(record, SlaOutcome):
            if (
                verb == "write"
                and record.owner_id is not None
                and not self.author_ok(record.owner_id)
            ):
                return False
            return self._through(verb, subject_collection(record), record.subject_id)
        if isinstance(record, Contact):
            if record.account_id is None:
                return self._scope(verb) is Scope.ALL
            return self._through(verb, "accounts", record.account_id)
        if isinstance(record, StageEvent):
            return self._through(verb, "opportunities", record.opportunity_id)
        if isinstance(record, Activity):
            if (
                verb == "read"
                and record.owner_id == self.actor.id
                and self.grant.read is not Scope.NONE
            ):
                return True
            subjects = [
                (c, s)
                for c, s in (
                    ("leads", record.lead_id),
                    ("opportunities", record.opportunity_id),
                    ("accounts", record.account_id),
                )
                if s is not None
            ]
            return bool(subjects) and all(self._through(verb, c, s) for c, s in subjects)
        if isinstance(record, JournalEntry):
            return self._through(verb, subject_collection(record), record.subject_id)
        return self._scope(verb) is Scope.ALL

    def view(self, record: R) -> R:
        """The record as the actor sees it."""
        return self.policy.mask(record) if self.mask else record

    def visible(self, records: Iterable[R], limit: int | None) -> Iterator[R]:
        """Visible records, masked as needed, at most ``limit``."""
        out = (self.view(r) for r in records if self.allows("read", r))
        return itertools.islice(out, limit) if limit is not None else out

    def _who(self) -> str:
        role = self.policy.role_of(self.actor)
        return f"{role.value if role else 'inactive user'} {self.actor.id}"

    def deny(self, verb: str, record: Record, why: str = "") -> PermissionDeniedError:
        """The error for a refused write: names the actor and the record given, never the owner
        or anything else of a stored record."""
        rid = getattr(record, "id", "?")
        return PermissionDeniedError(
            f"{self._who()} may not {verb} {type(record).__name__} {rid!r}{why}"
        )

    def _check_links(self, verb: str, record: Record, stored: Record | None) -> None:
        # A link may name only a record the actor can see (or none stored yet); on a save only
        # the links that change are checked (a visible deal keeps its links to hidden records).
        for field, collection, value in _links(record):
            if stored is not None and getattr(stored, field, None) == value:
                continue
            target = self._find(collection, value)
            if target is not None and not self.allows("read", target):
                raise self.deny(verb, record, f": {field} {value!r} is not available")

    def check_new(self, record: Record, stored: Record | None, kind: str) -> None:
        """Refuse a new record the actor may not write; an id held by a hidden record (of this
        kind, or of another customer kind) is "not available" (:class:`DuplicateError`, naming
        nobody)."""
        rid = getattr(record, "id", "?")
        if stored is not None and not self.allows("read", stored):
            raise DuplicateError(f"{kind} id {rid!r} is not available")
        hides = self.grant.read is not Scope.ALL  # an all-scope reader has nothing hidden
        if hides and isinstance(record, Lead | Opportunity | Account | Contact):
            # An id another customer kind holds out of the actor's sight would make references
            # by id ambiguous to people who read by id (spreadsheets): not available either.
            for collection in _SUBJECT_COLLECTIONS:
                other = self._find(collection, rid)
                hidden = other is not None and not self.allows("read", other)
                if hidden and type(other) is not type(record):
                    raise DuplicateError(f"{kind} id {rid!r} is not available")
        if not self.allows("write", record):
            raise self.deny("add", record)
        if hides:
            self._check_links("add", record, None)

    def check_save(self, record: Record, stored: Record | None, kind: str) -> None:
        """Refuse a new version the actor may not write (stored and new version both checked);
        a hidden or missing stored record is :class:`NotFoundError`."""
        if stored is None or not self.allows("read", stored):
            raise NotFoundError(kind, getattr(record, "id", "?"))
        if not self.allows("write", stored):
            raise self.deny("change", record)
        if not self.allows("write", record):
            raise self.deny("save", record)
        if self.grant.read is not Scope.ALL:
            self._check_links("save", record, stored)

    # -- the public pool ------------------------------------------------------------------

    def pool_move(self, record: Record, stored: Record | None) -> str | None:
        """``"claim"`` or ``"release"`` when this save moves a lead or deal out of or into the
        pool, else ``None``."""
        if self.pool is None or stored is None or not isinstance(record, Lead | Opportunity):
            return None
        before, after = getattr(stored, "owner_id", None), record.owner_id
        if before == self.pool.pool_id and after != self.pool.pool_id:
            return "claim"
        if before != self.pool.pool_id and after == self.pool.pool_id:
            return "release"
        return None

    def _held(self, rep: str) -> int:
        # Records the rep holds now that came to them by a pool claim.
        subjects: set[tuple[str | None, str]] = set()
        for e in self.repos.journal.by_kind(POOL_CLAIM):
            if e.payload.get("to") == rep:
                subjects.add((subject_collection(e), e.subject_id))
        held = 0
        for collection, sid in subjects:
            for c in (collection,) if collection else ("leads", "opportunities"):
                found = self._find(c, sid)
                if found is not None and getattr(found, "owner_id", None) == rep:
                    held += 1
        return held

    def pool_entry(
        self, move: str, record: Lead | Opportunity, stored: Lead | Opportunity, kind: str
    ) -> tuple[Lead | Opportunity, JournalEntry]:
        """Check a claim or release made by saving ``record`` over ``stored`` and return the
        version to store and its journal entry (:func:`~pipeline_core.assignment.pool.claim`,
        :func:`~pipeline_core.assignment.pool.release`)."""
        assert self.pool is not None
        if not self.allows("read", stored):
            raise NotFoundError(kind, record.id)
        if move == "release" and not self.allows("write", stored):
            raise self.deny("release", record)
        if move == "claim" and not self.author_ok(record.owner_id):
            raise self.deny("claim", record, ": the new owner is outside your scope")
        tags = {stored.tags, stored.tags - {POOL_TAG}, stored.tags | {POOL_TAG}}
        fixed = {n for n, _ in stored.__pc_fields__} - {"owner_id", "tags", "version"}
        if record.tags not in tags or any(
            getattr(record, n) != getattr(stored, n) for n in sorted(fixed)
        ):
            raise self.deny(
                move,
                record,
                ": a move into or out of the pool changes only the owner and the pool tag "
                "(save other changes separately)",
            )
        if record.version != stored.version + 1:
            raise ConcurrencyError(
                kind, record.id, expected=record.version - 1, actual=stored.version
            )
        at = self.clock.now()
        if move == "release":
            return release(  # type: ignore[type-var]
                stored,
                at=at,
                by=self.actor.id,
                reason="released to the pool",
                policy=self.pool,
                ids=self.ids,
            )
        rep = record.owner_id
        assert rep is not None
        recent = self.repos.journal.by_kind(POOL_CLAIM, start=at - timedelta(hours=24))
        return claim(  # type: ignore[type-var]
            stored,
            rep,
            at=at,
            policy=self.pool,
            ids=self.ids,
            journal=recent,
            held=self._held(rep),
            by=self.actor.id,
        )

    def journaled(self, entry: JournalEntry) -> bool:
        """Whether ``entry`` records a pool move this store has journaled already (visible to
        the actor): same kind, subject, new owner and version."""
        if entry.kind not in (POOL_CLAIM, POOL_RELEASE):
            return False
        for e in self.repos.journal.for_subject(entry.subject_id, kind=entry.kind):
            if (
                e.id != entry.id
                and e.payload.get("version") == entry.payload.get("version")
                and e.payload.get("to") == entry.payload.get("to")
                and self.allows("read", e)
            ):
                return True
        return False


class _Scoped(Generic[R]):
    def __init__(self, inner: Any, guard: _Guard, name: str) -> None:
        self._inner = inner
        self._guard = guard
        self._name = name
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
        """Add a record the actor may write (an id held by a hidden record is "not available")."""
        self._guard.check_new(record, self._inner.find(getattr(record, "id", "")), self.kind)
        self._inner.add(record)

    def save(self, record: R) -> None:
        """Save a new version the actor may write (stored version must be writable too; a hidden
        record is not found). A lead or deal moved out of or into the pool is a claim or a
        release: only the owner and the pool tag may change, the pool policy's limits apply, and
        the store journals the move itself."""
        stored = self._inner.find(getattr(record, "id", ""))
        move = self._guard.pool_move(record, stored)
        if move is None:
            self._guard.check_save(record, stored, self.kind)
            self._inner.save(record)
            return
        assert isinstance(record, Lead | Opportunity)
        assert isinstance(stored, Lead | Opportunity)
        new, entry = self._guard.pool_entry(move, record, stored, self.kind)
        with self._guard.atomic() as repos:
            getattr(repos, self._name).save(new)
            repos.journal.append(entry)

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
            self._guard.check_new(r, self._inner.find(getattr(r, "id", "")), self.kind)
        return int(self._inner.bulk_add(items, batch_size=batch_size, progress=progress))


class _ScopedLog(_Scoped[R]):
    def _check(self, entry: R) -> None:
        self._guard.check_new(entry, self._inner.find(getattr(entry, "id", "")), self.kind)

    def append(self, entry: R) -> bool:
        """Append an entry the actor may write; ``False`` for one already there (or a pool move
        this store journaled already)."""
        if isinstance(entry, JournalEntry) and self._guard.journaled(entry):
            return False
        self._check(entry)
        return bool(self._inner.append(entry))

    def bulk_append(
        self,
        entries: Iterable[R],
        *,
        batch_size: int = 10_000,
        progress: Progress | None = None,
    ) -> int:
        """Append many entries, all checked before any is written."""
        items = [
            e for e in entries if not (isinstance(e, JournalEntry) and self._guard.journaled(e))
        ]
        for e in items:
            self._check(e)
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
        self._leads = _Leads(repos.leads, guard, "leads")
        self._opportunities = _Opportunities(repos.opportunities, guard, "opportunities")
        self._accounts = _Accounts(repos.accounts, guard, "accounts")
        self._contacts = _Contacts(repos.contacts, guard, "contacts")
        self._users = _Users(repos.users, guard, "users")
        self._teams = _Teams(repos.teams, guard, "teams")
        self._activities = _Activities(repos.activities, guard, "activities")
        self._stage_events = _StageEvents(repos.stage_events, guard, "stage_events")
        self._sla_outcomes = _SlaOutcomes(repos.sla_outcomes, guard, "sla_outcomes")
        self._journal = _Journal(repos.journal, guard, "journal")

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
        pool: PoolPolicy | None = None,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
    ) -> None:
        self.inner = store
        self.url = store.url
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
        if isinstance(actor, str):
            found = self.directory.users.get(actor)
            if found is None:
                raise NotFoundError("user", actor)
            actor = found
        self.actor = actor
        super().__init__(store, self._guard_for(store, store.unit_of_work))

    def _guard_for(
        self, repos: Repositories, atomic: Callable[[], AbstractContextManager[Any]]
    ) -> _Guard:
        return _Guard(
            repos, self.actor, self.policy, self.directory, self.pool, self.clock, self.ids, atomic
        )

    def reload_directory(self) -> None:
        """Re-read users and teams from the store (after team or role changes)."""
        self.directory = Directory.of(self.inner.users.all(), self.inner.teams.all())
        self.actor = self.directory.users.get(self.actor.id, self.actor)
        _ScopedRepositories.__init__(
            self, self.inner, self._guard_for(self.inner, self.inner.unit_of_work)
        )

    @contextmanager
    def _uow(self) -> Iterator[UnitOfWork]:
        with self.inner.unit_of_work() as uow:
            guard = self._guard_for(uow, lambda: nullcontext(uow))
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
                f"{role.value if role else 'inactive user'} {self.actor.id} may not export or "
                "import in bulk"
            )

    def close(self) -> None:
        """Nothing to release: the underlying store stays open (its owner closes it)."""

    def __enter__(self) -> ScopedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_AUDITED = (
    "leads",
    "opportunities",
    "accounts",
    "contacts",
    "activities",
    "stage_events",
    "sla_outcomes",
    "journal",
)


def audit(store: Store) -> list[Problem]:
    """Stored records that the access rules of :class:`ScopedStore` treat differently from what
    their writers may have meant, as problems to review (nothing is changed or dropped).

    Each problem's ``path`` is ``(collection, record id, field)``; its ``code`` is one of

    - ``"shared_id"``: the same id is used in several kinds (leads, opportunities, accounts,
      contacts); references are looked up in their own kind only;
    - ``"wrong_kind"``: a reference names an id that does not exist in the kind the field points to
      (:data:`~pipeline_core.records.REFERENCES`) but exists in another kind;
    - ``"missing_parent"``: a contact, stage event, activity, SLA outcome or journal entry whose
      parent (account, opportunity, subject) does not exist: only all-scope actors see it;
    - ``"unknown_subject_kind"``: a declared subject kind not in
      :data:`~pipeline_core.records.SUBJECT_KINDS`: only all-scope actors see it;
    - ``"ambiguous_subject"``: a journal entry declaring no subject kind whose subject id exists in
      several kinds: shown only to actors who may read every one of them;
    - ``"mixed_subjects"``: an activity about records of different owners: shown (to others than
      its author) and writable only for actors who may read, or change, all of them.

    Reads every record once (memory: one owner map of the customer kinds).
    """
    owners: dict[str, dict[str, str | None]] = {
        c: {r.id: getattr(r, "owner_id", None) for r in getattr(store, c).all()}
        for c in _SUBJECT_COLLECTIONS
    }
    kinds_of: dict[str, list[str]] = {}
    for c, known in owners.items():
        for rid in known:
            kinds_of.setdefault(rid, []).append(c)
    problems: list[Problem] = []
    for rid in sorted(kinds_of):
        where = kinds_of[rid]
        if len(where) > 1:
            problems.append(
                Problem(
                    (where[0], rid, "id"),
                    f"the id is used by {', '.join(where)}; a reference finds only its own kind",
                    rid,
                    "shared_id",
                )
            )
    for collection in _AUDITED:
        for record in getattr(store, collection).all():
            problems.extend(_audit_record(collection, record, owners, kinds_of))
    return problems


def access_findings(store: Store) -> Iterator[Finding]:
    """:func:`audit` as a :data:`~pipeline_core.storage.check.Auditor` for ``pipeline-core check``:
    each problem as a :class:`~pipeline_core.storage.check.Finding` of auditor ``"access"`` (the
    record kind in the singular, as the other findings name it)."""
    kinds = {t.name: t.kind for t in TABLES}
    try:
        problems = audit(store)
    except ValidationError as exc:  # a stored record today's rules refuse: listed by stored_values
        yield Finding(
            "store",
            "",
            "<access audit>",
            None,
            f"not run: a stored record fails validation ({exc.problems[0].field if exc.problems else exc}); "
            "fix the values listed by the stored-values check first",
            "audit_not_run",
            "access",
        )
        return
    for p in problems:
        collection, rid, field = (str(part) for part in p.path)
        yield Finding(
            kinds.get(collection, collection), rid, field, p.value, p.message, p.code, "access"
        )


def _audit_record(
    collection: str,
    record: Record,
    owners: dict[str, dict[str, str | None]],
    kinds_of: dict[str, list[str]],
) -> Iterator[Problem]:
    rid = str(getattr(record, "id", "?"))
    name = type(record).__name__
    parents = _PARENTS.get(type(record), ())
    for (kind, field), target in REFERENCES.items():
        value = getattr(record, field, None) if kind == name else None
        if not isinstance(value, str):
            continue
        path = (collection, rid, field)
        if target == "subject_kind":
            declared = subject_collection(record)
            if declared == _UNKNOWN:
                yield Problem(
                    path, "the subject's kind is not a known kind", value, "unknown_subject_kind"
                )
                continue
            if declared is None:
                where = kinds_of.get(value, [])
                if len(where) > 1:
                    yield Problem(
                        path,
                        f"declares no subject kind and the id is used by {', '.join(where)}",
                        value,
                        "ambiguous_subject",
                    )
                elif not where:
                    yield Problem(path, "the subject does not exist", value, "missing_parent")
                continue
            target = declared
        if target not in owners or value in owners[target]:
            continue
        elsewhere = [c for c in kinds_of.get(value, []) if c != target]
        if elsewhere:
            yield Problem(
                path,
                f"points to {target}, which hold no such id ({', '.join(elsewhere)} do)",
                value,
                "wrong_kind",
            )
        elif field in parents:
            yield Problem(path, f"no such record in {target}", value, "missing_parent")
    if isinstance(record, Activity):
        subject_owners = {
            owners[c].get(s)
            for c, s in (
                ("leads", record.lead_id),
                ("opportunities", record.opportunity_id),
                ("accounts", record.account_id),
            )
            if s is not None and s in owners[c]
        }
        if len(subject_owners) > 1:
            yield Problem(
                (collection, rid, "lead_id"),
                "is about records of different owners: only actors who may read all of them see "
                "it (besides its author)",
                rid,
                "mixed_subjects",
            )
