"""`import pipeline_core` stays light: no dataframe, numeric or database library is imported."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "pandas",
    "polars",
    "numpy",
    "psycopg",
    "narwhals",
    "pyarrow",
    "duckdb",
    "pyspark",
    "matplotlib",
)


def test_import_pulls_in_no_heavy_dependency() -> None:
    code = (
        "import sys, pipeline_core, pipeline_core.records, pipeline_core.samples\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_version_is_exposed() -> None:
    import pipeline_core

    assert isinstance(pipeline_core.__version__, str) and pipeline_core.__version__
