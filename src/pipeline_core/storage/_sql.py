"""Shared by the SQL adapters: the schema (DDL and its migrations) and every statement, generated
from the table specs for one dialect, plus the backend logic that runs them.

All SQL is parameterised: values never enter statement text. Identifiers come only from the
table specs in :mod:`pipeline_core.storage._base`, never from callers.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pipeline_core._model import Record, record_adapter
from pipeline_core.errors import ConcurrencyError, DuplicateError, NotFoundError, StorageError
from pipeline_core.storage._base import (
    TABLES,
    Backend,
    Cond,
    Query,
    Table,
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
    table_exists: (
        str  # a query whose one value is true when the table named by the parameter exists
    )
    in_list: str  # "column is one of a list" with the list as one parameter
    ts_key: str = '"{c}"'  # a timestamp sort column as read for the keyset (from the row)
    ts_key_param: str = "{p}"  # ... and as compared with that value on the next page
    ts_micros: str = '"{c}"'  # a timestamp column as integer microseconds since 1970 UTC
    dec_text: str = '"{c}"'  # a decimal column as text
    migration_lock: str | None = None  # taken before migrating (another process may migrate too)


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
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
    '"{c}" IN (SELECT value FROM json_each(?))',
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
    "SELECT to_regclass(%s) IS NOT NULL",
    '"{c}" = ANY(%s)',
    # As text: psycopg cannot load instants before year 1 UTC (0001-01-01T00:00+14:00). Named
    # apart from the column, so that ORDER BY "{c}" still sorts (and uses indexes) by instant.
    '"{c}"::text AS "{c}_key"',
    "{p}::timestamptz",
    '(extract(epoch from "{c}") * 1000000)::bigint',
    '"{c}"::text',
    "SELECT pg_advisory_xact_lock(1885560691)",  # "pc_s": one migrating process at a time
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
    table: Table, encoders: Mapping[str, Callable[[Any], Any]]
) -> Callable[[Record], tuple[Any, ...]]:
    """A function building a record's table row, generated once per table and dialect.

    ``encoders`` maps a column type to the function converting its values for the driver (or
    ``None`` to pass values through). Plain-attribute columns are read directly, so a bulk load
    costs about what a hand-written loop costs."""
    env: dict[str, Any] = {"_dump": record_adapter(table.cls).serializer.to_json}
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

    encoders: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    """Column type -> the converter of its values for the driver (types not named pass through;
    each converter takes ``None`` too). Used for rows and for query arguments alike."""

    def __init__(self) -> None:
        super().__init__()
        self.statements = {t.name: Statements(t, self.dialect) for t in TABLES}
        self.row_of = {t.name: compile_row(t, self.encoders) for t in TABLES}

    def encode(self, type_: str, value: Any) -> Any:
        """A column value as the driver wants it (:attr:`encoders`)."""
        enc = self.encoders.get(type_)
        return value if enc is None else enc(value)

    # schema ----------------------------------------------------------------------------------

    def _stored_version(self) -> int:
        """The schema version in the database (0 for a new one), read without locks."""
        if not self.fetchone(self.dialect.table_exists, ("schema_version",))[0]:
            return 0
        return int(self.fetchone("SELECT max(version) FROM schema_version")[0] or 0)

    def migrate(self) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION` (one transaction). A store whose schema is
        current is only read: opening it takes no write lock, so it never waits for a writer."""
        with self.lock:
            if self._stored_version() == SCHEMA_VERSION:
                return
        p = self.dialect.param
        with self.atomic():
            if self.dialect.migration_lock is not None:
                self.execute(self.dialect.migration_lock)
            self.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = self.fetchone("SELECT max(version) FROM schema_version")[0] or 0
            if current > SCHEMA_VERSION:
                raise StorageError(
                    f"the database has schema version {current}, newer than this library's "
                    f"{SCHEMA_VERSION}; upgrade pipeline_core"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for sql in MIGRATIONS[version](self.dialect):
                    self.execute(sql)
                self.execute(f"INSERT INTO schema_version (version) VALUES ({p})", (version,))

    def schema_version(self) -> int:
        """The schema version of the open database."""
        with self.lock:
            return int(self.fetchone("SELECT max(version) FROM schema_version")[0])

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

    def get_many(self, table: Table, ids: Sequence[str]) -> dict[str, Record]:
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
        existing = self.get_many(table, ids)
        id = next(iter(existing), ids[0])
        return DuplicateError(f"{table.kind} {id!r} already exists")

    def _insert_rows(self, table: Table, records: Sequence[Record]) -> None:
        with self.atomic():
            self.bulk_insert(table, records)
            if table.tags:
                tags = self._tag_rows(records)
                if tags:
                    self.executemany(self.statements[table.name].tag_insert, tags)

    def insert(self, table: Table, records: Sequence[Record]) -> None:
        try:
            self._insert_rows(table, records)
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

    def _where(self, query: Query) -> tuple[str, list[Any]]:
        params: list[Any] = []
        parts = [self._cond(query.table, c, params) for c in query.where]
        return " AND ".join(parts), params

    def _cond(self, t: Table, c: Cond, params: list[Any]) -> str:
        # One condition as SQL; its values are appended to ``params``.
        p = self.dialect.param
        if c.op == "tag":
            params.append(c.value)
            return f"id IN (SELECT id FROM {t.name}_tags WHERE tag = {p})"
        if c.op == "in_any":
            params.extend([c.value] * len(c.columns))
            return "(" + " OR ".join(f'"{col}" = {p}' for col in c.columns) + ")"
        if c.op == "is_null":
            return f'"{c.column}" IS NULL'
        if c.op == "in":
            values = sorted(c.value)
            if not values:
                return "1 = 0"
            params.append(json.dumps(values) if self.dialect.name == "sqlite" else values)
            return self.dialect.in_list.format(c=c.column)
        if c.op == "any":
            return "(" + " OR ".join(self._cond(t, s, params) for s in c.sub) + ")"
        if c.op == "in_table":
            assert c.table is not None
            inner = " AND ".join(self._cond(c.table, s, params) for s in c.sub) or "1 = 1"
            return f'"{c.column}" IN (SELECT id FROM {c.table.name} WHERE {inner})'
        params.append(self.encode(t.column(c.column).type, c.value))
        return f'"{c.column}" {c.op} {p}'

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

    def columns(self, query: Query, names: Sequence[str]) -> Iterator[list[tuple[Any, ...]]]:
        t = query.table
        d = self.dialect
        select = []
        for c in names:
            kind = "text" if c == "id" else t.column(c).type
            expr = d.ts_micros if kind == "ts" else d.dec_text if kind == "dec" else '"{c}"'
            select.append(expr.format(c=c) + f' AS "{c}"')
        where, params = self._where(query)
        sql = f"SELECT {', '.join(select)} FROM {t.name}"
        if where:
            sql += f" WHERE {where}"
        sql += " ORDER BY " + ", ".join(f'"{c}"' for c in query.sort_key)
        if query.limit is not None:
            sql += f" LIMIT {int(query.limit)}"
        with self.lock:
            try:
                cur = self.execute(sql, params)
                while rows := cur.fetchmany(100_000):
                    yield rows
            except self.driver_errors as exc:
                raise self.translate_error(exc) from exc

    def documents(self, table: Table) -> Iterator[tuple[str, Any]]:
        """``(id, stored JSON text)`` of every record of ``table`` in id order, a page at a
        time (without building records)."""
        select = f"SELECT id, {self.statements[table.name].doc_select} FROM {table.name}"
        p = self.dialect.param
        after: str | None = None
        while True:
            sql = select + ("" if after is None else f" WHERE id > {p}")
            sql += f" ORDER BY id LIMIT {STREAM_BATCH}"
            with self.lock:
                rows = self.fetchall(sql, () if after is None else (after,))
            yield from rows
            if len(rows) < STREAM_BATCH:
                return
            after = rows[-1][0]
