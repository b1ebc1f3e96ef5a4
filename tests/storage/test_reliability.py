"""Reliability: concurrent writers (processes on SQLite, connections on PostgreSQL), a process
killed in the middle of an import."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from pipeline_core.errors import ConcurrencyError
from pipeline_core.storage import SQLiteStore
from pipeline_core.storage.io import write_csv
from pipeline_core.testing.storage_contract import make_opportunity

WORKERS = 4
INCREMENTS = 8

_fork = multiprocessing.get_context("fork")


def _race(open_store: Any, barrier: Any, i: int) -> str:
    store = open_store()
    try:
        opp = store.opportunities.get("opp-1")
        barrier.wait(timeout=30)
        try:
            store.opportunities.save(opp.evolve(stage=f"s{i}"))
        except ConcurrencyError as exc:
            assert (exc.expected, exc.actual) == (1, 2)
            return "conflict"
        return "won"
    finally:
        store.close()


def _increment(open_store: Any, barrier: Any) -> int:
    """Add 1 to custom["n"] INCREMENTS times, reloading and retrying on conflict."""
    store = open_store()
    conflicts = 0
    try:
        barrier.wait(timeout=30)
        done = 0
        while done < INCREMENTS:
            opp = store.opportunities.get("opp-1")
            try:
                store.opportunities.save(opp.evolve(custom={"n": opp.custom["n"] + 1}))
                done += 1
            except ConcurrencyError:
                conflicts += 1
        return conflicts
    finally:
        store.close()


# --------------------------------------------------------------------------- SQLite processes


def _sqlite_opener(path: Path) -> Any:
    return lambda: SQLiteStore(path)


def _run_processes(target: Any, args: tuple[Any, ...]) -> list[Any]:
    queue = _fork.Queue()

    def main(i: int) -> None:
        try:
            queue.put((i, target(*args, *((i,) if target is _race else ()))))
        except BaseException as exc:
            queue.put((i, f"error: {exc!r}"))

    procs = [_fork.Process(target=main, args=(i,)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return [r for _, r in sorted(results)]


def test_sqlite_processes_racing_on_one_opportunity(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    with SQLiteStore(path) as store:
        store.opportunities.add(make_opportunity(1))
    results = _run_processes(_race, (_sqlite_opener(path), _fork.Barrier(WORKERS)))
    assert sorted(results) == ["conflict"] * (WORKERS - 1) + ["won"]
    with SQLiteStore(path) as store:
        assert store.opportunities.get("opp-1").version == 2


def test_sqlite_processes_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / "count.db"
    with SQLiteStore(path) as store:
        store.opportunities.add(make_opportunity(1, custom={"n": 0}))
    conflicts = _run_processes(_increment, (_sqlite_opener(path), _fork.Barrier(WORKERS)))
    assert all(isinstance(c, int) for c in conflicts), conflicts
    with SQLiteStore(path) as store:
        final = store.opportunities.get("opp-1")
    assert final.custom["n"] == WORKERS * INCREMENTS
    assert final.version == 1 + WORKERS * INCREMENTS


# --------------------------------------------------------------------------- PostgreSQL connections


def _run_threads(target: Any, make_args: Any) -> list[Any]:
    results: list[Any] = [None] * WORKERS

    def main(i: int) -> None:
        try:
            results[i] = target(*make_args(i))
        except BaseException as exc:
            results[i] = f"error: {exc!r}"

    threads = [threading.Thread(target=main, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_postgres_connections_racing_on_one_opportunity(postgres_store: Any) -> None:
    from pipeline_core.storage import PostgresStore

    postgres_store.opportunities.add(make_opportunity(1))
    url, schema = postgres_store.url, postgres_store.schema
    barrier = threading.Barrier(WORKERS)
    results = _run_threads(_race, lambda i: (lambda: PostgresStore(url, schema=schema), barrier, i))
    assert sorted(results) == ["conflict"] * (WORKERS - 1) + ["won"]
    assert postgres_store.opportunities.get("opp-1").version == 2


def test_postgres_connections_lose_no_update(postgres_store: Any) -> None:
    from pipeline_core.storage import PostgresStore

    postgres_store.opportunities.add(make_opportunity(1, custom={"n": 0}))
    url, schema = postgres_store.url, postgres_store.schema
    barrier = threading.Barrier(WORKERS)
    conflicts = _run_threads(
        _increment, lambda i: (lambda: PostgresStore(url, schema=schema), barrier)
    )
    assert all(isinstance(c, int) for c in conflicts), conflicts
    final = postgres_store.opportunities.get("opp-1")
    assert final.custom["n"] == WORKERS * INCREMENTS
    assert final.version == 1 + WORKERS * INCREMENTS


# --------------------------------------------------------------------------- killed imports

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pipeline_core.storage import open as open_store
    from pipeline_core.storage.io import import_records

    store = open_store(sys.argv[1], **({"schema": sys.argv[3]} if len(sys.argv) > 3 else {}))

    def progress(rows):
        if rows >= 2_000:  # the first batch is written inside the transaction by now
            os.kill(os.getpid(), signal.SIGKILL)

    import_records(store, "opportunity", sys.argv[2], batch_size=1_000, progress=progress)
    print("import finished: the kill did not happen")
    """
)


def _kill_mid_import(tmp_path: Path, url: str, *extra: str) -> None:
    sheet = tmp_path / "opps.csv"
    write_csv("opportunity", (make_opportunity(f"new-{i:05d}") for i in range(5_000)), sheet)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    proc = subprocess.run(
        [sys.executable, str(script), url, str(sheet), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert proc.returncode == -9, proc.stdout + proc.stderr


def test_sqlite_killed_import_leaves_the_store_as_before(tmp_path: Path) -> None:
    path = tmp_path / "kill.db"
    with SQLiteStore(path) as store:
        store.opportunities.bulk_add(make_opportunity(i) for i in range(5))
        before = list(store.opportunities.all())
    _kill_mid_import(tmp_path, f"sqlite:///{path}")
    with SQLiteStore(path) as store:
        assert list(store.opportunities.all()) == before
        store.opportunities.add(make_opportunity("after"))  # usable after recovery
        assert store.opportunities.count() == 6


def test_postgres_killed_import_leaves_the_store_as_before(
    tmp_path: Path, postgres_store: Any
) -> None:
    postgres_store.opportunities.bulk_add(make_opportunity(i) for i in range(5))
    before = list(postgres_store.opportunities.all())
    _kill_mid_import(tmp_path, postgres_store.url, postgres_store.schema)
    assert list(postgres_store.opportunities.all()) == before


@pytest.mark.parametrize("text", ["'; DROP TABLE opportunities; --", "x') OR ('1'='1"])
def test_injection_attempts_in_query_arguments_match_nothing(sqlite_store: Any, text: str) -> None:
    sqlite_store.opportunities.add(make_opportunity(1, tags=frozenset({"vip"})))
    assert list(sqlite_store.opportunities.by_tag(text)) == []
    assert list(sqlite_store.opportunities.by_owner(text)) == []
    assert sqlite_store.opportunities.find(text) is None
    assert sqlite_store.opportunities.count() == 1
