"""Stores for the scenario suite: memory, SQLite and PostgreSQL (the last skips, saying how to
run it, unless ``PIPELINE_CORE_TEST_POSTGRES_URL`` names a server; ``PIPELINE_CORE_REQUIRE_POSTGRES=1``
makes a missing server a failure). The quarter's data lives in ``quarter.py`` next to this file."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # ``import quarter`` from the scenario tests

POSTGRES_ENV = "PIPELINE_CORE_TEST_POSTGRES_URL"
REQUIRE_ENV = "PIPELINE_CORE_REQUIRE_POSTGRES"
HOW = (
    f"PostgreSQL scenario skipped: set {POSTGRES_ENV}=postgresql://user@host:5432/dbname "
    "(a database you may create schemas in) to run it"
)


def _postgres(tmp: Path) -> Iterator[Any]:
    url = os.environ.get(POSTGRES_ENV)
    required = os.environ.get(REQUIRE_ENV) == "1"
    if not url:
        if required:
            pytest.fail(f"{REQUIRE_ENV}=1 but {POSTGRES_ENV} is not set")
        pytest.skip(HOW)
    try:
        import psycopg

        conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except Exception as exc:
        if required:
            pytest.fail(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable ({exc}); {HOW}")
    from pipeline_core.storage import PostgresStore

    schema = f"pc_scenario_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(url, schema=schema)
    try:
        yield store
    finally:
        store.close()
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty store of each kind."""
    from pipeline_core.storage import InMemoryStore, SQLiteStore

    if request.param == "postgres":
        yield from _postgres(tmp_path)
        return
    s = InMemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "quarter.db")
    try:
        yield s
    finally:
        s.close()
