"""Shared by every adapter: the table specs (which record fields become indexed columns), the
query description, and the repositories written once over a small backend interface.

An adapter implements :class:`Backend` (a handful of primitives: insert, conditional update,
append, stream a :class:`Query`, transactions). The repositories here turn the port's methods into
those primitives, so the memory, SQLite and PostgreSQL stores answer every query the same way.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

import pydantic
import pydantic_core

from pipeline_core._interrupts import reraise_interrupt
from pipeline_core._model import Record
from pipeline_core.clock import require_aware
from pipeline_core.errors import (
    NotFoundError,
    Problem,
    StorageError,
    TransactionAbortedError,
    ValidationError,
)
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
from pipeline_core.storage.ports import DEFAULT_BATCH, Progress, UnitOfWork

R = TypeVar("R", bound=Record)

ColumnType = Literal["text", "int", "real", "bool", "ts", "dec"]


@dataclass(frozen=True, slots=True)
class Column:
    """One indexed column: its name, SQL-neutral type and how to read it from a record."""

    name: str
    type: ColumnType
    get: Callable[[Any], Any]
    attr: str | None = None
    """The record attribute holding the value, when it is a plain attribute (fast path)."""
    since: int = 1
    """The schema version that added the column (see ``storage._sql.MIGRATIONS``)."""


@dataclass(frozen=True, slots=True)
class Table:
    """How one record type is stored: a table of ``id``, ``version``, the query columns and the
    full JSON document (``doc``); plus a ``<name>_tags`` side table when the record has tags."""

    name: str
    kind: str
    cls: type[Record]
    columns: tuple[Column, ...]
    versioned: bool
    tags: bool
    indexes: tuple[tuple[str, ...], ...] = ()
    partial_indexes: tuple[tuple[tuple[str, ...], str], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        """``id``, ``version``, the query columns and ``doc``, in table order."""
        return ("id", "version", *(c.name for c in self.columns), "doc")

    def column(self, name: str) -> Column:
        """The query column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _attr(name: str) -> Callable[[Any], Any]:
    def get(r: Any) -> Any:
        return getattr(r, name)

    return get


def _enum(name: str) -> Callable[[Any], Any]:
    def get(r: Any) -> Any:
        v = getattr(r, name)
        return None if v is None else str(v)

    return get


def _due(r: Any) -> Any:
    step = r.next_step
    return None if step is None else step.due_at


def _amount(name: str) -> Callable[[Any], Any]:
    def get(r: Any) -> Any:
        m = getattr(r, name)
        return None if m is None else m.amount

    return get


def _currency(name: str) -> Callable[[Any], Any]:
    def get(r: Any) -> Any:
        m = getattr(r, name)
        return None if m is None else m.currency

    return get


def _merged_into(r: Any) -> Any:
    v = r.custom.get("merged_into")
    return None if v is None else str(v)


def _c(
    name: str, type_: ColumnType, get: Callable[[Any], Any] | None = None, since: int = 1
) -> Column:
    if get is None:
        return Column(name, type_, _attr(name), name, since)
    return Column(name, type_, get, None, since)


LEADS = Table(
    "leads",
    "lead",
    Lead,
    (
        _c("created_at", "ts"),
        _c("source", "text"),
        _c("owner_id", "text"),
        _c("status", "text", _enum("status")),
        _c("due_at", "ts", _due),
        _c("account_id", "text"),
        _c("opportunity_id", "text"),
        _c("company", "text"),
    ),
    versioned=True,
    tags=True,
    indexes=(("owner_id",), ("due_at",)),
)

OPPORTUNITIES = Table(
    "opportunities",
    "opportunity",
    Opportunity,
    (
        _c("name", "text"),
        _c("created_at", "ts"),
        _c("owner_id", "text"),
        _c("team_id", "text"),
        _c("stage", "text"),
        _c("stage_entered_at", "ts"),
        _c("pipeline", "text"),
        _c("lead_id", "text"),
        _c("account_id", "text"),
        _c("source", "text"),
        _c("expected_amount", "dec", _amount("expected_amount")),
        _c("currency", "text", _currency("expected_amount")),
        _c("probability", "real"),
        _c("due_at", "ts", _due),
        _c("closed_at", "ts"),
        _c("merged_into", "text", _merged_into, since=2),  # facts.is_merged, for frames
    ),
    versioned=True,
    tags=True,
    indexes=(("owner_id",), ("team_id",), ("stage",)),
    partial_indexes=((("due_at", "id"), "closed_at IS NULL"),),
)

ACCOUNTS = Table(
    "accounts",
    "account",
    Account,
    (
        _c("name", "text"),
        _c("created_at", "ts"),
        _c("owner_id", "text"),
        _c("industry", "text"),
        _c("region", "text"),
    ),
    versioned=True,
    tags=True,
    indexes=(("owner_id",),),
)

CONTACTS = Table(
    "contacts",
    "contact",
    Contact,
    (_c("name", "text"), _c("created_at", "ts"), _c("account_id", "text")),
    versioned=True,
    tags=True,
    indexes=(("account_id",),),
)

USERS = Table(
    "users",
    "user",
    User,
    (
        _c("name", "text"),
        _c("role", "text", _enum("role")),
        _c("team_id", "text"),
        _c("active", "bool"),
    ),
    versioned=True,
    tags=True,
    indexes=(("team_id",),),
)

TEAMS = Table(
    "teams",
    "team",
    Team,
    (_c("name", "text"), _c("parent_id", "text"), _c("manager_id", "text")),
    versioned=True,
    tags=False,
    indexes=(("parent_id",),),
)

SLA_OUTCOMES = Table(
    "sla_outcomes",
    "sla_outcome",
    SlaOutcome,
    (
        _c("rule", "text"),
        _c("target", "text"),
        _c("subject_kind", "text"),
        _c("subject_id", "text"),
        _c("started_at", "ts"),
        _c("due_at", "ts"),
        _c("finished_at", "ts"),
        _c("met", "bool"),
        _c("elapsed_seconds", "real"),
        _c("owner_id", "text"),
    ),
    versioned=True,
    tags=False,
    indexes=(("subject_id", "due_at"), ("due_at",)),
)

STAGE_EVENTS = Table(
    "stage_events",
    "stage_event",
    StageEvent,
    (
        _c("opportunity_id", "text"),
        _c("from_stage", "text"),
        _c("to_stage", "text"),
        _c("at", "ts"),
        _c("by", "text"),
        _c("pipeline", "text"),
        _c("seq", "int", since=2),  # facts.event_order: (at, seq)
    ),
    versioned=False,
    tags=False,
    indexes=(("opportunity_id", "at"), ("at",)),
)

ACTIVITIES = Table(
    "activities",
    "activity",
    Activity,
    (
        _c("kind", "text", _enum("kind")),
        _c("at", "ts"),
        _c("owner_id", "text"),
        _c("lead_id", "text"),
        _c("opportunity_id", "text"),
        _c("account_id", "text"),
        _c("contact_id", "text"),
        _c("outcome", "text", _enum("outcome")),
        _c("replied", "bool"),
        _c("variant", "text"),
    ),
    versioned=False,
    tags=True,
    indexes=(("at",), ("owner_id", "at"), ("opportunity_id",), ("lead_id",), ("account_id",)),
)

JOURNAL = Table(
    "journal",
    "journal_entry",
    JournalEntry,
    (_c("kind", "text"), _c("subject_id", "text"), _c("at", "ts"), _c("by", "text")),
    versioned=False,
    tags=False,
    indexes=(("subject_id", "at"), ("kind", "at")),
)

TABLES: tuple[Table, ...] = (
    USERS,
    TEAMS,
    ACCOUNTS,
    CONTACTS,
    LEADS,
    OPPORTUNITIES,
    ACTIVITIES,
    STAGE_EVENTS,
    SLA_OUTCOMES,
    JOURNAL,
)
"""Every table, in creation order."""

TABLES_BY_KIND: dict[str, Table] = {t.kind: t for t in TABLES}
TABLES_BY_CLASS: dict[type[Record], Table] = {t.cls: t for t in TABLES}

_ADAPTERS: dict[type[Record], pydantic.TypeAdapter[Any]] = {}


def adapter(cls: type[Record]) -> pydantic.TypeAdapter[Any]:
    """A cached pydantic adapter for ``cls``: JSON straight to and from records."""
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = pydantic.TypeAdapter(cls)
    return found


def dump_doc(record: Record) -> str:
    """The record's ``to_dict()`` as compact JSON text."""
    with serialising(type(record).__name__):
        return adapter(type(record)).dump_json(record).decode()


@contextmanager
def serialising(what: str) -> Iterator[None]:
    """Around code turning records into JSON for a store: a ``KeyboardInterrupt`` or
    ``SystemExit`` that pydantic wrapped comes through as itself; any other serialisation failure
    becomes a :class:`~pipeline_core.errors.StorageError` naming ``what`` (a record kind)."""
    try:
        yield
    except pydantic_core.PydanticSerializationError as exc:
        reraise_interrupt(exc)
        raise StorageError(f"a {what} cannot be written as JSON: {exc}") from exc


def load_doc(cls: type[R], doc: str | bytes) -> R:
    """Parse and validate a stored document (validated: a store may be edited by other tools).

    A document today's rules refuse (written before a rule was tightened, or edited by another
    tool) raises :class:`~pipeline_core.errors.ValidationError` naming the fields;
    ``pipeline-core check`` lists every such value."""
    try:
        return adapter(cls).validate_json(doc)  # type: ignore[no-any-return]
    except pydantic.ValidationError as exc:
        from pipeline_core._model import _convert_errors

        raise ValidationError(
            f"a stored {cls.__name__} (`pipeline-core check` lists stored values the current "
            "rules refuse)",
            _convert_errors(exc),
        ) from None


# --------------------------------------------------------------------------- queries

Op = Literal["=", "<=", "<", ">=", "is_null", "in_any", "tag"]


@dataclass(frozen=True, slots=True)
class Cond:
    """One condition: ``column op value``. ``in_any`` means any of ``columns`` equals the value;
    ``tag`` means the record carries the tag."""

    op: Op
    column: str = ""
    value: Any = None
    columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    """A filtered, ordered read of one table. The order always ends with ``id``."""

    table: Table
    where: tuple[Cond, ...] = ()
    order: tuple[str, ...] = ()
    after: tuple[Any, ...] | None = None
    limit: int | None = None

    @property
    def sort_key(self) -> tuple[str, ...]:
        """The order columns followed by ``id``."""
        return (*self.order, "id")


# --------------------------------------------------------------------------- backend


class Backend(abc.ABC):
    """The primitives an adapter implements. Every method runs inside :meth:`atomic` when it
    writes; the repositories call them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.depth = 0
        self.closed = False
        self.aborted: BaseException | None = None
        """The error after which the database abandoned the open transaction (``None``: it
        is usable). Set inside a unit of work; cleared when the outermost level ends."""

    # transactions ----------------------------------------------------------------------------

    @abc.abstractmethod
    def _begin(self) -> None: ...

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def _rollback(self) -> None: ...

    @abc.abstractmethod
    def _savepoint(self, name: str) -> None: ...

    @abc.abstractmethod
    def _release(self, name: str) -> None: ...

    @abc.abstractmethod
    def _rollback_to(self, name: str) -> None: ...

    def _transaction_state(self) -> Literal["ok", "failed", "gone"]:
        """The open transaction as the database sees it: ``"ok"``; ``"failed"`` (a statement
        failed outside any savepoint: PostgreSQL will only roll it back); ``"gone"`` (the
        database rolled it back on its own, e.g. SQLite after ``SQLITE_FULL``)."""
        return "ok"

    def _last_error(self) -> BaseException | None:
        """The last error the database reported (the cause of a ``"failed"`` transaction)."""
        return None

    def _check_usable(self) -> None:
        """Inside a unit of work: raise TransactionAbortedError if the database abandoned it."""
        if self.aborted is None and self._transaction_state() != "ok":
            self.aborted = self._last_error() or StorageError("a statement failed")
        if self.aborted is not None:
            raise _abandoned(self.aborted) from self.aborted

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A transaction, or a savepoint inside the current one: all or nothing.

        When the database abandons the transaction under a savepoint (SQLite rolls everything
        back after ``SQLITE_FULL``; PostgreSQL refuses all but a rollback after a statement
        failed outside a savepoint), the original error comes through, and every later write of
        the unit, and its end, raise :class:`~pipeline_core.errors.TransactionAbortedError`:
        nothing is autocommitted and the unit stores nothing."""
        with self.lock:
            if self.closed:
                raise StorageError("the store is closed")
            depth = self.depth
            name = f"pc_sp{depth}"
            if depth == 0:
                self.aborted = None
                self._begin()
            else:
                self._check_usable()
                self._savepoint(name)
            self.depth = depth + 1
            try:
                yield
            except BaseException as exc:
                self.depth = depth
                self._undo(depth, name, exc)
                raise
            self.depth = depth
            if depth > 0:
                self._check_usable()
                self._release(name)
                return
            state = self._transaction_state()
            if self.aborted is None and state == "ok":
                try:
                    self._commit()
                except BaseException as exc:  # e.g. SQLite: a failed COMMIT leaves it open
                    self._undo(0, name, exc)
                    raise
                return
            # The database abandoned the transaction: roll back what is left, never commit
            # (PostgreSQL would answer a COMMIT with a silent ROLLBACK).
            cause = self.aborted or self._last_error() or StorageError("a statement failed")
            self.aborted = None
            error = _abandoned(cause)
            if state != "gone":
                try:
                    self._rollback()
                except Exception as failure:
                    error.add_note(f"rolling the transaction back also failed: {failure}")
            raise error from cause

    def _undo(self, depth: int, name: str, exc: BaseException) -> None:
        """Undo the level that raised ``exc`` without hiding ``exc``: a failure to roll back is
        added to it as a note (and leaves an inner level's unit of work abandoned)."""
        if depth == 0:
            self.aborted = None
            try:
                self._rollback()
            except Exception as failure:  # the original error matters more
                exc.add_note(f"rolling the transaction back also failed: {failure}")
            return
        if self.aborted is not None:
            return
        if self._transaction_state() == "gone":
            self.aborted = exc
            return
        try:
            self._rollback_to(name)
        except Exception as failure:
            exc.add_note(f"rolling back to the savepoint also failed: {failure}")
            self.aborted = exc

    # primitives ------------------------------------------------------------------------------

    @abc.abstractmethod
    def get(self, table: Table, id: str) -> Record | None:
        """The stored record with ``id``, or ``None``."""

    @abc.abstractmethod
    def insert(self, table: Table, records: Sequence[Record]) -> None:
        """Insert new records (inside :meth:`atomic`); DuplicateError naming an existing id."""

    @abc.abstractmethod
    def update(self, table: Table, record: Record) -> None:
        """Replace the stored record if its version is ``record.version - 1`` (inside atomic);
        ConcurrencyError / NotFoundError otherwise."""

    @abc.abstractmethod
    def append(self, table: Table, entries: Sequence[Record]) -> int:
        """Insert the entries not yet stored (inside atomic); identical ones are skipped,
        different ones raise DuplicateError. Returns how many were new."""

    @abc.abstractmethod
    def stream(self, query: Query) -> Iterator[Record]:
        """The records matching ``query`` in its order, fetched in batches."""

    @abc.abstractmethod
    def count(self, table: Table) -> int:
        """Rows in ``table``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources."""


def _abandoned(cause: BaseException) -> TransactionAbortedError:
    return TransactionAbortedError(
        f"the database abandoned this unit of work after: {cause}; nothing of it was stored "
        "and it cannot go on: leave the unit of work and start again"
    )


def check_ts(value: datetime, field: str) -> datetime:
    """Refuse naive timestamps in query arguments."""
    return require_aware(value, field)


def _refuse(field: str, message: str, value: Any, code: str) -> ValidationError:
    return ValidationError(field, [Problem((field,), message, value, code)])


def check_batch(batch_size: int) -> int:
    """A positive batch size (an ``int``); ValidationError otherwise."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise _refuse("batch_size", "must be a whole number of at least 1", batch_size, "batch")
    return batch_size


def check_limit(limit: int | None) -> int | None:
    """``None`` or a non-negative ``int``; ValidationError otherwise."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise _refuse("limit", "must be a whole number >= 0, or None", limit, "limit")
    return limit


def check_key(value: Any, field: str) -> str:
    """A text lookup argument (an id, owner, tag ...), checked the same way for every adapter:
    valid Unicode text (``str``, no lone surrogates, which no record holds) without the NUL
    character (which PostgreSQL cannot hold). ValidationError naming ``field`` otherwise."""
    if not isinstance(value, str):
        raise _refuse(field, "a lookup key must be text", value, "string_type")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _refuse(
                field, "a lookup key must be valid Unicode text (no lone surrogates)", value, "text"
            ) from None
    if "\x00" in value:
        raise _refuse(
            field,
            "a lookup key cannot contain the NUL character (\\x00), which PostgreSQL cannot store",
            value,
            "nul_character",
        )
    return value


def batched(items: Iterable[R], size: int) -> Iterator[list[R]]:
    """Lists of at most ``size`` items."""
    batch: list[R] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --------------------------------------------------------------------------- repositories


class _Collection(Generic[R]):
    def __init__(self, backend: Backend, table: Table) -> None:
        self._b = backend
        self._t = table
        self.kind = table.kind

    def _check(self, record: object) -> None:
        if not isinstance(record, self._t.cls):
            raise TypeError(
                f"{self.kind} store takes {self._t.cls.__name__} records, got {type(record).__name__}"
            )

    def get(self, id: str) -> R:
        """The stored record; NotFoundError if there is none."""
        found = self.find(id)
        if found is None:
            raise NotFoundError(self.kind, id)
        return found

    def find(self, id: str) -> R | None:
        """The stored record, or ``None``. ValidationError if ``id`` is not text or holds NUL
        (the same on every adapter)."""
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


class VersionedRepository(_Collection[R]):
    """The port's :class:`~pipeline_core.storage.ports.Repository`, over a :class:`Backend`."""

    def add(self, record: R) -> None:
        """Store a new record; DuplicateError if the id exists."""
        self._check(record)
        with self._b.atomic():
            self._b.insert(self._t, [record])

    def save(self, record: R) -> None:
        """Store the next version; ConcurrencyError if the stored version is not
        ``record.version - 1``, NotFoundError if never added. Nothing written on error."""
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
        """Add many new records in one transaction, in batches; all or nothing."""
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


class AppendOnlyLog(_Collection[R]):
    """The port's :class:`~pipeline_core.storage.ports.AppendLog`, over a :class:`Backend`."""

    def append(self, entry: R) -> bool:
        """Append one entry; False if the identical entry was there, DuplicateError if a
        different one has its id."""
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
        """Append many entries in one transaction; returns how many were new."""
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


def _eq(column: str, value: Any) -> Cond:
    return Cond("=", column, value)


def _opt(column: str, value: Any) -> tuple[Cond, ...]:
    return () if value is None else (_eq(column, value),)


_OPEN = Cond("is_null", "closed_at")


class LeadRepo(VersionedRepository[Lead]):
    """Leads."""

    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[Lead]:
        """Leads owned by ``owner_id``, in id order."""
        return self._q((_eq("owner_id", owner_id),), (), limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Lead]:
        """Leads carrying ``tag``, in id order."""
        return self._q((Cond("tag", value=tag),), (), limit)

    def due_by(self, t: datetime, *, limit: int | None = None) -> Iterator[Lead]:
        """Leads whose ``next_step.due_at <= t``, earliest due first."""
        return self._q((Cond("<=", "due_at", check_ts(t, "t")),), ("due_at",), limit)


class OpportunityRepo(VersionedRepository[Opportunity]):
    """Opportunities; open means ``closed_at is None``."""

    def open(
        self,
        *,
        owner_id: str | None = None,
        team_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Opportunity]:
        """Open opportunities, optionally of one owner and/or team, in id order."""
        where = (_OPEN, *_opt("owner_id", owner_id), *_opt("team_id", team_id))
        return self._q(where, (), limit)

    def by_owner(
        self, owner_id: str, *, include_closed: bool = True, limit: int | None = None
    ) -> Iterator[Opportunity]:
        """Opportunities owned by ``owner_id``, in id order."""
        where = (_eq("owner_id", owner_id),) + (() if include_closed else (_OPEN,))
        return self._q(where, (), limit)

    def by_team(
        self, team_id: str, *, include_closed: bool = True, limit: int | None = None
    ) -> Iterator[Opportunity]:
        """Opportunities of team ``team_id``, in id order."""
        where = (_eq("team_id", team_id),) + (() if include_closed else (_OPEN,))
        return self._q(where, (), limit)

    def by_stage(self, stage: str, *, limit: int | None = None) -> Iterator[Opportunity]:
        """Opportunities currently in ``stage``, in id order."""
        return self._q((_eq("stage", stage),), (), limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Opportunity]:
        """Opportunities carrying ``tag``, in id order."""
        return self._q((Cond("tag", value=tag),), (), limit)

    def due_by(
        self,
        t: datetime,
        *,
        owner_id: str | None = None,
        team_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Opportunity]:
        """Open opportunities with ``next_step.due_at <= t``, earliest due first."""
        where = (
            _OPEN,
            Cond("<=", "due_at", check_ts(t, "t")),
            *_opt("owner_id", owner_id),
            *_opt("team_id", team_id),
        )
        return self._q(where, ("due_at",), limit)


class AccountRepo(VersionedRepository[Account]):
    """Accounts."""

    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[Account]:
        """Accounts owned by ``owner_id``, in id order."""
        return self._q((_eq("owner_id", owner_id),), (), limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Account]:
        """Accounts carrying ``tag``, in id order."""
        return self._q((Cond("tag", value=tag),), (), limit)


class ContactRepo(VersionedRepository[Contact]):
    """Contacts."""

    def by_account(self, account_id: str, *, limit: int | None = None) -> Iterator[Contact]:
        """Contacts of ``account_id``, in id order."""
        return self._q((_eq("account_id", account_id),), (), limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Contact]:
        """Contacts carrying ``tag``, in id order."""
        return self._q((Cond("tag", value=tag),), (), limit)


class UserRepo(VersionedRepository[User]):
    """Users."""

    def by_team(self, team_id: str, *, limit: int | None = None) -> Iterator[User]:
        """Users of ``team_id``, in id order."""
        return self._q((_eq("team_id", team_id),), (), limit)


class TeamRepo(VersionedRepository[Team]):
    """Teams."""

    def children(self, parent_id: str, *, limit: int | None = None) -> Iterator[Team]:
        """Teams under ``parent_id``, in id order."""
        return self._q((_eq("parent_id", parent_id),), (), limit)


class SlaOutcomeRepo(VersionedRepository[SlaOutcome]):
    """SLA outcomes."""

    def for_subject(self, subject_id: str, *, limit: int | None = None) -> Iterator[SlaOutcome]:
        """Outcomes of one subject, by ``due_at``."""
        return self._q((_eq("subject_id", subject_id),), ("due_at",), limit)

    def due_between(
        self,
        start: datetime,
        end: datetime,
        *,
        owner_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[SlaOutcome]:
        """Outcomes with ``start <= due_at < end``, by ``due_at``."""
        where = (
            Cond(">=", "due_at", check_ts(start, "start")),
            Cond("<", "due_at", check_ts(end, "end")),
            *_opt("owner_id", owner_id),
        )
        return self._q(where, ("due_at",), limit)


class StageEventRepo(AppendOnlyLog[StageEvent]):
    """Stage events."""

    def for_opportunity(
        self, opportunity_id: str, *, limit: int | None = None
    ) -> Iterator[StageEvent]:
        """One opportunity's events, in :func:`pipeline_core.facts.event_order` (``at``, then
        ``seq``; ``id`` last, for events of equal order)."""
        return self._q((_eq("opportunity_id", opportunity_id),), ("at", "seq"), limit)

    def between(
        self, start: datetime, end: datetime, *, limit: int | None = None
    ) -> Iterator[StageEvent]:
        """Events with ``start <= at < end``, by ``at``, then ``seq`` (``id`` last)."""
        where = (Cond(">=", "at", check_ts(start, "start")), Cond("<", "at", check_ts(end, "end")))
        return self._q(where, ("at", "seq"), limit)


class ActivityRepo(AppendOnlyLog[Activity]):
    """Activities."""

    def for_subject(self, subject_id: str, *, limit: int | None = None) -> Iterator[Activity]:
        """Activities about a lead, opportunity or account, by ``at``."""
        cond = Cond("in_any", value=subject_id, columns=("lead_id", "opportunity_id", "account_id"))
        return self._q((cond,), ("at",), limit)

    def by_owner(self, owner_id: str, *, limit: int | None = None) -> Iterator[Activity]:
        """Activities by ``owner_id``, by ``at``."""
        return self._q((_eq("owner_id", owner_id),), ("at",), limit)

    def between(
        self,
        start: datetime,
        end: datetime,
        *,
        owner_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Activity]:
        """Activities with ``start <= at < end``, by ``at``."""
        where = (
            Cond(">=", "at", check_ts(start, "start")),
            Cond("<", "at", check_ts(end, "end")),
            *_opt("owner_id", owner_id),
        )
        return self._q(where, ("at",), limit)

    def by_tag(self, tag: str, *, limit: int | None = None) -> Iterator[Activity]:
        """Activities carrying ``tag``, by ``at``."""
        return self._q((Cond("tag", value=tag),), ("at",), limit)


class JournalRepo(AppendOnlyLog[JournalEntry]):
    """Journal entries."""

    def for_subject(
        self, subject_id: str, *, kind: str | None = None, limit: int | None = None
    ) -> Iterator[JournalEntry]:
        """Entries about ``subject_id``, by ``at``."""
        return self._q((_eq("subject_id", subject_id), *_opt("kind", kind)), ("at",), limit)

    def by_kind(
        self,
        kind: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[JournalEntry]:
        """Entries of ``kind`` (``start <= at < end`` when given), by ``at``."""
        where: tuple[Cond, ...] = (_eq("kind", kind),)
        if start is not None:
            where += (Cond(">=", "at", check_ts(start, "start")),)
        if end is not None:
            where += (Cond("<", "at", check_ts(end, "end")),)
        return self._q(where, ("at",), limit)


class BaseStore:
    """The store shell shared by every adapter: repositories over one backend, units of work,
    closing. Subclasses create the backend."""

    url: str

    def __init__(self, backend: Backend, url: str) -> None:
        self._backend = backend
        self.url = url
        self._leads = LeadRepo(backend, LEADS)
        self._opportunities = OpportunityRepo(backend, OPPORTUNITIES)
        self._accounts = AccountRepo(backend, ACCOUNTS)
        self._contacts = ContactRepo(backend, CONTACTS)
        self._users = UserRepo(backend, USERS)
        self._teams = TeamRepo(backend, TEAMS)
        self._activities = ActivityRepo(backend, ACTIVITIES)
        self._stage_events = StageEventRepo(backend, STAGE_EVENTS)
        self._sla_outcomes = SlaOutcomeRepo(backend, SLA_OUTCOMES)
        self._journal = JournalRepo(backend, JOURNAL)

    @property
    def leads(self) -> LeadRepo:
        """Leads."""
        return self._leads

    @property
    def opportunities(self) -> OpportunityRepo:
        """Opportunities."""
        return self._opportunities

    @property
    def accounts(self) -> AccountRepo:
        """Accounts."""
        return self._accounts

    @property
    def contacts(self) -> ContactRepo:
        """Contacts."""
        return self._contacts

    @property
    def users(self) -> UserRepo:
        """Users."""
        return self._users

    @property
    def teams(self) -> TeamRepo:
        """Teams."""
        return self._teams

    @property
    def activities(self) -> ActivityRepo:
        """Follow-up activities (append-only)."""
        return self._activities

    @property
    def stage_events(self) -> StageEventRepo:
        """Stage events (append-only)."""
        return self._stage_events

    @property
    def sla_outcomes(self) -> SlaOutcomeRepo:
        """SLA outcomes."""
        return self._sla_outcomes

    @property
    def journal(self) -> JournalRepo:
        """Journal entries (append-only)."""
        return self._journal

    def collection(self, kind: str) -> VersionedRepository[Any] | AppendOnlyLog[Any]:
        """The repository or log for a record kind (``"opportunity"``, ``"stage_event"`` ...)."""
        table = TABLES_BY_KIND.get(kind)
        if table is None:
            raise NotFoundError("record kind", kind)
        return getattr(self, "_" + table.name)  # type: ignore[no-any-return]

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
