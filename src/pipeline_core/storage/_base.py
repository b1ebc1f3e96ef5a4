"""Shared by every adapter: the query description (:class:`Query`, :class:`Cond`), :class:`Backend`
(the narrow set of primitives an adapter implements: get, stream a query, insert, update with a
version check, append, the columns of a query, transactions) and the checks of query arguments.

The table specs (which record fields become indexed columns) are in
:mod:`pipeline_core.storage._tables` and re-exported here.

The typed repositories over these primitives are declared once, in
:mod:`pipeline_core.storage.ports`; so the memory, SQLite and PostgreSQL stores (and a scoped
store, which decorates a backend) answer every query the same way.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar

from pipeline_core._deprecation import moved
from pipeline_core._model import Record
from pipeline_core.clock import require_aware
from pipeline_core.errors import (
    DuplicateError,
    Problem,
    StorageError,
    TransactionAbortedError,
    ValidationError,
)
from pipeline_core.storage._tables import (
    ACCOUNTS as ACCOUNTS,
)
from pipeline_core.storage._tables import (
    ACTIVITIES as ACTIVITIES,
)
from pipeline_core.storage._tables import (
    CONTACTS as CONTACTS,
)
from pipeline_core.storage._tables import (
    JOURNAL as JOURNAL,
)
from pipeline_core.storage._tables import (
    LEADS as LEADS,
)
from pipeline_core.storage._tables import (
    OPPORTUNITIES as OPPORTUNITIES,
)
from pipeline_core.storage._tables import (
    SLA_OUTCOMES as SLA_OUTCOMES,
)
from pipeline_core.storage._tables import (
    STAGE_EVENTS as STAGE_EVENTS,
)
from pipeline_core.storage._tables import (
    TABLES as TABLES,
)
from pipeline_core.storage._tables import (
    TABLES_BY_CLASS as TABLES_BY_CLASS,
)
from pipeline_core.storage._tables import (
    TABLES_BY_KIND as TABLES_BY_KIND,
)
from pipeline_core.storage._tables import (
    TEAMS as TEAMS,
)
from pipeline_core.storage._tables import (
    USERS as USERS,
)
from pipeline_core.storage._tables import (
    Column as Column,
)
from pipeline_core.storage._tables import (
    ColumnType as ColumnType,
)
from pipeline_core.storage._tables import (
    Table as Table,
)
from pipeline_core.storage._tables import (
    column_rows as column_rows,
)
from pipeline_core.storage._tables import (
    dump_doc as dump_doc,
)
from pipeline_core.storage._tables import (
    load_doc as load_doc,
)
from pipeline_core.storage._tables import (
    serialising as serialising,
)

R = TypeVar("R", bound=Record)
T = TypeVar("T")

Progress = Callable[[int], None]
"""A progress callback: called with the number of records written so far, after each batch."""

DEFAULT_BATCH = 10_000
"""Records per batch for bulk writes and for streamed reads."""

# --------------------------------------------------------------------------- queries

Op = Literal["=", "<=", "<", ">=", "is_null", "in_any", "tag", "in", "any", "in_table"]


@dataclass(frozen=True, slots=True)
class Cond:
    """One condition: ``column op value``. ``in_any`` means any of ``columns`` equals the value;
    ``tag`` means the record carries the tag; ``in`` means ``column`` is one of ``value`` (a
    frozenset of texts); ``any`` means one of the conditions ``sub`` holds; ``in_table`` means
    ``column`` is the id of a record of ``table`` for which every condition of ``sub`` holds
    (a parent's visibility, as ``column IN (SELECT id FROM table WHERE ...)``)."""

    op: Op
    column: str = ""
    value: Any = None
    columns: tuple[str, ...] = ()
    sub: tuple[Cond, ...] = ()
    table: Table | None = None


NOTHING = Cond("in", "id", frozenset())
"""A condition no record meets."""


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

    def serialise(self, key: str) -> None:
        """Inside the current transaction, wait until no other transaction holds ``key``; hold
        it until this transaction ends. For read-then-write rules that a version check cannot
        guard (pool limits count records the claim does not change). The default does nothing:
        the memory store and SQLite (``BEGIN IMMEDIATE``) already run one writer at a time;
        PostgreSQL takes a transaction-level advisory lock."""
        return None

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

    def get_many(self, table: Table, ids: Sequence[str]) -> dict[str, Record]:
        """The stored records among ``ids``, by id (adapters may read them in one go)."""
        found = {}
        for id in dict.fromkeys(ids):
            record = self.get(table, id)
            if record is not None:
                found[id] = record
        return found

    def append(self, table: Table, entries: Sequence[Record]) -> int:
        """Insert the entries not yet stored (inside atomic); identical ones are skipped,
        different ones raise DuplicateError. Returns how many were new.

        Written once for every adapter over :meth:`insert` and :meth:`get_many`: the batch is
        inserted as it is; only when an id is taken are the new entries sorted out."""
        try:
            self._insert_rows(table, entries)
            return len(entries)
        except DuplicateError:
            pass
        existing = self.get_many(table, [e.id for e in entries])  # type: ignore[attr-defined]
        fresh: dict[str, Record] = {}
        for e in entries:
            id = e.id  # type: ignore[attr-defined]
            stored = existing.get(id, fresh.get(id))
            if stored is None:
                fresh[id] = e
            elif stored != e:
                raise DuplicateError(
                    f"{table.kind} {id!r} already exists with different content; "
                    "append-only entries cannot be changed"
                )
        if fresh:
            self._insert_rows(table, list(fresh.values()))
        return len(fresh)

    def _insert_rows(self, table: Table, records: Sequence[Record]) -> None:
        """Insert records all or nothing (a savepoint); any DuplicateError when an id is taken
        (:meth:`insert` names the id; this may not)."""
        with self.atomic():
            self.insert(table, records)

    @abc.abstractmethod
    def stream(self, query: Query) -> Iterator[Record]:
        """The records matching ``query`` in its order, fetched in batches."""

    @abc.abstractmethod
    def count(self, table: Table) -> int:
        """Rows in ``table``."""

    def columns(self, query: Query, names: Sequence[str]) -> Iterator[list[tuple[Any, ...]]]:
        """The values of ``names`` (``"id"`` or query columns of ``query.table``) of the records
        matching ``query``, in its order, as batches of row tuples: timestamps as integer
        microseconds since 1970-01-01 UTC, decimals as text, ``None`` for missing values (what
        frames are built from). This default reads them from :meth:`stream`; the SQL adapters
        select the columns without building records."""
        yield from batched(column_rows(query.table, names, self.stream(query)), 100_000)

    def documents(self, table: Table) -> Iterator[tuple[str, Any]]:
        """``(id, document)`` of every stored record of ``table`` in id order, as stored: this
        default gives ``to_dict()`` of each record (valid when it was added); the SQL adapters
        give the parsed JSON, or its text when it cannot be parsed."""
        for record in self.stream(Query(table)):
            yield record.id, record.to_dict()  # type: ignore[attr-defined]

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources."""


def _abandoned(cause: BaseException) -> TransactionAbortedError:
    return TransactionAbortedError(
        f"the database abandoned this unit of work after: {cause}; nothing of it was stored "
        "and it cannot go on: leave the unit of work and start again"
    )


def check_ts(value: datetime, field: str) -> datetime:
    """A query bound: an aware timestamp (:class:`~pipeline_core.errors.ValidationError` for a
    naive one), as the same instant with a whole-second UTC offset (which every database
    accepts; see :func:`_whole_second_offset`)."""
    found = _whole_second_offset(require_aware(value, field))
    assert found is not None
    return found


def _whole_second_offset(value: datetime | None) -> datetime | None:
    """The same instant with a UTC offset PostgreSQL accepts (whole seconds), for query bounds.

    Python allows offsets with microseconds (``+13:59:59.999999``), PostgreSQL refuses them
    (records never hold one: their timestamps have whole-minute offsets); a comparison only
    needs the instant: the wall time and the offset move by the same fraction of a second."""
    if value is None:
        return None
    offset = value.utcoffset()
    if offset is None or not offset.microseconds:
        return value
    fraction = timedelta(microseconds=offset.microseconds)
    try:
        return (value - fraction).replace(tzinfo=timezone(offset - fraction))
    except OverflowError:  # 0001-01-01T00:00:00: move up to the next whole second instead
        up = timedelta(seconds=1) - fraction
        return (value + up).replace(tzinfo=timezone(offset + up))


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


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of at most ``size`` items."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


__getattr__ = moved(
    __name__,
    {
        old: f"pipeline_core.storage.ports:{new}"
        for old, new in {
            "BaseStore": "BaseStore",
            "VersionedRepository": "Repository",
            "AppendOnlyLog": "AppendLog",
            "LeadRepo": "LeadRepository",
            "OpportunityRepo": "OpportunityRepository",
            "AccountRepo": "AccountRepository",
            "ContactRepo": "ContactRepository",
            "UserRepo": "UserRepository",
            "TeamRepo": "TeamRepository",
            "SlaOutcomeRepo": "SlaOutcomeRepository",
            "StageEventRepo": "StageEventLog",
            "ActivityRepo": "ActivityLog",
            "JournalRepo": "JournalLog",
        }.items()
    },
)
"""Deprecated aliases (one release): the repositories and the store shell moved to
:mod:`pipeline_core.storage.ports`, where the typed surface is declared once."""
