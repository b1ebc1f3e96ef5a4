"""The access decisions for one actor over one store: reads, visibility as query conditions, writes.

:class:`Guard` says what :class:`~pipeline_core.access.store.ScopedStore` enforces (see there):
whether the actor may read or write a record (through its parents and author), the record as the
actor sees it (masked), the conditions a query gets so that it answers only what the actor may
read, the checks of a new record or a new version, and claims from and releases to the pool.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Literal, TypeVar

from pipeline_core._model import Record, field_names
from pipeline_core.access.masking import PERSONAL_FIELDS
from pipeline_core.access.policy import AccessPolicy, Directory, Scope
from pipeline_core.access.subjects import (
    SUBJECT_COLLECTIONS,
    UNKNOWN_KIND,
    links,
    subject_collection,
)
from pipeline_core.assignment.pool import (
    POOL_CLAIM,
    POOL_RELEASE,
    POOL_TAG,
    PoolPolicy,
    claim,
    release,
)
from pipeline_core.clock import Clock
from pipeline_core.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFoundError,
    PermissionDeniedError,
)
from pipeline_core.ids import IdFactory
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
from pipeline_core.storage._base import (
    ACCOUNTS,
    NOTHING,
    OPPORTUNITIES,
    Cond,
    Table,
)
from pipeline_core.storage.ports import Repositories

__all__ = ["Guard", "Verb"]

R = TypeVar("R", bound=Record)
Verb = Literal["read", "write"]
"""What a guard decides: reading or writing a record."""

# Kinds whose visibility the conditions of `Guard.visibility` say exactly.
_EXACT = (Lead, Opportunity, Account, Contact, StageEvent)
# Reference fields naming the author of a record: the actor or a user within their write scope.
_AUTHORS: dict[type[Record], str] = {Activity: "owner_id", StageEvent: "by", JournalEntry: "by"}


class Guard:
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
        # memos for the life of this guard (one actor, one directory): the personal values of
        # related records (bounded: long masked exports), the visibility conditions per table
        self._names = functools.lru_cache(maxsize=10_000)(self._personal_values)
        self._visibility = functools.cache(self._conditions)

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
            found = [r for c in SUBJECT_COLLECTIONS if (r := self._find(c, ref)) is not None]
            return bool(found) and all(self.allows(verb, r) for r in found)
        if collection == UNKNOWN_KIND:
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
            out.extend(self._names(collection, ref, names))
        return out

    def _personal_values(
        self, collection: str, ref: str, names: tuple[str, ...]
    ) -> tuple[str, ...]:
        related = self._find(collection, ref)
        return tuple(v for n in names if isinstance(v := getattr(related, n, None), str))

    # -- visibility as query conditions ------------------------------------------------------

    def visibility(self, table: Table) -> tuple[tuple[Cond, ...], bool]:
        """The conditions a query of ``table`` gets so that it answers what the actor may read,
        and whether they are exact (``False``: each record they let through is still decided
        by :meth:`allows`). The same predicate as :meth:`allows`, said as conditions: on owners
        and teams (:meth:`AccessPolicy.decide`) and, for records decided through a parent, on
        the parent's (a contact through its account, a stage event through its deal)."""
        return self._visibility(table)

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

    def _checklinks(self, verb: str, record: Record, stored: Record | None) -> None:
        # A link may name only a record the actor can see (or none stored yet); on a save only
        # the links that change are checked (a visible deal keeps its links to hidden records).
        for field, collection, value in links(record):
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
            for collection in SUBJECT_COLLECTIONS:
                other = self._find(collection, rid)
                hidden = other is not None and not self.allows("read", other)
                if hidden and type(other) is not type(record):
                    raise DuplicateError(f"{kind} id {rid!r} is not available")
        if not self.allows("write", record):
            raise self.deny("add", record)
        self._check_placement("add", record, None)
        if hides:
            self._checklinks("add", record, None)

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
            self._checklinks("save", record, stored)

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
        fixed = set(field_names(type(stored))) - {"owner_id", "tags", "version"}
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
