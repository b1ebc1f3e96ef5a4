"""Storage benchmarks: bulk loads into SQLite and PostgreSQL, and the open-by-due-time query.

At scale 1.0: 100,000 opportunities and 1,000,000 stage events, streamed (never all in memory).

- **Bulk load**: ours = ``store.opportunities.bulk_add(records)`` /
  ``store.stage_events.bulk_append(records)`` into a fresh store. Baseline = a hand-written loader
  of the *same rows* into the same schema: for each record, a tuple of its columns and its JSON
  document (the same pydantic ``dump_json``), then raw ``executemany`` in batches of 10,000 in one
  transaction (SQLite) or one raw ``COPY`` (PostgreSQL). The ratio is what the port costs on top.
- **Scoped scan**: a rep's scan of every stage event through
  :class:`~pipeline_core.access.ScopedStore` (``scoped.stage_events.all()``: the rep sees the
  events of their own opportunities, 1 in 97) against the same scan unscoped
  (``store.stage_events.all()``). Target: ratio <= 2 (issue 17).
- **Query**: every open opportunity with ``next_step.due_at <= t`` in due order, as records.
  Ours = ``store.opportunities.due_by(t)`` (keyset pages of 2,000); baseline = one raw
  ``SELECT doc ... ORDER BY due_at, id`` + ``fetchall`` + the same JSON validation per row.

PostgreSQL rows need ``PIPELINE_CORE_TEST_POSTGRES_URL`` (or ``PIPELINE_CORE_BENCH_POSTGRES_URL``);
without it they are reported as not run.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic

from benchmarks._harness import Row, median_time, peak_memory
from pipeline_core._model import FrozenDict
from pipeline_core.records import Money, NextStep, Opportunity, Role, StageEvent, User
from pipeline_core.storage import SQLiteStore

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OPP = pydantic.TypeAdapter(Opportunity)
_EVENT = pydantic.TypeAdapter(StageEvent)
_STAGES = ("new", "qualified", "proposal", "negotiation", "won", "lost")
_EMPTY: FrozenDict = FrozenDict()


def _opportunities(n: int) -> Iterator[Opportunity]:
    for i in range(n):
        created = T0 + timedelta(minutes=7 * i)
        closed = created + timedelta(days=20) if i % 5 < 2 else None
        stage = ("won" if i % 2 else "lost") if closed else _STAGES[i % 4]
        step = (
            None
            if closed or i % 3 == 0
            else NextStep._trusted(
                {"action": "follow up call", "due_at": created + timedelta(hours=1 + i % 500)}
            )
        )
        yield Opportunity._trusted(
            {
                "id": f"opp-{i:07d}",
                "name": f"北京某某科技有限公司 {i}",
                "created_at": created,
                "owner_id": f"user-{i % 97}",
                "stage": stage,
                "stage_entered_at": created,
                "team_id": f"team-{i % 9}",
                "source": "website",
                "expected_amount": Money._trusted(
                    {"amount": Decimal(10_000 + i % 90_000), "currency": "CNY"}
                ),
                "next_step": step,
                "closed_at": closed,
                "tags": frozenset({"vip"}) if i % 10 == 0 else frozenset(),
                "custom": _EMPTY,
                "version": 1,
            }
        )


def _events(n: int, n_opps: int) -> Iterator[StageEvent]:
    for i in range(n):
        k = i % 6
        yield StageEvent._trusted(
            {
                "id": f"ev-{i:08d}",
                "opportunity_id": f"opp-{i % n_opps:07d}",
                "from_stage": None if k == 0 else _STAGES[k - 1],
                "to_stage": _STAGES[k],
                "at": T0 + timedelta(seconds=31 * i),
                "by": f"user-{i % 97}",
                "checks": (),
                "version": 1,
            }
        )


# --------------------------------------------------------------------------- hand-written rows


def _us(t: datetime | None) -> int | None:
    if t is None:
        return None
    d = t - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _opp_row(
    o: Opportunity, ts: Callable[[Any], Any], dec: Callable[[Any], Any]
) -> tuple[Any, ...]:
    m = o.expected_amount
    step = o.next_step
    return (
        o.id,
        o.version,
        o.name,
        ts(o.created_at),
        o.owner_id,
        o.team_id,
        o.stage,
        ts(o.stage_entered_at),
        o.pipeline,
        o.lead_id,
        o.account_id,
        o.source,
        None if m is None else dec(m.amount),
        None if m is None else m.currency,
        o.probability,
        None if step is None else ts(step.due_at),
        ts(o.closed_at),
        _OPP.dump_json(o).decode(),
    )


def _event_row(e: StageEvent, ts: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (
        e.id,
        e.version,
        e.opportunity_id,
        e.from_stage,
        e.to_stage,
        ts(e.at),
        e.by,
        e.pipeline,
        _EVENT.dump_json(e).decode(),
    )


def _same(t: Any) -> Any:
    return t


_OPP_COLS = (
    "id, version, name, created_at, owner_id, team_id, stage, stage_entered_at, pipeline, "
    "lead_id, account_id, source, expected_amount, currency, probability, due_at, closed_at, doc"
)
_EVENT_COLS = 'id, version, opportunity_id, from_stage, to_stage, at, "by", pipeline, doc'


# --------------------------------------------------------------------------- SQLite


def _sqlite_ours(path: Path, n_opps: int, n_events: int) -> None:
    with SQLiteStore(path) as store:
        store.opportunities.bulk_add(_opportunities(n_opps))
        store.stage_events.bulk_append(_events(n_events, n_opps))


def _sqlite_raw(path: Path, n_opps: int, n_events: int) -> None:
    SQLiteStore(path).close()  # the same schema
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    opp_sql = f"INSERT INTO opportunities ({_OPP_COLS}) VALUES ({', '.join('?' * 18)})"
    batch: list[tuple[Any, ...]] = []
    tags: list[tuple[str, str]] = []
    for o in _opportunities(n_opps):
        batch.append(_opp_row(o, _us, str))
        tags.extend((o.id, t) for t in o.tags)
        if len(batch) == 10_000:
            conn.executemany(opp_sql, batch)
            conn.executemany("INSERT INTO opportunities_tags (id, tag) VALUES (?, ?)", tags)
            batch, tags = [], []
    conn.executemany(opp_sql, batch)
    conn.executemany("INSERT INTO opportunities_tags (id, tag) VALUES (?, ?)", tags)
    ev_sql = f"INSERT INTO stage_events ({_EVENT_COLS}) VALUES ({', '.join('?' * 9)})"
    batch = []
    for e in _events(n_events, n_opps):
        batch.append(_event_row(e, _us))
        if len(batch) == 10_000:
            conn.executemany(ev_sql, batch)
            batch = []
    conn.executemany(ev_sql, batch)
    conn.execute("COMMIT")
    conn.close()


def _fresh_path(tmp: Path) -> Path:
    path = tmp / f"{uuid.uuid4().hex}.db"
    return path


def _cleanup(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            p.unlink()


def _query_rows(store: Any, t: datetime, raw: Callable[[], int]) -> tuple[float, float, int]:
    count = sum(1 for _ in store.opportunities.due_by(t))
    ours = median_time(lambda: sum(1 for _ in store.opportunities.due_by(t)), repeat=3)
    base = median_time(raw, repeat=3)
    return ours, base, count


def _sqlite_rows(tmp: Path, n_opps: int, n_events: int, repeat: int) -> list[Row]:
    def timed(loader: Callable[[Path, int, int], None]) -> float:
        def once() -> None:
            path = _fresh_path(tmp)
            try:
                loader(path, n_opps, n_events)
            finally:
                _cleanup(path)

        return median_time(once, repeat=repeat, warmup=0)

    ours = timed(_sqlite_ours)
    base = timed(_sqlite_raw)
    rows = [
        Row(
            f"SQLite bulk load {n_opps:,} opportunities + {n_events:,} stage events",
            ours,
            base,
            "raw executemany of the same rows",
            "one transaction, batches of 10,000",
        )
    ]
    path = _fresh_path(tmp)
    _sqlite_ours(path, n_opps, n_events)
    t = T0 + timedelta(minutes=7 * n_opps // 2)
    with SQLiteStore(path) as store:
        conn = store.connection

        def raw() -> int:
            docs = conn.execute(
                "SELECT doc FROM opportunities WHERE closed_at IS NULL AND due_at <= ? "
                "ORDER BY due_at, id",
                (_us(t),),
            ).fetchall()
            return len([_OPP.validate_json(d) for (d,) in docs])

        q_ours, q_base, count = _query_rows(store, t, raw)
        scoped_ours, scoped_base, seen = _scoped_scan(store, repeat)
        _, streamed = peak_memory(lambda: sum(1 for _ in store.stage_events.all()))
        _, listed = peak_memory(
            lambda: len(conn.execute("SELECT doc FROM stage_events ORDER BY id").fetchall())
        )
    _cleanup(path)
    rows.append(
        Row(
            f"SQLite stream all {n_events:,} stage events: peak Python memory",
            streamed / 1e6,
            listed / 1e6,
            "fetchall of the JSON docs alone",
            "records built page by page, 2,000 at a time",
            unit="MB",
        )
    )
    rows.append(
        Row(
            f"SQLite open opportunities due by t ({count:,} of {n_opps:,})",
            q_ours,
            q_base,
            "raw SELECT + fetchall",
            "streamed in keyset pages",
        )
    )
    rows.append(
        Row(
            f"SQLite a rep's scan of {n_events:,} stage events, scoped ({seen:,} visible)",
            scoped_ours,
            scoped_base,
            "the same scan unscoped",
            "ScopedStore(store, rep).stage_events.all(); target ratio <= 2",
        )
    )
    return rows


def _scoped_scan(store: Any, repeat: int) -> tuple[float, float, int]:
    """A rep's scan of every stage event through ScopedStore, and the same scan unscoped."""
    from pipeline_core.access import ScopedStore

    store.users.bulk_add(
        User(id=f"user-{i}", name=f"Rep {i}", role=Role.AE, team_id=f"team-{i % 9}")
        for i in range(97)
    )
    scoped = ScopedStore(store, "user-5")
    seen = sum(1 for _ in scoped.stage_events.all())
    ours = median_time(lambda: sum(1 for _ in scoped.stage_events.all()), repeat=repeat, warmup=0)
    base = median_time(lambda: sum(1 for _ in store.stage_events.all()), repeat=repeat, warmup=0)
    return ours, base, seen


# --------------------------------------------------------------------------- PostgreSQL


def _pg_url() -> str | None:
    # An empty variable counts as unset.
    return (
        os.environ.get("PIPELINE_CORE_BENCH_POSTGRES_URL")
        or os.environ.get("PIPELINE_CORE_TEST_POSTGRES_URL")
        or None
    )


def _pg_rows(url: str, n_opps: int, n_events: int, repeat: int) -> list[Row]:
    import psycopg

    from pipeline_core.storage import PostgresStore

    admin = psycopg.connect(url, autocommit=True)

    def fresh() -> str:
        schema = f"pc_bench_{uuid.uuid4().hex[:10]}"
        PostgresStore(url, schema=schema).close()
        return schema

    def drop(schema: str) -> None:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def ours(schema: str) -> None:
        with PostgresStore(url, schema=schema) as store:
            store.opportunities.bulk_add(_opportunities(n_opps))
            store.stage_events.bulk_append(_events(n_events, n_opps))

    def raw(schema: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"COPY opportunities ({_OPP_COLS}) FROM STDIN") as copy:
                    for o in _opportunities(n_opps):
                        copy.write_row(_opp_row(o, _same, _same))
                with cur.copy("COPY opportunities_tags (id, tag) FROM STDIN") as copy:
                    for o in _opportunities(n_opps):
                        for tag in o.tags:
                            copy.write_row((o.id, tag))
                with cur.copy(f"COPY stage_events ({_EVENT_COLS}) FROM STDIN") as copy:
                    for e in _events(n_events, n_opps):
                        copy.write_row(_event_row(e, _same))

    def timed(loader: Callable[[str], None]) -> float:
        schemas: list[str] = []

        def once() -> None:
            schemas.append(fresh())
            loader(schemas[-1])

        try:
            return median_time(once, repeat=repeat, warmup=0)
        finally:
            for s in schemas:
                drop(s)

    t_ours = timed(ours)
    t_base = timed(raw)
    rows = [
        Row(
            f"PostgreSQL bulk load {n_opps:,} opportunities + {n_events:,} stage events",
            t_ours,
            t_base,
            "raw COPY of the same rows",
            "COPY per batch of 10,000, one transaction",
        )
    ]
    schema = fresh()
    try:
        ours(schema)
        t = T0 + timedelta(minutes=7 * n_opps // 2)
        with PostgresStore(url, schema=schema) as store:
            conn = store.connection

            def raw_query() -> int:
                docs = conn.execute(
                    "SELECT doc::text FROM opportunities WHERE closed_at IS NULL AND due_at <= %s "
                    "ORDER BY due_at, id",
                    (t,),
                ).fetchall()
                return len([_OPP.validate_json(d) for (d,) in docs])

            q_ours, q_base, count = _query_rows(store, t, raw_query)
    finally:
        drop(schema)
        admin.close()
    rows.append(
        Row(
            f"PostgreSQL open opportunities due by t ({count:,} of {n_opps:,})",
            q_ours,
            q_base,
            "raw SELECT + fetchall",
            "streamed in keyset pages",
        )
    )
    return rows


def run(scale: float) -> list[Row]:
    """The storage rows of the benchmark table."""
    n_opps = max(1_000, int(100_000 * scale))
    n_events = max(10_000, int(1_000_000 * scale))
    repeat = 3 if scale < 0.5 else 2
    with tempfile.TemporaryDirectory() as tmp:
        rows = _sqlite_rows(Path(tmp), n_opps, n_events, repeat)
    url = _pg_url()
    if url is None:
        rows.append(
            Row(
                "PostgreSQL bulk load",
                None,
                note="not run: set PIPELINE_CORE_TEST_POSTGRES_URL",
            )
        )
    else:
        rows += _pg_rows(url, n_opps, n_events, repeat)
    return rows
