"""Stage events and opportunities as Arrow, pandas or polars frames, for metrics.

Read through the storage port only: the store's backend answers
:meth:`~pipeline_core.storage._base.Backend.columns` (the columns of a query, in batches of rows):

- SQLite and PostgreSQL select the query columns in one ``SELECT``, never building records
  (timestamps as integer microseconds, cast to ``timestamp[us, tz=UTC]``);
- in memory, the columns are read from the stored records (the data is in Python anyway);
- a :class:`~pipeline_core.assignment.ScopedStore` gives the actor's visible records only: its
  visibility is part of the query (so SQL stores still build no records), or, for actors whose
  contact details are masked, the columns are read from the masked records.

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

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pipeline_core._optional import require
from pipeline_core.errors import RecordTypeError
from pipeline_core.frame_columns import EVENT_COLUMNS, OPPORTUNITY_COLUMNS
from pipeline_core.storage._base import (
    OPPORTUNITIES,
    STAGE_EVENTS,
    Cond,
    Query,
    Table,
    check_ts,
)
from pipeline_core.storage._base import Backend as StorageBackend
from pipeline_core.storage.ports import Store

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
    store: Store,
    table: Table,
    columns: Sequence[str],
    where: tuple[Cond, ...],
    order: tuple[str, ...],
) -> pa.Table:
    query = Query(table, where, order)
    backend = getattr(store, "backend", None)
    if isinstance(backend, StorageBackend):
        return _from_rows(table, columns, backend.columns(query, columns))
    raise RecordTypeError(
        f"frames read a store (InMemoryStore, SQLiteStore, PostgresStore, ScopedStore ...), "
        f"not {type(store).__name__}"
    )


def stage_events_frame(
    store: Store,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    backend: Backend = "arrow",
) -> Any:
    """Stage events (optionally ``start <= at < end``) as a frame ordered by ``at``, ``seq``,
    ``id`` (:func:`pipeline_core.facts.event_order`)."""
    where: tuple[Cond, ...] = ()
    if start is not None:
        where += (Cond(">=", "at", check_ts(start, "start")),)
    if end is not None:
        where += (Cond("<", "at", check_ts(end, "end")),)
    table = _read(store, STAGE_EVENTS, _EVENT_COLUMNS, where, ("at", "seq"))
    return _output(table, backend)


def opportunities_frame(
    store: Store, *, open_only: bool = False, backend: Backend = "arrow"
) -> Any:
    """Opportunities (only open ones, ``closed_at is None``, when ``open_only``) as a frame
    ordered by ``id``."""
    where = (Cond("is_null", "closed_at"),) if open_only else ()
    table = _read(store, OPPORTUNITIES, _OPP_COLUMNS, where, ())
    return _output(table, backend)
