"""The one storage contract, run against every built-in adapter."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import pipeline_core.testing.storage_contract as contract
from pipeline_core._model import Record
from pipeline_core.storage import InMemoryStore, SQLiteStore
from pipeline_core.storage._base import Table
from pipeline_core.storage.memory import _MemoryBackend
from pipeline_core.storage.ports import BaseStore, Store
from pipeline_core.testing.storage_contract import StoreContract


class TestInMemoryContract(StoreContract):
    """The in-memory store is held to the same contract as the databases."""

    @pytest.fixture
    def store(self, memory_store: Any) -> Any:
        return memory_store


class TestSQLiteContract(StoreContract):
    """SQLite in a file (WAL); the race tests over two connections to the file."""

    @pytest.fixture
    def store(self, sqlite_store: Any) -> Any:
        return sqlite_store

    def connect(self, store: Store) -> Store | None:
        assert isinstance(store, SQLiteStore)
        return SQLiteStore(store.path)


class TestPostgresContract(StoreContract):
    """PostgreSQL; skipped without PIPELINE_CORE_TEST_POSTGRES_URL (see conftest). The race
    tests over two connections."""

    allows_nul = False

    @pytest.fixture
    def store(self, postgres_store: Any) -> Any:
        return postgres_store

    def connect(self, store: Store) -> Store | None:
        from pipeline_core.storage import PostgresStore

        assert isinstance(store, PostgresStore)
        return PostgresStore(store.url, schema=store.schema)


# --------------------------------------------------------------------------- the suite can fail


class _BlindBackend(_MemoryBackend):
    """An adapter that forgets the version check: every save overwrites what is stored."""

    def update(self, table: Table, record: Record) -> None:
        self._put(table, record)


class _BlindStore(BaseStore):
    def __init__(self) -> None:
        super().__init__(_BlindBackend(), "memory://blind")


def test_the_race_test_catches_an_adapter_without_version_checks() -> None:
    # Both writers save version 2 over version 1; without the check both "win", and the
    # contract's race test must say so (expected outcomes: one "won", one "conflict").
    with pytest.raises(AssertionError, match="won"):
        StoreContract().test_two_saves_of_one_version_have_exactly_one_winner(_BlindStore())
    # ... and the same adapter with the check (the in-memory store) passes it.
    StoreContract().test_two_saves_of_one_version_have_exactly_one_winner(InMemoryStore())


def test_the_contract_docstring_example_runs(tmp_path: Path) -> None:
    # The example in pipeline_core.testing.storage_contract's docstring, as a user's test module
    # (the race test, the port test and a query test of it, to keep this quick).
    doc = contract.__doc__ or ""
    block = re.search(r"::\n\n((?:    .*\n|\n)+)", doc)
    assert block is not None
    module = tmp_path / "test_my_store.py"
    module.write_text(textwrap.dedent(block.group(1)), encoding="utf-8")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(module),
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "exactly_one_winner or implements_the_port or open_opportunities",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
