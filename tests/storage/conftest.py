"""Fixtures for the storage tests: one fresh store per test, for every adapter.

PostgreSQL tests read ``PIPELINE_CORE_TEST_POSTGRES_URL`` (e.g.
``postgresql://postgres@127.0.0.1:5432/test``). Without it they skip, saying how to run them,
unless ``PIPELINE_CORE_REQUIRE_POSTGRES=1`` (set by CI), where a missing or unreachable server
fails. Each test session works in its own PostgreSQL schema, dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline_core.storage import InMemoryStore, SQLiteStore
from pipeline_core.storage._base import TABLES

POSTGRES_ENV = "PIPELINE_CORE_TEST_POSTGRES_URL"
REQUIRE_ENV = "PIPELINE_CORE_REQUIRE_POSTGRES"
HOW = (
    f"PostgreSQL tests skipped: set {POSTGRES_ENV}=postgresql://user@host:5432/dbname "
    "(a database you may create schemas in) to run them; see DEVELOPERS.md"
)


def postgres_url() -> str:
    """The test server's URL, or skip/fail as the environment asks."""
    url = os.environ.get(POSTGRES_ENV)
    required = os.environ.get(REQUIRE_ENV) == "1"
    if not url:
        if required:
            pytest.fail(f"{REQUIRE_ENV}=1 but {POSTGRES_ENV} is not set")
        pytest.skip(HOW)
    return url


@pytest.fixture(scope="session")
def pg_session() -> Iterator[tuple[str, str]]:
    """(url, schema): a unique schema for this test session, dropped at the end."""
    url = postgres_url()
    try:
        import psycopg

        conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except Exception as exc:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable ({exc}); {HOW}")
    schema = f"pc_test_{uuid.uuid4().hex[:12]}"
    try:
        yield url, schema
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


def truncate_all(url: str, schema: str, conn: Any = None) -> None:
    """Empty every table of the session schema (through ``conn`` when it is still open)."""
    import psycopg

    names = ", ".join(
        f'"{schema}".{t.name}' + (f', "{schema}".{t.name}_tags' if t.tags else "") for t in TABLES
    )
    if conn is not None and not conn.closed:
        conn.execute(f"TRUNCATE {names}")
        return
    with psycopg.connect(url, autocommit=True) as fresh:
        fresh.execute(f"TRUNCATE {names}")


@pytest.fixture
def memory_store() -> Iterator[InMemoryStore]:
    """A fresh in-memory store."""
    store = InMemoryStore()
    yield store
    store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A fresh SQLite store in a temporary file."""
    store = SQLiteStore(tmp_path / "store.db")
    yield store
    store.close()


@pytest.fixture
def postgres_store(pg_session: tuple[str, str]) -> Iterator[object]:
    """A fresh PostgreSQL store in the session schema (emptied after each test)."""
    from pipeline_core.storage import PostgresStore

    url, schema = pg_session
    store = PostgresStore(url, schema=schema)
    try:
        yield store
    finally:
        truncate_all(url, schema, store.connection)
        store.close()
