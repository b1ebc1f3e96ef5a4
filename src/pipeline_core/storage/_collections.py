"""The collections of the storage port: versioned repositories and append-only logs, each query
declared once as a method that describes a :class:`~pipeline_core.storage._base.Query`.

Internal to :mod:`pipeline_core.storage.ports`, which exports these names and documents the port
(the two families, optimistic concurrency, paging, open deals, time ranges).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pipeline_core import records as rec
from pipeline_core._deprecation import renamed_params
from pipeline_core._model import Record
from pipeline_core.errors import NotFoundError, RecordTypeError
from pipeline_core.storage._base import (
    ACCOUNTS,
    ACTIVITIES,
    CONTACTS,
    DEFAULT_BATCH,
    JOURNAL,
    LEADS,
    OPPORTUNITIES,
    SLA_OUTCOMES,
    STAGE_EVENTS,
    TEAMS,
    USERS,
    Backend,
    Cond,
    Progress,
    Query,
    Table,
    batched,
    check_batch,
    check_key,
    check_limit,
    check_ts,
)

__all__ = [
    "AccountRepository",
    "ActivityLog",
    "AppendLog",
    "ContactRepository",
    "JournalLog",
    "LeadRepository",
    "OpportunityRepository",
    "Repository",
    "SlaOutcomeRepository",
    "StageEventLog",
    "TeamRepository",
    "UserRepository",
]

R = TypeVar("R", bound=Record)


# --------------------------------------------------------------------------- the two families


class _Collection(Generic[R]):
    """What versioned repositories and append-only logs share: reads by id, ``all``, ``count``,
    and :meth:`_q`, through which every query of the typed collections below reaches the
    backend."""

    table: ClassVar[Table]
    """The table the collection reads and writes (set by each typed collection)."""

    def __init__(self, backend: Backend, table: Table | None = None) -> None:
        self._b = backend
        self._t = table if table is not None else type(self).table
        self.kind: str = self._t.kind
        """The record kind, e.g. ``"opportunity"``: used in errors."""

    def _check(self, record: object) -> None:
        if not isinstance(record, self._t.cls):
            raise RecordTypeError(
                f"{self.kind} store takes {self._t.cls.__name__} records, got {type(record).__name__}"
            )

    def get(self, id: str) -> R:
        """The stored record; :class:`~pipeline_core.errors.NotFoundError` if there is none."""
        found = self.find(id)
        if found is None:
            raise NotFoundError(self.kind, id)
        return found

    def find(self, id: str) -> R | None:
        """The stored record, or ``None``. :class:`~pipeline_core.errors.ValidationError` if
        ``id`` is not text or holds NUL (the same on every adapter)."""
        return self._b.get(self._t, check_key(id, "id"))  # type: ignore[return-value]

    def all(self, *, after: str | None = None, limit: int | None = None) -> Iterator[R]:
        """Every record in id order, streamed; ``after`` = the last id of the previous page."""
        return self._q((), (), limit, after=None if after is None else (check_key(after, "after"),))

    def count(self) -> int:
        """How many records are stored."""
        return self._b.count(self._t)

    def _q(
        self,
        where: tuple[Cond, ...],
        order: tuple[str, ...],
        limit: int | None,
        *,
        after: tuple[Any, ...] | None = None,
    ) -> Iterator[R]:
        for c in where:
            if c.op in ("=", "tag", "in_any"):
                check_key(c.value, c.column or ("tag" if c.op == "tag" else "subject_id"))
        query = Query(self._t, where, order, after, check_limit(limit))
        return self._b.stream(query)  # type: ignore[return-value]


class Repository(_Collection[R]):
    """A versioned collection of records with optimistic concurrency (see the module doc)."""

    def add(self, record: R) -> None:
        """Store a new record. :class:`~pipeline_core.errors.DuplicateError` if the id exists."""
        self._check(record)
        with self._b.atomic():
            self._b.insert(self._t, [record])

    def save(self, record: R) -> None:
        """Store the next version of a record.

        The stored version must equal ``record.version - 1``; otherwise
        :class:`~pipeline_core.errors.ConcurrencyError` (``expected`` = ``record.version - 1``,
        ``actual`` = the stored version) and nothing is written.
        :class:`~pipeline_core.errors.NotFoundError` if the record was never added.
        """
        self._check(record)
        with self._b.atomic():
            self._b.update(self._t, record)

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
        check_batch(batch_size)
        done = 0
        with self._b.atomic():
            for batch in batched(records, batch_size):
                for r in batch:
                    self._check(r)
                self._b.insert(self._t, batch)
                done += len(batch)
                if progress is not None:
                    progress(done)
        return done


class AppendLog(_Collection[R]):
    """An append-only, id-idempotent log of entries (see the module doc)."""

    def append(self, entry: R) -> bool:
        """Append one entry. ``True`` if written, ``False`` if the identical entry was already
        there; :class:`~pipeline_core.errors.DuplicateError` if a *different* entry has this id."""
        self._check(entry)
        with self._b.atomic():
            return self._b.append(self._t, [entry]) == 1

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
        check_batch(batch_size)
        new = 0
        done = 0
        with self._b.atomic():
            for batch in batched(entries, batch_size):
                for e in batch:
                    self._check(e)
                new += self._b.append(self._t, batch)
                done += len(batch)
                if progress is not None:
                    progress(done)
        return new


# --------------------------------------------------------------------------- typed collections
# Each query is declared here once: its signature, its documentation and its Query.


def _eq(column: str, value: Any) -> Cond:
    return Cond("=", column, value)


def _opt(column: str, value: Any) -> tuple[Cond, ...]:
    return () if value is None else (_eq(column, value),)


def _tag(tag: str) -> tuple[Cond, ...]:
    return (Cond("tag", value=tag),)


def _since(column: str, start: datetime) -> Cond:
    return Cond(">=", column, check_ts(start, "start"))


def _until(column: str, end: datetime) -> Cond:
    return Cond("<", column, check_ts(end, "end"))


_OPEN = Cond("is_null", "closed_at")


class LeadRepository(Repository[rec.Lead]):
    """Leads (线索)."""

    table = LEADS

    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[rec.Lead]:
        """Leads owned by ``owner_id``, in id order."""
        return self._q((_eq("owner_id", owner_id),), (), limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[rec.Lead]:
        """Leads carrying ``tag``, in id order."""
        return self._q(_tag(tag), (), limit)

    @renamed_params(t="as_of")
    def due_by(self, as_of: datetime, *, limit: int | None = None) -> Iterator[rec.Lead]:
        """Leads whose ``next_step.due_at <= as_of`` (the evaluation instant, timezone-aware),
        earliest due first (ties by id). ``t=`` is the deprecated name of ``as_of``."""
        return self._q((Cond("<=", "due_at", check_ts(as_of, "as_of")),), ("due_at",), limit)


class OpportunityRepository(Repository[rec.Opportunity]):
    """Opportunities (商机). *Open* means ``closed_at is None``."""

    table = OPPORTUNITIES

    def open(
        self,
        *,
        owner_id: str | None = None,
        team_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[rec.Opportunity]:
        """Open opportunities, optionally of one owner and/or team, in id order."""
        where = (_OPEN, *_opt("owner_id", owner_id), *_opt("team_id", team_id))
        return self._q(where, (), limit)

    def by_owner(
        self, owner_id: str, *, include_closed: bool = True, limit: int | None = None
    ) -> Iterator[rec.Opportunity]:
        """Opportunities owned by ``owner_id``, in id order."""
        where = (_eq("owner_id", owner_id),) + (() if include_closed else (_OPEN,))
        return self._q(where, (), limit)

    def by_team(
        self, team_id: str, *, include_closed: bool = True, limit: int | None = None
    ) -> Iterator[rec.Opportunity]:
        """Opportunities of team ``team_id``, in id order."""
        where = (_eq("team_id", team_id),) + (() if include_closed else (_OPEN,))
        return self._q(where, (), limit)

    def by_stage(self, stage: str, *, limit: int | None = None) -> Iterator[rec.Opportunity]:
        """Opportunities currently in stage ``stage``, in id order."""
        return self._q((_eq("stage", stage),), (), limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[rec.Opportunity]:
        """Opportunities carrying ``tag``, in id order."""
        return self._q(_tag(tag), (), limit)

    @renamed_params(t="as_of")
    def due_by(
        self,
        as_of: datetime,
        *,
        owner_id: str | None = None,
        team_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[rec.Opportunity]:
        """Open opportunities whose ``next_step.due_at <= as_of`` (the evaluation instant,
        timezone-aware), earliest due first (ties by id). ``t=`` is the deprecated name of
        ``as_of``."""
        where = (
            _OPEN,
            Cond("<=", "due_at", check_ts(as_of, "as_of")),
            *_opt("owner_id", owner_id),
            *_opt("team_id", team_id),
        )
        return self._q(where, ("due_at",), limit)


class AccountRepository(Repository[rec.Account]):
    """Customer companies (客户)."""

    table = ACCOUNTS

    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[rec.Account]:
        """Accounts owned by ``owner_id``, in id order."""
        return self._q((_eq("owner_id", owner_id),), (), limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[rec.Account]:
        """Accounts carrying ``tag``, in id order."""
        return self._q(_tag(tag), (), limit)


class ContactRepository(Repository[rec.Contact]):
    """People at customers (联系人)."""

    table = CONTACTS

    def by_account(self, account_id: str, *, limit: int | None = None) -> Iterator[rec.Contact]:
        """Contacts of ``account_id``, in id order."""
        return self._q((_eq("account_id", account_id),), (), limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[rec.Contact]:
        """Contacts carrying ``tag``, in id order."""
        return self._q(_tag(tag), (), limit)


class UserRepository(Repository[rec.User]):
    """People of the sales organisation."""

    table = USERS

    def by_team(self, team_id: str, *, limit: int | None = None) -> Iterator[rec.User]:
        """Users of ``team_id``, in id order."""
        return self._q((_eq("team_id", team_id),), (), limit)


class TeamRepository(Repository[rec.Team]):
    """Sales teams."""

    table = TEAMS

    def children(self, parent_id: str, *, limit: int | None = None) -> Iterator[rec.Team]:
        """Teams whose ``parent_id`` is ``parent_id``, in id order."""
        return self._q((_eq("parent_id", parent_id),), (), limit)


class SlaOutcomeRepository(Repository[rec.SlaOutcome]):
    """How SLA clocks ended (:class:`~pipeline_core.records.SlaOutcome`)."""

    table = SLA_OUTCOMES

    def for_subject(self, subject_id: str, *, limit: int | None = None) -> Iterator[rec.SlaOutcome]:
        """Outcomes of one lead/opportunity, by ``due_at`` (ties by id)."""
        return self._q((_eq("subject_id", subject_id),), ("due_at",), limit)

    def due_between(
        self,
        start: datetime,
        end: datetime,
        *,
        owner_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[rec.SlaOutcome]:
        """Outcomes with ``start <= due_at < end``, by ``due_at`` (ties by id)."""
        where = (_since("due_at", start), _until("due_at", end), *_opt("owner_id", owner_id))
        return self._q(where, ("due_at",), limit)


class StageEventLog(AppendLog[rec.StageEvent]):
    """The append-only stage history of every opportunity."""

    table = STAGE_EVENTS

    def for_opportunity(
        self, opportunity_id: str, *, limit: int | None = None
    ) -> Iterator[rec.StageEvent]:
        """One opportunity's events in :func:`pipeline_core.facts.event_order` (``at``, then
        ``seq``; ties by id)."""
        return self._q((_eq("opportunity_id", opportunity_id),), ("at", "seq"), limit)

    def between(
        self, start: datetime, end: datetime, *, limit: int | None = None
    ) -> Iterator[rec.StageEvent]:
        """Events with ``start <= at < end``, by ``at``, then ``seq`` (ties by id)."""
        return self._q((_since("at", start), _until("at", end)), ("at", "seq"), limit)


class ActivityLog(AppendLog[rec.Activity]):
    """The append-only log of follow-up activities (跟进记录)."""

    table = ACTIVITIES

    def for_subject(self, subject_id: str, *, limit: int | None = None) -> Iterator[rec.Activity]:
        """Activities whose ``lead_id``, ``opportunity_id`` or ``account_id`` is ``subject_id``,
        by ``at`` (ties by id)."""
        cond = Cond("in_any", value=subject_id, columns=("lead_id", "opportunity_id", "account_id"))
        return self._q((cond,), ("at",), limit)

    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[rec.Activity]:
        """Activities by ``owner_id``, by ``at`` (ties by id)."""
        return self._q((_eq("owner_id", owner_id),), ("at",), limit)

    def between(
        self,
        start: datetime,
        end: datetime,
        *,
        owner_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[rec.Activity]:
        """Activities with ``start <= at < end``, by ``at`` (ties by id)."""
        where = (_since("at", start), _until("at", end), *_opt("owner_id", owner_id))
        return self._q(where, ("at",), limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[rec.Activity]:
        """Activities carrying ``tag``, by ``at`` (ties by id)."""
        return self._q(_tag(tag), ("at",), limit)


class JournalLog(AppendLog[rec.JournalEntry]):
    """Append-only history of ownership transfers, merges, pool moves, grade changes."""

    table = JOURNAL

    def for_subject(
        self, subject_id: str, *, kind: str | None = None, limit: int | None = None
    ) -> Iterator[rec.JournalEntry]:
        """Entries about ``subject_id`` (optionally of one ``kind``), by ``at`` (ties by id)."""
        return self._q((_eq("subject_id", subject_id), *_opt("kind", kind)), ("at",), limit)

    def by_kind(
        self,
        kind: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[rec.JournalEntry]:
        """Entries of ``kind`` (with ``start <= at < end`` when given), by ``at`` (ties by id)."""
        where: tuple[Cond, ...] = (_eq("kind", kind),)
        if start is not None:
            where += (_since("at", start),)
        if end is not None:
            where += (_until("at", end),)
        return self._q(where, ("at",), limit)
