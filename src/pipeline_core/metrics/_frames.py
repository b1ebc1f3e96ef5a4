"""Frame plumbing over ``narwhals.stable.v2``: import this module only when a frame was given.

- :func:`prepare` turns a user's frame into a narwhals ``LazyFrame`` in the user's engine, with the
  requested timestamp columns converted once, natively, to integer epoch seconds (PySpark has no
  ``total_seconds``; DuckDB no ``dt.timestamp``). pyarrow tables have no ordered windows, so they
  are computed with polars (zero-copy), or DuckDB when polars is missing. Dask is refused: narwhals
  gives wrong results for ``over(order_by=...)`` on Dask.
- :func:`collect_rows` collects a *small* aggregated result to Python values.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from pipeline_core._optional import require
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.metrics.inputs import StageOrder

require("narwhals.stable.v2", "frames")
import narwhals.stable.v2 as nw  # noqa: E402

__all__ = [
    "EXACT_AT",
    "ORDER",
    "SEQ",
    "collect_rows",
    "last_event",
    "prepare",
    "prepare_events",
    "prepare_opportunities",
    "rank_expr",
    "stage_in",
    "value_columns",
]


def _implementation(frame: Any) -> Any:
    return frame.implementation


def prepare(
    native: Any,
    *,
    what: str,
    required: Sequence[str],
    time_columns: Sequence[str] = (),
) -> Any:
    """A narwhals LazyFrame of ``native`` with ``time_columns`` as int64 epoch seconds and every
    list-typed required column (a multi-valued dimension such as ``tags``) exploded.

    Raises :class:`ValidationError` listing every missing column, every naive or non-time timestamp
    column, and for Dask input.
    """
    try:
        frame: Any = nw.from_native(native)
    except TypeError as exc:
        raise ValidationError(
            what,
            [
                Problem(
                    (what,),
                    "expected a dataframe narwhals supports",
                    type(native).__name__,
                    "input_type",
                )
            ],
        ) from exc
    impl = _implementation(frame)
    if impl is nw.Implementation.DASK:
        raise ValidationError(
            what,
            [
                Problem(
                    (what,),
                    "Dask is not supported: ordered windows (over(order_by=...)) give wrong results "
                    "there; use polars, DuckDB or PySpark",
                    "dask",
                    "unsupported_backend",
                )
            ],
        )
    if isinstance(frame, nw.DataFrame):
        if impl is nw.Implementation.PYARROW:
            try:
                require("polars", "frames")
                import polars  # noqa: F401

                frame = frame.lazy(backend=nw.Implementation.POLARS)
            except ImportError:  # pragma: no cover - polars is in the frames extra
                frame = frame.lazy(backend=nw.Implementation.DUCKDB)
        else:
            frame = frame.lazy()
    schema = frame.collect_schema()
    if what == "opportunities":
        frame, schema = _vocabulary(frame, schema)
    elif what == "leads" and "merged_into" in schema:  # a merged duplicate lead: not a lead
        frame = frame.filter(not_merged(schema))
    problems: list[Problem] = []
    for col in required:
        if col not in schema:
            name = _PUBLIC.get(col, col)
            problems.append(
                Problem((what, name), "required column is missing", None, "missing_column", True)
            )
    convert: list[str] = []
    for col in time_columns:
        if col not in schema:
            continue
        dtype = schema[col]
        if isinstance(dtype, nw.Datetime):
            if dtype.time_zone is None:
                problems.append(
                    Problem(
                        (what, col),
                        "a timezone is needed: got a naive datetime column; make it aware "
                        "(e.g. UTC) or give integer epoch seconds",
                        str(dtype),
                        "timezone_aware",
                    )
                )
            else:
                convert.append(col)
        elif not dtype.is_integer():
            problems.append(
                Problem(
                    (what, col),
                    "expected a timezone-aware datetime column or integer epoch seconds",
                    str(dtype),
                    "datetime_type",
                )
            )
    if problems:
        raise ValidationError(what, problems)
    if what == "stage events" and "at" in time_columns and "at" in schema:
        frame = _exact_order(frame, schema)
    if convert:
        frame = _to_epoch(frame, convert)
    for col in dict.fromkeys(required):
        if isinstance(schema[col], nw.List):
            # a multi-valued dimension (tags): one row per value, null for an empty list
            frame = frame.explode(col)
    return frame


_PUBLIC = {"amount": "expected_amount"}
"""Internal working column -> its name in :mod:`pipeline_core.frame_columns`."""


def _vocabulary(frame: Any, schema: Any) -> tuple[Any, Any]:
    """An opportunity frame in the metrics' working columns, merged duplicates left out.

    The vocabulary (:mod:`pipeline_core.frame_columns`) names the amount ``expected_amount``; the
    metrics compute on it as ``amount``. The old ``amount`` column is still read (deprecated).
    A row with ``merged_into`` set is a merged duplicate (:func:`pipeline_core.facts.is_merged`):
    no metric counts it, so it is dropped here, once, for every metric.
    """
    if "expected_amount" in schema:
        if "amount" in schema:
            frame = frame.drop("amount")
        frame = frame.rename({"expected_amount": "amount"})
    elif "amount" in schema:
        warnings.warn(
            "the opportunity frame column 'amount' is deprecated: name it 'expected_amount' "
            "(see pipeline_core.frame_columns)",
            DeprecationWarning,
            stacklevel=4,
        )
    if "merged_into" in schema:
        frame = frame.filter(not_merged(schema))
    return frame, frame.collect_schema()


def not_merged(schema: Any) -> Any:
    """The rows whose ``merged_into`` is missing (null, or a blank text:
    :func:`pipeline_core.facts.is_missing`), i.e. that are not merged duplicates."""
    col = nw.col("merged_into")
    if schema["merged_into"] == nw.String:
        return col.is_null() | (col.str.strip_chars() == "")
    return col.is_null()


EXACT_AT = "_at_us"
"""The working column holding a stage event's ``at`` in integer microseconds (its full precision),
for ordering; ``at`` itself becomes epoch seconds."""

SEQ = "_seq"
"""The working column holding a stage event's ``seq`` (0 when the frame has none)."""

ORDER = (EXACT_AT, SEQ, "id")
"""The order of a deal's events in a frame: :func:`pipeline_core.facts.event_order`, then id."""


def _exact_order(frame: Any, schema: Any) -> Any:
    """Add :data:`EXACT_AT` and :data:`SEQ` to a stage-event frame, before ``at`` is floored."""
    impl = _implementation(frame)
    seq = nw.col("seq").cast(nw.Int64).fill_null(0) if "seq" in schema else nw.lit(0, nw.Int64())
    dtype = schema["at"]
    if not isinstance(dtype, nw.Datetime):  # integer epoch seconds: no sub-second part
        return frame.with_columns((nw.col("at") * 1_000_000).alias(EXACT_AT), seq.alias(SEQ))
    if impl is nw.Implementation.DUCKDB:
        rel = nw.to_native(frame)
        cols = ", ".join('"' + c.replace('"', '""') + '"' for c in rel.columns)
        frame = nw.from_native(rel.project(f'{cols}, epoch_us("at") AS {EXACT_AT}'))
        return frame.with_columns(seq.alias(SEQ))
    if impl.is_spark_like():
        sdf = nw.to_native(frame)
        require("pyspark.sql", "spark")
        from pyspark.sql import functions as F

        frame = nw.from_native(sdf.withColumn(EXACT_AT, F.unix_micros(F.col("at"))))
        return frame.with_columns(seq.alias(SEQ))
    return frame.with_columns(nw.col("at").dt.timestamp("us").alias(EXACT_AT), seq.alias(SEQ))


def last_event(frame: Any, cut_us: int) -> Any:
    """Per opportunity, its last event at or before the instant ``cut_us`` (epoch microseconds,
    full precision) in :func:`pipeline_core.facts.event_order` (then the greatest id), from a
    prepared event frame."""
    ev = frame.filter(nw.col(EXACT_AT) <= cut_us)
    for col in ORDER:
        ev = ev.filter(nw.col(col) == nw.col(col).max().over("opportunity_id"))
    return ev


def _to_epoch(frame: Any, columns: Sequence[str]) -> Any:
    impl = _implementation(frame)
    if impl is nw.Implementation.DUCKDB:
        rel = nw.to_native(frame)
        exprs = []
        for c in rel.columns:
            q = '"' + c.replace('"', '""') + '"'
            exprs.append(f"epoch_us({q}) // 1000000 AS {q}" if c in columns else q)
        return nw.from_native(rel.project(", ".join(exprs)))
    if impl.is_spark_like():
        sdf = nw.to_native(frame)
        require("pyspark.sql", "spark")
        from pyspark.sql import functions as F

        for c in columns:
            sdf = sdf.withColumn(c, F.unix_seconds(F.col(c)))
        return nw.from_native(sdf)
    return frame.with_columns(
        [(nw.col(c).dt.timestamp("us") // 1_000_000).alias(c) for c in columns]
    )


def _plain(value: Any) -> Any:
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing values
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    return value


def collect_rows(frame: Any) -> list[dict[str, Any]]:
    """Collect a small (aggregated) lazy frame to a list of dicts of plain Python values.

    NaN (pandas' missing float) becomes ``None``.
    """
    df = frame.collect() if isinstance(frame, nw.LazyFrame) else frame
    out: list[dict[str, Any]] = []
    for row in df.rows(named=True):
        clean: dict[str, Any] = {}
        for k, v in row.items():
            v = _plain(v)
            if isinstance(v, float) and v != v:
                v = None
            clean[k] = v
        out.append(clean)
    return out


def stage_in(column: str, stages: Iterable[str]) -> Any:
    """``column`` is one of ``stages`` (False for null)."""
    ids = list(stages)
    if not ids:
        return nw.lit(False)
    return nw.col(column).is_in(ids).fill_null(False)


def rank_expr(column: str, order: StageOrder) -> Any:
    """The funnel rank of the stage in ``column`` (null for an unknown stage), as a when-chain."""
    ranks = order.ranks()
    expr: Any = None
    for stage, rank in ranks.items():
        cond = nw.col(column) == nw.lit(stage)
        expr = (
            nw.when(cond).then(nw.lit(rank)) if expr is None else expr.when(cond).then(nw.lit(rank))
        )
    # No cast: numpy-backed pandas cannot hold nulls in an int column (the rank becomes float there).
    return expr.otherwise(nw.lit(None))


def value_columns(value: bool) -> tuple[str, ...]:
    """The columns a metric by value reads besides the counts: ``amount`` and ``currency``."""
    return ("amount", "currency") if value else ()


def prepare_opportunities(
    native: Any,
    *,
    columns: Sequence[str],
    by: Sequence[str],
    value: bool,
    time_columns: Sequence[str] = (),
) -> Any:
    """:func:`prepare` for an opportunities frame: ``columns``, the group columns ``by`` and,
    when ``value``, :func:`value_columns` are required."""
    required = (*columns, *by, *value_columns(value))
    return prepare(native, what="opportunities", required=required, time_columns=time_columns)


def prepare_events(native: Any, columns: Sequence[str]) -> Any:
    """:func:`prepare` for a stage-events frame with ``columns`` (``at`` as epoch seconds)."""
    return prepare(native, what="stage events", required=columns, time_columns=("at",))
