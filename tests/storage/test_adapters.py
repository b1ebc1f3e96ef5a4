"""Adapter specifics: choosing by URL, SQLite pragmas and schema migrations, PostgreSQL schemas."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_core.errors import StorageError
from pipeline_core.storage import InMemoryStore, SQLiteStore, open
from pipeline_core.storage._sql import SCHEMA_VERSION
from pipeline_core.testing.storage_contract import make_opportunity


def test_open_memory() -> None:
    with open("memory://") as store:
        assert isinstance(store, InMemoryStore)


def test_open_sqlite_file_and_memory(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with open(f"sqlite:///{path}") as store:
        assert isinstance(store, SQLiteStore)
        store.opportunities.add(make_opportunity(1))
    assert path.exists()
    with open(f"sqlite:///{path}") as again:
        assert again.opportunities.count() == 1
    with open("sqlite://") as mem:
        assert isinstance(mem, SQLiteStore)
        assert mem.opportunities.count() == 0


@pytest.mark.parametrize("url", ["mysql://x", "no-scheme", "memory://x", "sqlite:relative"])
def test_bad_urls_name_what_is_accepted(url: str) -> None:
    with pytest.raises(ValueError, match=r"memory://|sqlite"):
        open(url)


def test_importing_storage_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, pipeline_core, pipeline_core.storage, pipeline_core.storage.io;"
        "bad = [m for m in ('psycopg', 'pandas', 'polars', 'numpy', 'narwhals', 'pyarrow')"
        " if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sqlite_uses_wal_and_foreign_keys(sqlite_store: SQLiteStore) -> None:
    conn = sqlite_store.connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_sqlite_schema_is_migrated_once(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    with SQLiteStore(path) as store:
        rows = store.connection.execute("SELECT version FROM schema_version").fetchall()
        assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        SQLiteStore(path)


def test_sqlite_unopenable_path_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        SQLiteStore(tmp_path / "missing-dir" / "x.db")


def test_sqlite_tag_rows_follow_their_record(sqlite_store: SQLiteStore) -> None:
    sqlite_store.opportunities.add(make_opportunity(1, tags=frozenset({"a", "b"})))
    conn = sqlite_store.connection
    assert conn.execute("SELECT count(*) FROM opportunities_tags").fetchone()[0] == 2

    def orphan_tag() -> None:
        with sqlite_store.unit_of_work():
            sqlite_store._sqlite.execute(
                "INSERT INTO opportunities_tags (id, tag) VALUES (?, ?)", ("ghost", "x")
            )

    with pytest.raises(StorageError, match="FOREIGN KEY"):  # foreign keys are enforced
        orphan_tag()


def test_postgres_store_hides_the_password() -> None:
    from pipeline_core.storage.postgres import PostgresStore

    store = object.__new__(PostgresStore)
    store.url = "postgresql://alice:s3cret@db:5432/crm"
    assert "s3cret" not in repr(store)


def test_postgres_schema_name_is_checked(pg_session: tuple[str, str]) -> None:
    from pipeline_core.storage import PostgresStore

    with pytest.raises(ValueError, match="schema"):
        PostgresStore(pg_session[0], schema='x"; DROP SCHEMA public; --')


def test_postgres_open_with_schema_in_url(pg_session: tuple[str, str]) -> None:
    url, schema = pg_session
    sep = "&" if "?" in url else "?"
    with open(f"{url}{sep}schema={schema}") as store:
        assert type(store).__name__ == "PostgresStore"
        assert store.schema == schema  # type: ignore[attr-defined]
        assert store.schema_version == SCHEMA_VERSION  # type: ignore[attr-defined]


def test_postgres_unreachable_server_is_a_storage_error() -> None:
    pytest.importorskip("psycopg")
    from pipeline_core.storage import PostgresStore

    with pytest.raises(StorageError, match="cannot connect"):
        PostgresStore("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


ROOT = Path(__file__).resolve().parents[2]
ONE_PG_TEST = "tests/storage/test_contract.py::TestPostgresContract::test_store_implements_the_port"


def _pytest_without_postgres(**env: str) -> subprocess.CompletedProcess[str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_CORE_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", ONE_PG_TEST, "-rs", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **env},
        timeout=120,
    )


def test_without_a_server_postgres_tests_skip_saying_how_to_run() -> None:
    proc = _pytest_without_postgres()
    assert proc.returncode == 0, proc.stdout
    assert "1 skipped" in proc.stdout
    assert "PIPELINE_CORE_TEST_POSTGRES_URL=postgresql://" in proc.stdout


def test_ci_requiring_postgres_fails_without_a_server() -> None:
    proc = _pytest_without_postgres(PIPELINE_CORE_REQUIRE_POSTGRES="1")
    assert proc.returncode != 0
    assert "PIPELINE_CORE_TEST_POSTGRES_URL is not set" in proc.stdout
    proc = _pytest_without_postgres(
        PIPELINE_CORE_REQUIRE_POSTGRES="1",
        PIPELINE_CORE_TEST_POSTGRES_URL="postgresql://nobody@127.0.0.1:1/none",
    )
    assert proc.returncode != 0
    assert "unreachable" in proc.stdout


def test_sqlite_v1_store_migrates_to_event_seq_and_merged_into(tmp_path: Path) -> None:
    """A store written before schema 2 opens with ``stage_events.seq`` (0 for the old events)
    and ``opportunities.merged_into`` filled from the documents, so frames can leave merged
    duplicates out and order events by (at, seq)."""
    import json

    from pipeline_core.storage._sql import SQLITE, schema_v1

    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    for statement in schema_v1(SQLITE):
        conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    merged = make_opportunity(2, tags=frozenset({"merged"}), custom={"merged_into": "opp-1"})
    for opp in (make_opportunity(1), merged):
        doc = json.dumps(opp.to_dict())
        conn.execute(
            "INSERT INTO opportunities (id, version, name, stage, doc) VALUES (?, ?, ?, ?, ?)",
            (opp.id, opp.version, opp.name, opp.stage, doc),
        )
    old_event = {
        "id": "ev-1",
        "opportunity_id": "opp-1",
        "to_stage": "new",
        "at": "2025-01-06T09:00:00Z",
        "by": "u1",
    }
    conn.execute(
        "INSERT INTO stage_events (id, version, opportunity_id, to_stage, at, doc) "
        "VALUES ('ev-1', 1, 'opp-1', 'new', 0, ?)",
        (json.dumps(old_event),),
    )
    conn.commit()
    conn.close()
    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 3  # v3 changes nothing on SQLite
        rows = store.connection.execute(
            "SELECT id, merged_into FROM opportunities ORDER BY id"
        ).fetchall()
        assert rows == [("opp-1", None), ("opp-2", "opp-1")]
        assert store.connection.execute("SELECT seq FROM stage_events").fetchall() == [(0,)]
        assert [e.seq for e in store.stage_events.all()] == [0]


def test_postgres_v1_store_migrates_to_event_seq_and_merged_into(
    pg_session: tuple[str, str],
) -> None:
    """The same migration on PostgreSQL: ``merged_into`` read from the JSON documents."""
    import json
    import uuid

    import psycopg

    from pipeline_core.storage import PostgresStore
    from pipeline_core.storage._sql import POSTGRES, schema_v1

    url = pg_session[0]
    schema = f"pc_mig_{uuid.uuid4().hex[:12]}"
    conn = psycopg.connect(url, autocommit=True)
    try:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        for statement in schema_v1(POSTGRES):
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        merged = make_opportunity(2, tags=frozenset({"merged"}), custom={"merged_into": "opp-1"})
        for opp in (make_opportunity(1), merged):
            conn.execute(
                "INSERT INTO opportunities (id, version, name, stage, doc) VALUES (%s, %s, %s, %s, %s)",
                (opp.id, opp.version, opp.name, opp.stage, json.dumps(opp.to_dict())),
            )
        with PostgresStore(url, schema=schema) as store:
            assert store.schema_version == 3
            rows = store.connection.execute(
                "SELECT id, merged_into FROM opportunities ORDER BY id"
            ).fetchall()
            assert rows == [("opp-1", None), ("opp-2", "opp-1")]
            assert [o.id for o in store.opportunities.all()] == ["opp-1", "opp-2"]
            # v3: ids compare by code point, whatever the database's collation
            collations = store.connection.execute(
                "SELECT DISTINCT collation_name FROM information_schema.columns "
                "WHERE table_schema = %s AND column_name = 'id'",
                (schema,),
            ).fetchall()
            assert collations == [("C",)]
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()
