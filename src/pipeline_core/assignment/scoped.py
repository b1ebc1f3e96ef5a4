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
from datetime import timedelta
from typing import Any, Literal, TypeVar

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
from pipeline_core.storage._base import (
    ACCOUNTS,
    JOURNAL,
    NOTHING,
    OPPORTUNITIES,
    TABLES,
    Backend,
    Cond,
    Query,
    Table,
)
from pipeline_core.storage.check import Finding
from pipeline_core.storage.ports import AppendLog, BaseStore, Repositories, Repository, Store

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
# Kinds whose visibility the conditions of `_Guard.visibility` say exactly.
_EXACT = (Lead, Opportunity, Account, Contact, StageEvent)
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
    ) -> None:
        self.repos = repos
        self.actor = actor
        self.policy = policy
        self.directory = directory
        self.pool = pool
        self.clock = clock
        self.ids = ids
        self.grant = policy.grant_of(actor)
        self.mask = self.grant.mask_contacts
        self._names: dict[tuple[str, str], tuple[str, ...]] = {}
        self._visibility: dict[str, tuple[tuple[Cond, ...], bool]] = {}

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
        # from here on the scope is not all: a missing or unknown parent is not accessible
        if collection is None:
            found = [r for c in _SUBJECT_COLLECTIONS if (r := self._find(c, ref)) is not None]
            return bool(found) and all(self.allows(verb, r) for r in found)
        if collection == _UNKNOWN:
            return False
        parent = self._find(collection, ref)
        return parent is not None and self.allows(verb, parent)

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
            if isinstance(record, JournalEntry) and record.kind == POOL_CLAIM:
                # pool limits count claims by the payload's "to": only the actor's own, or
                # those of people within their write scope, may be recorded by them
                to = record.payload.get("to")
                if not self.author_ok(to if isinstance(to, str) else None):
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
        """The record as the actor sees it (masked: with the names and WeChat ids of the lead and
        contact it is about masked inside its free text too)."""
        if not self.mask:
            return record
        return self.policy.mask(record, self._related_names(record))

    def _related_names(self, record: Record) -> list[str]:
        # Personal values of the lead and contact an activity or deal is about (a rep writes
        # "called 张伟" into the notes); read unscoped: they are only used to mask.
        out: list[str] = []
        for field, collection, names in (
            ("lead_id", "leads", ("contact_name",)),
            ("contact_id", "contacts", ("name", "wechat")),
        ):
            ref = (
                getattr(record, field, None) if isinstance(record, Activity | Opportunity) else None
            )
            if not isinstance(ref, str):
                continue
            key = (collection, ref)
            found = self._names.get(key)
            if found is None:
                related = self._find(collection, ref)
                found = tuple(v for n in names if isinstance(v := getattr(related, n, None), str))
                if len(self._names) >= 10_000:  # a bounded cache for long masked exports
                    self._names.clear()
                self._names[key] = found
            out.extend(found)
        return out

    # -- visibility as query conditions ------------------------------------------------------

    def visibility(self, table: Table) -> tuple[tuple[Cond, ...], bool]:
        """The conditions a query of ``table`` gets so that it answers what the actor may read,
        and whether they are exact (``False``: each record they let through is still decided
        by :meth:`allows`). The same predicate as :meth:`allows`, said as conditions: on owners
        and teams (:meth:`AccessPolicy.decide`) and, for records decided through a parent, on
        the parent's (a contact through its account, a stage event through its deal)."""
        found = self._visibility.get(table.name)
        if found is None:
            found = self._visibility[table.name] = self._conditions(table)
        return found

    def _conditions(self, table: Table) -> tuple[tuple[Cond, ...], bool]:
        read = self.grant.read
        if table.cls in (User, Team):
            return ((), True) if self.policy.role_of(self.actor) is not None else ((NOTHING,), True)
        if table.cls not in _EXACT:
            return (), False  # activities, SLA outcomes, journal entries: record by record
        if read is Scope.ALL:
            return (), True
        if read is Scope.NONE:
            return (NOTHING,), True
        if table.cls is Contact:  # through the account (none: all scope only)
            return (
                Cond("in_table", "account_id", sub=self._owners(ACCOUNTS), table=ACCOUNTS),
            ), True
        if table.cls is StageEvent:  # through the opportunity
            return (
                Cond(
                    "in_table",
                    "opportunity_id",
                    sub=self._owners(OPPORTUNITIES),
                    table=OPPORTUNITIES,
                ),
            ), True
        return self._owners(table), True

    def _owners(self, table: Table) -> tuple[Cond, ...]:
        # `AccessPolicy.decide` for reading, for an actor with own or team scope: the actor's
        # records, the pool's, and (team scope) those of the people of the actor's teams, and
        # deals filed under one of those teams.
        owners = {self.actor.id}
        if self.policy.pool_owner is not None:
            owners.add(self.policy.pool_owner)
        teams: frozenset[str] = frozenset()
        if self.grant.read is Scope.TEAM:
            teams = self.directory.teams_in_scope(self.actor)
            owners.update(u.id for u in self.directory.users.values() if u.team_id in teams)
        owned = Cond("in", "owner_id", frozenset(owners))
        if table.cls is Opportunity and teams:
            return (Cond("any", sub=(owned, Cond("in", "team_id", teams))),)
        return (owned,)

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
        self._check_placement("add", record, None)
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
        self._check_placement("save", record, stored)
        if self.grant.read is not Scope.ALL:
            self._check_links("save", record, stored)

    def _check_placement(self, verb: str, record: Record, stored: Record | None) -> None:
        # Whom and which team a write files a record under is the actor's to decide only within
        # their write scope: a new or changed owner must pass `author_ok` (an opportunity's
        # `team_id` alone would otherwise let a manager file deals in another team's reps'
        # names), a new or changed team must be one of the actor's teams. Unchanged ones stay.
        if self.grant.write is Scope.ALL or not isinstance(record, Lead | Opportunity | Account):
            return
        owner = record.owner_id
        if (stored is None or getattr(stored, "owner_id", None) != owner) and not self.author_ok(
            owner
        ):
            raise self.deny(verb, record, ": the owner is outside your scope")
        team = record.team_id if isinstance(record, Opportunity) else None
        if (
            team is not None
            and (stored is None or getattr(stored, "team_id", None) != team)
            and team not in self.directory.teams_in_scope(self.actor)
        ):
            raise self.deny(verb, record, ": the team is outside your scope")

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


class _ScopedBackend(Backend):
    """The access rules as a decorator on another store's backend: every read primitive answers
    only what the actor may read (visibility inside the query where the rules can say it as
    conditions, record by record otherwise), every write primitive checks what comes in before
    it reaches the inner backend. Transactions are the inner backend's."""

    def __init__(self, inner: Backend, guard: _Guard) -> None:
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

    # atomic() above is the inner backend's; the steps it is made of are the inner backend's too
    def _begin(self) -> None:
        self.inner._begin()

    def _commit(self) -> None:
        self.inner._commit()

    def _rollback(self) -> None:
        self.inner._rollback()

    def _savepoint(self, name: str) -> None:
        self.inner._savepoint(name)

    def _release(self, name: str) -> None:
        self.inner._release(name)

    def _rollback_to(self, name: str) -> None:
        self.inner._rollback_to(name)

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
        self._scoped = _ScopedBackend(inner_backend, self._new_guard())
        super().__init__(self._scoped, store.url)

    def _new_guard(self) -> _Guard:
        return _Guard(
            self.inner, self.actor, self.policy, self.directory, self.pool, self.clock, self.ids
        )

    @property
    def _guard(self) -> _Guard:
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
        if kind not in _EXPORTABLE:
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


_AUDITED = _EXPORTABLE  # every kind with records of customers


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
