"""The one storage contract, run against every built-in adapter."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_core.testing.storage_contract import StoreContract


class TestInMemoryContract(StoreContract):
    """The in-memory store is held to the same contract as the databases."""

    @pytest.fixture
    def store(self, memory_store: Any) -> Any:
        return memory_store


class TestSQLiteContract(StoreContract):
    """SQLite in a file (WAL)."""

    @pytest.fixture
    def store(self, sqlite_store: Any) -> Any:
        return sqlite_store


class TestPostgresContract(StoreContract):
    """PostgreSQL; skipped without PIPELINE_CORE_TEST_POSTGRES_URL (see conftest)."""

    allows_nul = False

    @pytest.fixture
    def store(self, postgres_store: Any) -> Any:
        return postgres_store
