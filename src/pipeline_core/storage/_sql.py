"""Shared by the SQL adapters: the schema (DDL and its migrations) and every statement, generated
from the table specs for one dialect, plus the backend logic that runs them.

All SQL is parameterised: values never enter statement text. Identifiers come only from the
table specs in :mod:`pipeline_core.storage._base`, never from callers.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline_core._model import Record
from pipeline_core.errors import ConcurrencyError, DuplicateError, NotFoundError
from pipeline_core.storage._base import (
    TABLES,
    Backend,
    Query,
    Table,
    adapter,
    load_doc,
    serialising,
)

SCHEMA_VERSION = 3
"""The newest schema version; stores are migrated to it when opened."""

STREAM_BATCH = 2_000
"""Rows per keyset page when streaming a query."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Dialect:
    """What differs between SQLite and PostgreSQL."""

    name: str
    param: str
    types: dict[str, str]
    doc_type: str
    doc_select: str  # expression reading the doc column back as text
    ts_key: str = '"{c}"'  # a timestamp sort column as read for the keyset (from the row)
    ts_key_param: str = "{p}"  # ... and as compared with that value on the next page


SQLITE = Dialect(
    "sqlite",
    "?",
    {
        "text": "TEXT",
        "int": "INTEGER",
        "real": "REAL",
        "bool": "INTEGER",
        "ts": "INTEGER",
        "dec": "TEXT",
    },
    "TEXT",
    "doc",
)
POSTGRES = Dialect(
    "postgres",
    "%s",
    {
        "text": "TEXT",
        "int": "BIGINT",
        "real": "DOUBLE PRECISION",
        "bool": "BOOLEAN",
        "ts": "TIMESTAMPTZ",
        "dec": "NUMERIC",
    },
    "JSON",  # json keeps the text as written (jsonb would turn 1e300 into an integer)
    "doc::text",
    # As text: psycopg cannot load instants before year 1 UTC (0001-01-01T00:00+14:00). Named
    # apart from the column, so that ORDER BY "{c}" still sorts (and uses indexes) by instant.
    '"{c}"::text AS "{c}_key"',
    "{p}::timestamptz",
)


def ts_to_micros(value: datetime) -> int:
    """An aware datetime as integer microseconds since 1970-01-01 UTC (SQLite's sortable form)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def schema_v1(d: Dialect) -> list[str]:
    """The statements creating schema version 1."""
    out: list[str] = []
    for t in TABLES:
        cols = ["id TEXT PRIMARY KEY", "version INTEGER NOT NULL"]
        cols += [f'"{c.name}" {d.types[c.type]}' for c in t.columns if c.since == 1]
        cols.append(f"doc {d.doc_type} NOT NULL")
        out.append(f"CREATE TABLE {t.name} ({', '.join(cols)})")
        for i, idx in enumerate(t.indexes):
            cols_sql = ", ".join(f'"{c}"' for c in idx)
            out.append(f"CREATE INDEX {t.name}_ix{i} ON {t.name} ({cols_sql})")
        for i, (idx, where) in enumerate(t.partial_indexes):
            cols_sql = ", ".join(f'"{c}"' for c in idx)
            out.append(f"CREATE INDEX {t.name}_px{i} ON {t.name} ({cols_sql}) WHERE {where}")
        if t.tags:
            out.append(
                f"CREATE TABLE {t.name}_tags (id TEXT NOT NULL REFERENCES {t.name}(id) "
                "ON DELETE CASCADE, tag TEXT NOT NULL, PRIMARY KEY (tag, id))"
            )
            out.append(f"CREATE INDEX {t.name}_tags_id ON {t.name}_tags (id)")
    return out


def schema_v2(d: Dialect) -> list[str]:
    """Version 2: ``stage_events.seq`` (the event order after ``at``, 0 for older events) and
    ``opportunities.merged_into`` (the survivor of a merged duplicate, read from the document)."""
    custom = (
        "json_extract(doc, '$.custom.merged_into')"
        if d.name == "sqlite"
        else "(doc -> 'custom' ->> 'merged_into')"
    )
    return [
        f'ALTER TABLE stage_events ADD COLUMN "seq" {d.types["int"]} NOT NULL DEFAULT 0',
        f'ALTER TABLE opportunities ADD COLUMN "merged_into" {d.types["text"]}',
        f'UPDATE opportunities SET "merged_into" = {custom}',
    ]


def schema_v3(d: Dialect) -> list[str]:
    """Version 3: record ids compare and sort by code point on PostgreSQL too (``COLLATE "C"``),
    as on SQLite and in memory. The database's collation (``en_US.UTF-8`` in many installations)
    would order ``"B"`` after ``"a"`` and ``"a-b"`` before ``"ab"``, so ``all()`` and its
    ``after=`` pages would differ between adapters. Nothing to do on SQLite (BINARY)."""
    if d.name != "postgres":
        return []
    out = []
    for t in TABLES:
        out.append(f'ALTER TABLE {t.name} ALTER COLUMN id TYPE TEXT COLLATE "C"')
        if t.tags:
            out.append(f'ALTER TABLE {t.name}_tags ALTER COLUMN id TYPE TEXT COLLATE "C"')
    return out


MIGRATIONS: dict[int, Callable[[Dialect], list[str]]] = {1: schema_v1, 2: schema_v2, 3: schema_v3}
"""Schema version -> the statements that bring the previous version to it."""


class Statements:
    """Every statement of one table in one dialect, built once."""

    def __init__(self, t: Table, d: Dialect) -> None:
        p = d.param
        names = t.column_names
        quoted = ", ".join(f'"{n}"' for n in names)
        self.columns = quoted
        self.insert = f"INSERT INTO {t.name} ({quoted}) VALUES ({', '.join([p] * len(names))})"
        sets = ", ".join(f'"{n}" = {p}' for n in names[1:])
        self.update = f"UPDATE {t.name} SET {sets} WHERE id = {p} AND version = {p}"
        self.version_of = f"SELECT version FROM {t.name} WHERE id = {p}"
        self.get = f"SELECT {d.doc_select} FROM {t.name} WHERE id = {p}"
        self.count = f"SELECT count(*) FROM {t.name}"
        self.tag_insert = f"INSERT INTO {t.name}_tags (id, tag) VALUES ({p}, {p})"
        self.tag_delete = f"DELETE FROM {t.name}_tags WHERE id = {p}"
        self.doc_select = d.doc_select


def compile_row(
    table: Table, encoders: dict[str, Callable[[Any], Any] | None]
) -> Callable[[Record], tuple[Any, ...]]:
    """A function building a record's table row, generated once per table and dialect.

    ``encoders`` maps a column type to the function converting its values for the driver (or
    ``None`` to pass values through). Plain-attribute columns are read directly, so a bulk load
    costs about what a hand-written loop costs."""
    env: dict[str, Any] = {"_dump": adapter(table.cls).dump_json}
    parts = ["r.id", "r.version"]
    for i, c in enumerate(table.columns):
        value = f"r.{c.attr}" if c.attr is not None else f"_get{i}(r)"
        if c.attr is None:
            env[f"_get{i}"] = c.get
        enc = encoders.get(c.type)
        if enc is not None:
            env[f"_enc{i}"] = enc
            value = f"_enc{i}({value})"
        parts.append(value)
    parts.append("_dump(r).decode()")
    source = f"def row(r):\n    return ({', '.join(parts)},)\n"
    exec(compile(source, f"<row of {table.name}>", "exec"), env)
    return env["row"]  # type: ignore[no-any-return]


class SqlBackend(Backend):
    """The SQL backend logic shared by SQLite and PostgreSQL; subclasses supply the connection,
    value encoding and error translation."""

    dialect: Dialect

    def __init__(self) -> None:
        super().__init__()
        self.statements = {t.name: Statements(t, self.dialect) for t in TABLES}
        self.row_of = {t.name: compile_row(t, self.encoders()) for t in TABLES}

    def encoders(self) -> dict[str, Callable[[Any], Any] | None]:
        """Column type -> value converter for the driver (``None``: pass through)."""
        return {}

    # hooks -----------------------------------------------------------------------------------

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; return the cursor. Driver errors become pipeline_core errors."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many rows."""

    @abc.abstractmethod
    def translate_error(self, exc: Exception) -> Exception:
        """The pipeline_core error for a driver error (and remember it as the last error)."""

    driver_errors: tuple[type[Exception], ...] = ()
    """The driver's error classes, translated by :meth:`translate_error`."""

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run a query and read every row. Errors raised while rows are read (a value the driver
        cannot load, a lock met half-way) are translated too."""
        try:
            return self.execute(sql, params).fetchall()  # type: ignore[no-any-return]
        except self.driver_errors as exc:
            raise self.translate_error(exc) from exc

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run a query and read its first row (``None`` if none), errors translated."""
        try:
            return self.execute(sql, params).fetchone()
        except self.driver_errors as exc:
            raise self.translate_error(exc) from exc

    @abc.abstractmethod
    def is_unique_violation(self, exc: BaseException) -> bool:
        """Whether a driver error is a primary-key conflict."""

    @abc.abstractmethod
    def encode(self, type_: str, value: Any) -> Any:
        """A column value as the driver wants it."""

    def bulk_insert(self, table: Table, records: Sequence[Record]) -> None:
        """Insert the rows of ``records``, built as they are sent (PostgreSQL overrides this
        with COPY, so building rows overlaps with the server's work)."""
        row = self.row_of[table.name]
        with serialising(table.kind):
            self.executemany(self.statements[table.name].insert, map(row, records))

    # transactions ----------------------------------------------------------------------------

    def _savepoint(self, name: str) -> None:
        self.execute(f"SAVEPOINT {name}")

    def _release(self, name: str) -> None:
        self.execute(f"RELEASE SAVEPOINT {name}")

    def _rollback_to(self, name: str) -> None:
        self.execute(f"ROLLBACK TO SAVEPOINT {name}")
        self.execute(f"RELEASE SAVEPOINT {name}")

    # rows ------------------------------------------------------------------------------------

    def row(self, table: Table, record: Record) -> tuple[Any, ...]:
        """The table row of a record: id, version, query columns, JSON document."""
        with serialising(table.kind):
            return self.row_of[table.name](record)

    def _tag_rows(self, records: Sequence[Record]) -> list[tuple[str, str]]:
        return [(r.id, tag) for r in records for tag in r.tags]  # type: ignore[attr-defined]

    # primitives ------------------------------------------------------------------------------

    def get(self, table: Table, id: str) -> Record | None:
        with self.lock:
            row = self.fetchone(self.statements[table.name].get, (id,))
        return None if row is None else load_doc(table.cls, row[0])

    def _existing(self, table: Table, ids: Sequence[str]) -> dict[str, Record]:
        found: dict[str, Record] = {}
        st = self.statements[table.name]
        p = self.dialect.param
        for start in range(0, len(ids), 500):
            chunk = list(dict.fromkeys(ids[start : start + 500]))
            sql = (
                f"SELECT id, {st.doc_select} FROM {table.name} "
                f"WHERE id IN ({', '.join([p] * len(chunk))})"
            )
            for id, doc in self.fetchall(sql, chunk):
                found[id] = load_doc(table.cls, doc)
        return found

    def _duplicate(self, table: Table, records: Sequence[Record]) -> DuplicateError:
        ids = [r.id for r in records]  # type: ignore[attr-defined]
        seen: set[str] = set()
        for id in ids:
            if id in seen:
                return DuplicateError(f"{table.kind} {id!r} appears twice in one bulk add")
            seen.add(id)
        existing = self._existing(table, ids)
        id = next(iter(existing), ids[0])
        return DuplicateError(f"{table.kind} {id!r} already exists")

    def insert(self, table: Table, records: Sequence[Record]) -> None:
        try:
            with self.atomic():
                self.bulk_insert(table, records)
                if table.tags:
                    tags = self._tag_rows(records)
                    if tags:
                        self.executemany(self.statements[table.name].tag_insert, tags)
        except DuplicateError:
            raise self._duplicate(table, records) from None

    def update(self, table: Table, record: Record) -> None:
        st = self.statements[table.name]
        id = record.id  # type: ignore[attr-defined]
        expected = record.version - 1  # type: ignore[attr-defined]
        row = self.row(table, record)
        cur = self.execute(st.update, (*row[1:], id, expected))
        if cur.rowcount != 1:
            found = self.fetchone(st.version_of, (id,))
            if found is None:
                raise NotFoundError(table.kind, id)
            raise ConcurrencyError(table.kind, id, expected=expected, actual=found[0])
        if table.tags:
            self.execute(st.tag_delete, (id,))
            tags = self._tag_rows([record])
            if tags:
                self.executemany(st.tag_insert, tags)

    def append(self, table: Table, entries: Sequence[Record]) -> int:
        try:
            with self.atomic():
                self.bulk_insert(table, entries)
                if table.tags:
                    tags = self._tag_rows(entries)
                    if tags:
                        self.executemany(self.statements[table.name].tag_insert, tags)
            return len(entries)
        except DuplicateError:
            pass
        # Slow path: some ids are stored already (or repeated): keep only the new ones.
        existing = self._existing(table, [e.id for e in entries])  # type: ignore[attr-defined]
        fresh: dict[str, Record] = {}
        for e in entries:
            id = e.id  # type: ignore[attr-defined]
            stored = existing.get(id)
            if stored is None:
                stored = fresh.get(id)
            if stored is None:
                fresh[id] = e
            elif stored != e:
                raise DuplicateError(
                    f"{table.kind} {id!r} already exists with different content; "
                    "append-only entries cannot be changed"
                )
        if fresh:
            self.bulk_insert(table, list(fresh.values()))
            if table.tags:
                tags = self._tag_rows(list(fresh.values()))
                if tags:
                    self.executemany(self.statements[table.name].tag_insert, tags)
        return len(fresh)

    def _where(self, query: Query) -> tuple[str, list[Any]]:
        p = self.dialect.param
        t = query.table
        parts: list[str] = []
        params: list[Any] = []
        for c in query.where:
            if c.op == "tag":
                parts.append(f"id IN (SELECT id FROM {t.name}_tags WHERE tag = {p})")
                params.append(c.value)
            elif c.op == "in_any":
                parts.append("(" + " OR ".join(f'"{col}" = {p}' for col in c.columns) + ")")
                params.extend([c.value] * len(c.columns))
            elif c.op == "is_null":
                parts.append(f'"{c.column}" IS NULL')
            else:
                col = t.column(c.column)
                parts.append(f'"{c.column}" {c.op} {p}')
                params.append(self.encode(col.type, c.value))
        return " AND ".join(parts), params

    def _encode_key(self, query: Query, key: Sequence[Any]) -> list[Any]:
        out = []
        for name, value in zip(query.sort_key, key, strict=True):
            if name == "id":
                out.append(value)
            else:
                out.append(self.encode(query.table.column(name).type, value))
        return out

    def stream(self, query: Query) -> Iterator[Record]:
        t = query.table
        where, params = self._where(query)
        key_cols = ", ".join(f'"{c}"' for c in query.sort_key)
        p = self.dialect.param
        is_ts = [c != "id" and t.column(c).type == "ts" for c in query.sort_key]
        d = self.dialect
        key_read = ", ".join(
            d.ts_key.format(c=c) if ts else f'"{c}"'
            for c, ts in zip(query.sort_key, is_ts, strict=True)
        )
        key_params = ", ".join(d.ts_key_param.format(p=p) if ts else p for ts in is_ts)
        keyset = f"({key_cols}) > ({key_params})"
        select = f"SELECT {key_read}, {self.statements[t.name].doc_select} FROM {t.name}"
        nkey = len(query.sort_key)
        remaining = query.limit
        after: list[Any] | None = (
            None if query.after is None else self._encode_key(query, query.after)
        )
        cls = t.cls
        while remaining is None or remaining > 0:
            conds = [where] if where else []
            args = list(params)
            if after is not None:
                conds.append(keyset)
                args.extend(after)
            size = STREAM_BATCH if remaining is None else min(STREAM_BATCH, remaining)
            sql = select
            if conds:
                sql += " WHERE " + " AND ".join(conds)
            sql += f" ORDER BY {key_cols} LIMIT {int(size)}"
            with self.lock:
                rows = self.fetchall(sql, args)
            for row in rows:
                yield load_doc(cls, row[nkey])
            if len(rows) < size:
                return
            after = list(rows[-1][:nkey])
            if remaining is not None:
                remaining -= len(rows)

    def count(self, table: Table) -> int:
        with self.lock:
            return int(self.fetchone(self.statements[table.name].count)[0])
