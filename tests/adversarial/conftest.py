"""The adversarial suite: hostile input against every boundary and every store adapter.

Each test feeds hostile values through one boundary and classifies every attempt with a
:class:`Tally`:

- **typed**: refused with a ``pipeline_core.errors`` error (what should happen to bad input);
- **untyped**: any other exception (a raw ``TypeError``, ``RecursionError``, driver error ...);
- **silent change**: accepted, but the value that comes back differs from what went in without a
  documented normaliser;
- **kept**: accepted and read back identical.

Every test asserts 0 untyped and 0 silent; the session prints the totals per boundary and adapter
at the end (``pytest tests/adversarial -q``), for release notes to quote.

PostgreSQL runs when ``PIPELINE_CORE_TEST_POSTGRES_URL`` is set (``PIPELINE_CORE_REQUIRE_POSTGRES=1``,
set by CI, turns a missing server into a failure), as in ``tests/storage``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline_core.errors import PipelineCoreError
from pipeline_core.storage import InMemoryStore, SQLiteStore
from pipeline_core.storage._base import TABLES

sys.path.insert(0, str(Path(__file__).parent))

POSTGRES_ENV = "PIPELINE_CORE_TEST_POSTGRES_URL"
REQUIRE_ENV = "PIPELINE_CORE_REQUIRE_POSTGRES"

_TOTALS: dict[str, dict[str, int]] = defaultdict(
    lambda: {"tried": 0, "typed": 0, "untyped": 0, "silent": 0, "kept": 0}
)


class Tally:
    """Counts for one boundary: tried, typed errors, untyped errors, silent changes, kept."""

    def __init__(self, boundary: str) -> None:
        self.boundary = boundary
        self.counts = _TOTALS[boundary]
        self.untyped: list[str] = []
        self.silent: list[str] = []

    def attempt(
        self,
        what: str,
        call: Callable[[], Any],
        check: Callable[[Any], str | None] | None = None,
        refused: Callable[[Any], bool] | None = None,
    ) -> Any:
        """Run ``call``; classify the outcome. ``check(result)`` returns a description of a
        silent change, or ``None`` when the value came back as it went in. Returns the result
        (``None`` when refused). ``refused(result)`` tells a returned refusal (the CLI's exit
        code 2 with a message) from an acceptance: it counts as a typed error."""
        self.counts["tried"] += 1
        try:
            result = call()
        except PipelineCoreError:
            self.counts["typed"] += 1
            return None
        except Exception as exc:
            self.counts["untyped"] += 1
            self.untyped.append(
                f"{what}: {type(exc).__module__}.{type(exc).__name__}: {exc!s:.160}"
            )
            return None
        problem = check(result) if check is not None else None
        if problem is None and refused is not None and refused(result):
            self.counts["typed"] += 1
        elif problem is not None:
            self.counts["silent"] += 1
            self.silent.append(f"{what}: {problem}")
        else:
            self.counts["kept"] += 1
        return result

    def assert_clean(self) -> None:
        """Fail listing every untyped error and silent change (if any)."""
        assert not self.untyped and not self.silent, (
            f"{self.boundary}: {len(self.untyped)} untyped errors, {len(self.silent)} silent "
            "changes:\n" + "\n".join(self.untyped[:30] + self.silent[:30])
        )


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Tally]]:
    """``tally(boundary)``: a :class:`Tally`; every one made is checked clean at the end."""
    made: list[Tally] = []

    def make(boundary: str) -> Tally:
        t = Tally(boundary)
        made.append(t)
        return t

    yield make
    for t in made:
        t.assert_clean()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the counts of every boundary tried in this session."""
    if not _TOTALS:
        return
    tr = terminalreporter
    tr.section("adversarial input: counts")
    tr.write_line(
        f"{'boundary':<44} {'tried':>7} {'typed':>7} {'untyped':>7} {'silent':>7} {'kept':>7}"
    )
    total = {"tried": 0, "typed": 0, "untyped": 0, "silent": 0, "kept": 0}
    for name in sorted(_TOTALS):
        c = _TOTALS[name]
        for k in total:
            total[k] += c[k]
        tr.write_line(
            f"{name:<44} {c['tried']:>7} {c['typed']:>7} {c['untyped']:>7} {c['silent']:>7} {c['kept']:>7}"
        )
    tr.write_line(
        f"{'all':<44} {total['tried']:>7} {total['typed']:>7} {total['untyped']:>7} "
        f"{total['silent']:>7} {total['kept']:>7}"
    )


# --------------------------------------------------------------------------- stores


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {POSTGRES_ENV} is not set")
        pytest.skip(f"PostgreSQL adversarial tests skipped: set {POSTGRES_ENV}")
    return url


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[tuple[str, str]]:
    """(url, schema): a schema of its own for this session, dropped at the end."""
    url = _postgres_url()
    try:
        import psycopg

        conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except Exception as exc:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable ({exc})")
    schema = f"pc_adv_{uuid.uuid4().hex[:12]}"
    try:
        yield url, schema
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh store of each adapter."""
    if request.param == "memory":
        s: Any = InMemoryStore()
    elif request.param == "sqlite":
        s = SQLiteStore(tmp_path / "adversarial.db")
    else:
        from pipeline_core.storage import PostgresStore

        url, schema = request.getfixturevalue("pg_schema")
        s = PostgresStore(url, schema=schema)
        import psycopg

        names = ", ".join(
            f'"{schema}".{t.name}' + (f', "{schema}".{t.name}_tags' if t.tags else "")
            for t in TABLES
        )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"TRUNCATE {names}")
    s.adapter_name = request.param
    try:
        yield s
    finally:
        s.close()
