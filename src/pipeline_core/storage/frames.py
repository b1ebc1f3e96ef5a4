"""Stage events and opportunities as Arrow, pandas or polars frames, for metrics.

Read straight from the query columns of the store, never through record objects:

- SQLite: the rows come from one ``SELECT`` in batches and become Arrow columns (timestamps are
  the stored integer microseconds, cast to ``timestamp[us, tz=UTC]``);
- PostgreSQL: ``COPY (SELECT ...) TO STDOUT`` in CSV, parsed by Arrow's CSV reader;
- in memory: the columns are read from the stored records (the data is in Python anyway);
- any other store of the port, such as a :class:`~pipeline_core.assignment.ScopedStore`: the
  columns are read from the records its queries return (for a scoped store: the actor's visible
  records, masked as for them).

Columns (Arrow types), named in the library's one frame vocabulary
(:mod:`pipeline_core.frame_columns`), so the metrics read these frames as they are:

- stage events: ``id, opportunity_id, from_stage, to_stage, at, seq (int64), by, pipeline``;
- opportunities: ``id, name, owner_id, team_id, stage, pipeline, lead_id, account_id, source,
  created_at, stage_entered_at, closed_at, due_at, expected_amount (decimal128(25, 3)),
  currency, probability (float64), merged_into``.

Timestamps are UTC (``timestamp[us, tz=UTC]``); rows are ordered by ``at``, ``seq``, ``id``
(events, :func:`pipeline_core.facts.event_order`) or ``id`` (opportunities). pyarrow is needed (polars or pandas for those outputs); they are imported only
when a function here is called.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pipeline_core._optional import require
from pipeline_core.facts import event_order
from pipeline_core.frame_columns import EVENT_COLUMNS, OPPORTUNITY_COLUMNS
from pipeline_core.storage._base import OPPORTUNITIES, STAGE_EVENTS, BaseStore, Table, check_ts
from pipeline_core.storage._sql import ts_to_micros
from pipeline_core.storage.memory import InMemoryStore
from pipeline_core.storage.ports import Repositories
from pipeline_core.storage.sqlite import SQLiteStore

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["opportunities_frame", "stage_events_frame"]

Backend = Literal["arrow", "pandas", "polars"]

_EVENT_COLUMNS = ("id", "opportunity_id", "from_stage", "to_stage", "at", "seq", "by", "pipeline")
_OPP_COLUMNS = (
    "id",
    "name",
    "owner_id",
    "team_id",
    "stage",
    "pipeline",
    "lead_id",
    "account_id",
    "source",
    "created_at",
    "stage_entered_at",
    "closed_at",
    "due_at",
    "expected_amount",
    "currency",
    "probability",
    "merged_into",
)
assert set(_EVENT_COLUMNS) <= set(EVENT_COLUMNS)
assert set(_OPP_COLUMNS) <= set(OPPORTUNITY_COLUMNS)
_BATCH = 100_000


def _arrow_type(table: Table, name: str) -> pa.DataType:
    require("pyarrow", "frames")
    import pyarrow as pa

    if name == "id":
        return pa.string()
    kind = table.column(name).type
    return {
        "ts": pa.timestamp("us", tz="UTC"),
        "dec": pa.decimal128(25, 3),
        "real": pa.float64(),
        "int": pa.int64(),
        "bool": pa.bool_(),
        "text": pa.string(),
    }[kind]


def _schema(table: Table, columns: Sequence[str]) -> pa.Schema:
    require("pyarrow", "frames")
    import pyarrow as pa

    return pa.schema([(c, _arrow_type(table, c)) for c in columns])


def _column(table: Table, name: str, values: Sequence[Any]) -> pa.Array:
    require("pyarrow", "frames")
    import pyarrow as pa

    target = _arrow_type(table, name)
    if pa.types.is_timestamp(target):
        return pa.array(values, pa.int64()).cast(target)
    if pa.types.is_decimal(target):
        return pa.array(values, pa.string()).cast(target)
    return pa.array(values, target)


def _from_rows(table: Table, columns: Sequence[str], batches: Any) -> pa.Table:
    require("pyarrow", "frames")
    import pyarrow as pa

    schema = _schema(table, columns)
    out = []
    for rows in batches:
        cols: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        arrays = [_column(table, c, v) for c, v in zip(columns, cols, strict=True)]
        out.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
    return pa.Table.from_batches(out, schema=schema)


def _sqlite(
    store: SQLiteStore,
    table: Table,
    columns: Sequence[str],
    where: str,
    params: list[Any],
    order: str,
) -> pa.Table:
    quoted = ", ".join(f'"{c}"' for c in columns)
    sql = f"SELECT {quoted} FROM {table.name}"
    if where:
        sql += f" WHERE {where}"
    sql += f" ORDER BY {order}"

    def batches() -> Any:
        with store._backend.lock:
            cur = store.connection.execute(sql, params)
            while rows := cur.fetchmany(_BATCH):
                yield rows

    return _from_rows(table, columns, batches())


def _postgres(
    store: Any, table: Table, columns: Sequence[str], where: str, params: list[Any], order: str
) -> pa.Table:
    require("pyarrow", "frames")
    import pyarrow as pa

    require("pyarrow.csv", "frames")
    import pyarrow.csv as pacsv

    select = []
    for c in columns:
        kind = "text" if c == "id" else table.column(c).type
        if kind == "ts":
            select.append(f'(extract(epoch from "{c}") * 1000000)::bigint AS "{c}"')
        else:
            select.append(f'"{c}"')
    sql = f"SELECT {', '.join(select)} FROM {table.name}"
    if where:
        sql += f" WHERE {where}"
    sql += f" ORDER BY {order}"
    buf = io.BytesIO()
    with (
        store._backend.lock,
        store.connection.cursor() as cur,
        cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)", params or None) as copy,
    ):
        for chunk in copy:
            buf.write(chunk)
    buf.seek(0)
    raw_types = {}
    for c in columns:
        t = _arrow_type(table, c)
        raw_types[c] = (
            pa.int64()
            if pa.types.is_timestamp(t)
            else (pa.string() if pa.types.is_decimal(t) else t)
        )
    raw = pacsv.read_csv(
        buf,
        convert_options=pacsv.ConvertOptions(
            column_types=raw_types,
            # PostgreSQL's CSV writes NULL as an unquoted empty field and text as quoted when
            # needed ("" for the empty string): only that is null, never text such as "NA",
            # "N/A", "NULL" or "nan" (Arrow's default null spellings), as in the other stores.
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            include_columns=list(columns),
        ),
    )
    schema = _schema(table, columns)
    arrays = [raw.column(c).cast(schema.field(c).type) for c in columns]
    return pa.Table.from_arrays(arrays, schema=schema)


def _record_id(record: Any) -> Any:
    return record.id


def _memory(store: object, table: Table, columns: Sequence[str], records: Any) -> pa.Table:
    getters: list[Callable[[Any], Any]] = [
        _record_id if c == "id" else table.column(c).get for c in columns
    ]
    kinds = ["text" if c == "id" else table.column(c).type for c in columns]

    def encode(kind: str, value: Any) -> Any:
        if value is None:
            return None
        if kind == "ts":
            return ts_to_micros(value)
        if kind == "dec":
            return str(value)
        return value

    rows = [tuple(encode(k, g(r)) for k, g in zip(kinds, getters, strict=True)) for r in records]
    return _from_rows(table, columns, [rows])


def _output(table: pa.Table, backend: Backend) -> Any:
    if backend == "arrow":
        return table
    if backend == "pandas":
        return table.to_pandas()
    if backend == "polars":
        require("polars", "frames")
        import polars as pl

        return pl.from_arrow(table)
    raise ValueError(f"backend must be 'arrow', 'pandas' or 'polars', got {backend!r}")


def _read(
    store: BaseStore | Repositories,
    table: Table,
    columns: Sequence[str],
    conds: list[tuple[str, str, Any]],
    order: tuple[str, ...],
    memory_records: Any,
) -> pa.Table:
    from pipeline_core.storage._sql import POSTGRES, SQLITE

    if isinstance(store, InMemoryStore):
        return _memory(store, table, columns, memory_records())
    order_sql = ", ".join(f'"{c}"' for c in order)
    if isinstance(store, SQLiteStore):
        where = " AND ".join(
            f'"{c}" {op} {SQLITE.param}' if op != "is null" else f'"{c}" IS NULL'
            for c, op, _ in conds
        )
        params = [
            ts_to_micros(v) if isinstance(v, datetime) else v
            for _, op, v in conds
            if op != "is null"
        ]
        return _sqlite(store, table, columns, where, params, order_sql)
    from pipeline_core.storage.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        where = " AND ".join(
            f'"{c}" {op} {POSTGRES.param}' if op != "is null" else f'"{c}" IS NULL'
            for c, op, _ in conds
        )
        params = [v for _, op, v in conds if op != "is null"]
        return _postgres(store, table, columns, where, params, order_sql)
    if isinstance(store, Repositories):
        # any other store of the port (a ScopedStore: the actor's visible, masked records)
        return _memory(store, table, columns, memory_records())
    raise TypeError(
        f"frames read a store (InMemoryStore, SQLiteStore, PostgresStore, ScopedStore ...), "
        f"not {type(store).__name__}"
    )


def stage_events_frame(
    store: BaseStore | Repositories,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    backend: Backend = "arrow",
) -> Any:
    """Stage events (optionally ``start <= at < end``) as a frame ordered by ``at``, ``seq``,
    ``id`` (:func:`pipeline_core.facts.event_order`)."""
    conds: list[tuple[str, str, Any]] = []
    if start is not None:
        conds.append(("at", ">=", check_ts(start, "start")))
    if end is not None:
        conds.append(("at", "<", check_ts(end, "end")))

    def records() -> Any:
        if start is not None and end is not None:
            return store.stage_events.between(start, end)
        rows = sorted(store.stage_events.all(), key=lambda e: (event_order(e), e.id))
        return [e for e in rows if (start is None or e.at >= start) and (end is None or e.at < end)]

    table = _read(store, STAGE_EVENTS, _EVENT_COLUMNS, conds, ("at", "seq", "id"), records)
    return _output(table, backend)


def opportunities_frame(
    store: BaseStore | Repositories, *, open_only: bool = False, backend: Backend = "arrow"
) -> Any:
    """Opportunities (only open ones, ``closed_at is None``, when ``open_only``) as a frame
    ordered by ``id``."""
    conds: list[tuple[str, str, Any]] = [("closed_at", "is null", None)] if open_only else []

    def records() -> Any:
        return store.opportunities.open() if open_only else store.opportunities.all()

    table = _read(store, OPPORTUNITIES, _OPP_COLUMNS, conds, ("id",), records)
    return _output(table, backend)
