"""Frame plumbing over ``narwhals.stable.v2``: import this module only when a frame was given.

- :func:`prepare` turns a user's frame into a narwhals ``LazyFrame`` in the user's engine, with the
  requested timestamp columns converted once, natively, to integer epoch seconds (PySpark has no
  ``total_seconds``; DuckDB no ``dt.timestamp``). pyarrow tables have no ordered windows, so they
  are computed with polars (zero-copy), or DuckDB when polars is missing. Dask is refused: narwhals
  gives wrong results for ``over(order_by=...)`` on Dask.
- :func:`collect_rows` collects a *small* aggregated result to Python values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import narwhals.stable.v2 as nw

from pipeline_core.errors import Problem, ValidationError
from pipeline_core.metrics.inputs import StageOrder

__all__ = ["collect_rows", "prepare", "rank_expr", "stage_in"]


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
                import polars  # noqa: F401

                frame = frame.lazy(backend=nw.Implementation.POLARS)
            except ImportError:  # pragma: no cover - polars is in the frames extra
                frame = frame.lazy(backend=nw.Implementation.DUCKDB)
        else:
            frame = frame.lazy()
    schema = frame.collect_schema()
    problems: list[Problem] = []
    for col in required:
        if col not in schema:
            problems.append(
                Problem((what, col), "required column is missing", None, "missing_column", True)
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
    if convert:
        frame = _to_epoch(frame, convert)
    for col in dict.fromkeys(required):
        if isinstance(schema[col], nw.List):
            # a multi-valued dimension (tags): one row per value, null for an empty list
            frame = frame.explode(col)
    return frame


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
