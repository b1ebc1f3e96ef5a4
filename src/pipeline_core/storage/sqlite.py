"""The embedded SQLite store (standard-library ``sqlite3``): the default for one machine.

- WAL journal (readers never block the writer), foreign keys on, ``synchronous=NORMAL``.
- Versioned schema: a ``schema_version`` table; missing migrations are applied when the store is
  opened, in one transaction. A store whose schema is current is only read when opened: no write
  lock, so opening never waits for a writer in another process.
- Each record is a row of indexed query columns plus its full JSON document (``doc``); timestamps
  in query columns are integer microseconds since 1970-01-01 UTC, so they sort and compare exactly.
- Write transactions start with ``BEGIN IMMEDIATE``, so concurrent writers in several processes
  queue on the database lock (up to ``timeout`` seconds) instead of failing half-way;
  optimistic concurrency then decides who saved a stale version.
- Bulk writes use ``executemany`` inside one transaction.
- Errors: a lock held longer than ``timeout`` raises
  :class:`~pipeline_core.errors.LockTimeoutError` (a retryable ``ConcurrencyError``); a full disk
  raises :class:`~pipeline_core.errors.StorageError` saying so. When SQLite abandons a transaction
  on its own (it may after a full disk), the unit of work refuses every later write and stores
  nothing (:class:`~pipeline_core.errors.TransactionAbortedError`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

from pipeline_core.errors import (
    DuplicateError,
    LockTimeoutError,
    SerializationError,
    StorageError,
)
from pipeline_core.storage._sql import SQLITE, SqlBackend, ts_to_micros
from pipeline_core.storage.ports import BaseStore

__all__ = ["SQLiteStore"]

# SQLite result codes (https://www.sqlite.org/rescode.html)
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_FULL = 13
_SQLITE_BUSY_SNAPSHOT = 517


def _micros_or_none(value: Any) -> Any:
    return None if value is None else ts_to_micros(value)


def _text_of_decimal(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _int_or_none(value: Any) -> Any:
    return None if value is None else int(value)


class _SQLiteBackend(SqlBackend):
    dialect = SQLITE
    encoders: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "ts": _micros_or_none,
        "dec": _text_of_decimal,
        "bool": _int_or_none,
    }

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self.last_error: Exception | None = None
        try:
            self.conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=timeout
            )
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            # Switching to WAL needs the write lock; a store already in WAL is left as it is,
            # so opening it never waits for a writer.
            if (
                path != ":memory:"
                and self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
            ):
                self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            error = self._translate(exc)
            kind = LockTimeoutError if isinstance(error, LockTimeoutError) else StorageError
            raise kind(f"cannot open SQLite database {path!r}: {error}") from exc
        self.migrate()

    def _translate(self, exc: sqlite3.Error) -> Exception:
        if isinstance(exc, sqlite3.IntegrityError) and (
            "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc)
        ):
            return DuplicateError(str(exc))
        code = getattr(exc, "sqlite_errorcode", None)
        if code == _SQLITE_BUSY_SNAPSHOT:
            return SerializationError(
                f"SQLite error: {exc} (another connection wrote since this transaction read)"
            )
        if code is not None and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return LockTimeoutError(
                f"SQLite error: {exc} (another writer held the database longer than the "
                "timeout); try again"
            )
        if code is not None and code & 0xFF == _SQLITE_FULL:
            return StorageError(
                f"SQLite error: {exc} (the disk, or the database's max_page_count, is full)"
            )
        return StorageError(f"SQLite error: {exc}")

    driver_errors = (sqlite3.Error,)

    def translate_error(self, exc: Exception) -> Exception:
        error = self._translate(exc) if isinstance(exc, sqlite3.Error) else exc
        self.last_error = error
        return error

    def _failed(self, exc: sqlite3.Error) -> Exception:
        return self.translate_error(exc)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc

    def _transaction_state(self) -> Literal["ok", "failed", "gone"]:
        # SQLite undoes a failed statement only, or (after SQLITE_FULL, IOERR, NOMEM, BUSY)
        # possibly the whole transaction: then no transaction is open any more.
        return "ok" if self.conn.in_transaction else "gone"

    def _last_error(self) -> BaseException | None:
        return self.last_error

    def _begin(self) -> None:
        self.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self.execute("COMMIT")

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.execute("ROLLBACK")

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite error on close: {exc}") from exc


class SQLiteStore(BaseStore):
    """A store in one SQLite file (``sqlite:///path``), or in memory (``SQLiteStore(":memory:")``,
    ``sqlite://``). Safe to share between threads; several processes may open the same file."""

    def __init__(self, path: str | Path = ":memory:", *, timeout: float = 30.0) -> None:
        path_s = str(path)
        self._sqlite = _SQLiteBackend(path_s, timeout)
        url = "sqlite://" if path_s == ":memory:" else f"sqlite:///{path_s}"
        super().__init__(self._sqlite, url)
        self.path = path_s

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return self._sqlite.schema_version()

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying connection (read-only use: frames, ad-hoc SQL)."""
        return self._sqlite.conn
