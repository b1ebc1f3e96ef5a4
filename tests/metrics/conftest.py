"""Shared fixtures: one local PySpark session per test session, and frame converters per backend."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    pyspark_sql = pytest.importorskip("pyspark.sql")
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("pipeline_core-metrics-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.adaptive.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _to_spark(spark: Any, frame: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return spark.createDataFrame(frame.to_pandas())


def converters(request: pytest.FixtureRequest, backend: str) -> Callable[[Any], Any]:
    """A function turning a polars DataFrame into the backend's native frame."""
    if backend == "polars":
        return lambda f: f
    if backend == "polars_lazy":
        return lambda f: f.lazy()
    if backend == "pandas":
        return lambda f: f.to_pandas()
    if backend == "pyarrow":
        return lambda f: f.to_arrow()
    if backend == "duckdb":
        import duckdb

        con = duckdb.connect()
        return lambda f: con.from_arrow(f.to_arrow())
    if backend == "spark":
        session = request.getfixturevalue("spark")
        return lambda f: _to_spark(session, f)
    raise AssertionError(backend)
