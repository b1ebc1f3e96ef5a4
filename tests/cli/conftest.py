"""Shared fixtures: one small demo database built once per session through the CLI itself."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from pipeline_core.cli import main

SEED = 5
LEADS = 150


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``main(argv)`` in-process; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli() -> Any:
    """``cli(argv) -> (exit code, stdout, stderr)``, running ``main`` in-process."""
    return run_cli


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo run (small) with its paths and its --json summary."""
    d = tmp_path_factory.mktemp("demo")
    db, report = d / "demo.db", d / "report.html"
    code, out, err = run_cli(
        [
            "demo",
            "--leads",
            str(LEADS),
            "--seed",
            str(SEED),
            "--db",
            str(db),
            "--report",
            str(report),
            "--json",
        ]
    )
    assert code == 0, err
    return {
        "dir": d,
        "db": db,
        "report": report,
        "url": f"sqlite:///{db}",
        "summary": json.loads(out),
        "seed": SEED,
        "leads": LEADS,
    }
