"""The PostgreSQL store (psycopg 3, the optional extra ``postgres``; imported only when used).

- Each record is a row of indexed query columns plus its full JSON document (``doc json``: kept exactly as written, unlike ``jsonb``);
  timestamps are ``timestamptz``, amounts ``numeric``.
- Versioned schema: a ``schema_version`` table in the store's schema; missing migrations are
  applied when the store is opened, in one transaction, under an advisory lock so two processes
  opening a fresh database do not race.
- ``schema=`` puts every table in that PostgreSQL schema (created if missing) through
  ``search_path``: several stores (or test runs) can share one database.
- Saves are a conditional ``UPDATE ... WHERE id = %s AND version = %s``: under concurrent
  writers exactly one wins; the others get :class:`~pipeline_core.errors.ConcurrencyError`.
  Deadlocks (SQLSTATE ``40P01``), serialisation failures (``40001``) and lock timeouts
  (``55P03``) raise its retryable subclasses ``DeadlockError``, ``SerializationError`` and
  ``LockTimeoutError``.
- A statement that fails outside a savepoint aborts the transaction: the unit of work then
  refuses every later write and ends by rolling back with
  :class:`~pipeline_core.errors.TransactionAbortedError` (never a COMMIT that PostgreSQL would
  turn into a silent ROLLBACK).
- Bulk loads use ``COPY ... FROM STDIN``; text containing NUL (``\\x00``), which PostgreSQL
  cannot store, is refused with a :class:`~pipeline_core.errors.ValidationError` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pipeline_core._model import Record
from pipeline_core._optional import require
from pipeline_core.errors import (
    DeadlockError,
    DuplicateError,
    LockTimeoutError,
    Problem,
    SerializationError,
    StorageError,
    ValidationError,
)
from pipeline_core.storage._base import Table, serialising
from pipeline_core.storage._sql import POSTGRES, SqlBackend
from pipeline_core.storage.ports import BaseStore

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore"]

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _nul_paths(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, str):
        return [(path, value)] if "\x00" in value else []
    if isinstance(value, dict):
        keys = [((*path, k), k) for k in value if "\x00" in k]
        return keys + [hit for k, v in value.items() for hit in _nul_paths(v, (*path, k))]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in _nul_paths(v, (*path, i))]
    return []


class _PostgresBackend(SqlBackend):
    dialect = POSTGRES

    def __init__(self, url: str, schema: str | None) -> None:
        super().__init__()
        try:
            require("psycopg", "postgres")
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise StorageError(
                "PostgresStore needs psycopg 3: pip install 'pipeline_core[postgres]'"
            ) from exc
        self.psycopg = psycopg
        self.driver_errors = (psycopg.Error,)
        self.last_error: Exception | None = None
        try:
            self.conn: psycopg.Connection[Any] = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}") from exc
        self.schema = schema
        if schema is not None:
            if not _SCHEMA_NAME.match(schema):
                self.conn.close()
                raise ValueError(
                    f"schema must be a lower-case SQL identifier (letters, digits, _), got {schema!r}"
                )
            self.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            self.execute(f'SET search_path TO "{schema}"')
        self.migrate()

    def translate_error(self, exc: Exception) -> Exception:
        return self._translate(exc)

    def _translate(self, exc: Exception) -> Exception:
        errors = self.psycopg.errors
        message = f"PostgreSQL error: {str(exc).strip()}"
        sqlstate = getattr(exc, "sqlstate", None)
        error: Exception
        if isinstance(exc, errors.UniqueViolation):
            error = DuplicateError(str(exc).strip())
        elif isinstance(exc, errors.DeadlockDetected):
            error = DeadlockError(f"{message}; retry the unit of work", sqlstate=sqlstate)
        elif isinstance(exc, errors.SerializationFailure):
            error = SerializationError(f"{message}; retry the unit of work", sqlstate=sqlstate)
        elif isinstance(exc, errors.LockNotAvailable):
            error = LockTimeoutError(f"{message}; try again", sqlstate=sqlstate)
        else:
            error = StorageError(message)
        self.last_error = error
        return error

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self.conn.execute(sql, params or None)
        except self.psycopg.Error as exc:
            raise self._translate(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.executemany(sql, rows)
        except self.psycopg.Error as exc:
            raise self._translate(exc) from exc

    def _transaction_state(self) -> Literal["ok", "failed", "gone"]:
        status = self.conn.info.transaction_status
        states = self.psycopg.pq.TransactionStatus
        if status == states.INTRANS:
            return "ok"
        # INERROR: a statement failed outside a savepoint; only a rollback is accepted now.
        return "failed" if status == states.INERROR else "gone"

    def _last_error(self) -> BaseException | None:
        return self.last_error

    def bulk_insert(self, table: Table, records: Sequence[Record]) -> None:
        sql = f"COPY {table.name} ({self.statements[table.name].columns}) FROM STDIN"
        build = self.row_of[table.name]
        try:
            with serialising(table.kind), self.conn.cursor() as cur, cur.copy(sql) as copy:
                write = copy.write_row
                for r in records:
                    row = build(r)
                    if "\\u0000" in row[-1]:
                        self._refuse_nul(table, r)
                    write(row)
        except self.psycopg.Error as exc:
            raise self._translate(exc) from exc

    def row(self, table: Table, record: Record) -> tuple[Any, ...]:
        out = super().row(table, record)
        if "\\u0000" in out[-1]:
            self._refuse_nul(table, record)
        return out

    def _refuse_nul(self, table: Table, record: Record) -> None:
        # The JSON document has an escaped NUL somewhere (or the text "\\u0000"): find it.
        hits = _nul_paths(record.to_dict(), ())
        if hits:
            raise ValidationError(
                f"{table.kind} {record.id!r}",  # type: ignore[attr-defined]
                [
                    Problem(
                        path,
                        "PostgreSQL text cannot hold the NUL character (\\x00); "
                        "remove it before saving",
                        value,
                        "nul_character",
                    )
                    for path, value in hits
                ],
            )

    def _begin(self) -> None:
        self.execute("BEGIN")

    def serialise(self, key: str) -> None:
        """A transaction-level advisory lock on ``key`` (64-bit hash of the text)."""
        self.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))

    def _commit(self) -> None:
        self.execute("COMMIT")

    def _rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except self.psycopg.Error as exc:
            raise self._translate(exc) from exc

    def close(self) -> None:
        self.conn.close()


class PostgresStore(BaseStore):
    """A store in a PostgreSQL database (``postgresql://user@host:port/db``).

    ``schema`` (a lower-case identifier) keeps the tables in their own PostgreSQL schema, created
    when missing. One connection per store, shared safely between threads; open one store per
    process or worker for parallel writers."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self._pg = _PostgresBackend(url, schema)
        super().__init__(self._pg, url)
        self.schema = schema

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return self._pg.schema_version()

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The underlying psycopg connection (read-only use: frames, ad-hoc SQL)."""
        return self._pg.conn

    def __repr__(self) -> str:
        # Never show a password that may be in the URL.
        return f"PostgresStore({re.sub(r'//[^@/]*@', '//***@', self.url)!r})"
