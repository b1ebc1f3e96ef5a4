"""Deterministic small sample data for the metrics tests (records, and frames built from them)."""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from pipeline_core.metrics.inputs import event_columns, opportunity_columns, stage_order
from pipeline_core.records import Money, Opportunity, StageEvent

OPEN = ("new", "qualified", "proposal", "negotiation")
WON = "won"
LOST = "lost"
ORDER = stage_order(OPEN, won=WON, lost=LOST)
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SOURCES = ("website", "referral", "event")
OWNERS = ("u1", "u2", "u3")


def generate(
    seed: int = 1, n: int = 120, *, days: int = 60
) -> tuple[list[Opportunity], list[StageEvent]]:
    """Opportunities created over ``days`` days that move forward, win, lose or stay open."""
    rnd = random.Random(seed)
    opps: list[Opportunity] = []
    events: list[StageEvent] = []
    as_of = T0 + timedelta(days=days + 30)
    for i in range(n):
        created = T0 + timedelta(seconds=rnd.randrange(days * 86_400))
        oid = f"o{i:04d}"
        owner = rnd.choice(OWNERS)
        at = created
        stage = OPEN[0]
        evs = [StageEvent(id=f"{oid}-0", opportunity_id=oid, to_stage=stage, at=at, by=owner)]
        closed_at = None
        for step in range(1, 6):
            at = at + timedelta(seconds=rnd.randrange(3_600, 12 * 86_400))
            if at > as_of:
                break
            r = rnd.random()
            if r < 0.15:
                nxt = LOST
            elif r < 0.25:
                break
            else:
                idx = OPEN.index(stage) + 1
                nxt = OPEN[idx] if idx < len(OPEN) else WON
            evs.append(
                StageEvent(
                    id=f"{oid}-{step}",
                    opportunity_id=oid,
                    from_stage=stage,
                    to_stage=nxt,
                    at=at,
                    by=owner,
                )
            )
            stage = nxt
            if nxt in (WON, LOST):
                closed_at = at
                break
        amount = Money.of(Decimal(rnd.randrange(1_000, 90_000)), "CNY")
        opps.append(
            Opportunity(
                id=oid,
                name=f"deal {i}",
                created_at=created,
                owner_id=owner,
                stage=stage,
                stage_entered_at=evs[-1].at,
                source=rnd.choice(SOURCES),
                team_id="t1",
                expected_amount=amount,
                closed_at=closed_at,
                tags=frozenset(t for t in ("vip", "smb", "urgent") if rnd.random() < 0.35),
            )
        )
        events.extend(evs)
    rnd.shuffle(events)
    return opps, events


def polars_frames(opps: list[Opportunity], events: list[StageEvent]) -> tuple[Any, Any]:
    """The records as polars frames in the flat layout (explicit schema, so empty inputs work)."""
    import polars as pl

    ts = pl.Datetime("us", "UTC")
    oc = opportunity_columns(opps)
    oc["expected_amount"] = [None if a is None else float(a) for a in oc["expected_amount"]]
    o = pl.DataFrame(
        oc,
        schema={
            "id": pl.String,
            "created_at": ts,
            "owner_id": pl.String,
            "team_id": pl.String,
            "source": pl.String,
            "stage": pl.String,
            "expected_amount": pl.Float64,
            "currency": pl.String,
            "closed_at": ts,
            "lost_reason": pl.String,
            "lead_id": pl.String,
            "merged_into": pl.String,
            "tags": pl.List(pl.String),
        },
    )
    e = pl.DataFrame(
        event_columns(events),
        schema={
            "id": pl.String,
            "opportunity_id": pl.String,
            "from_stage": pl.String,
            "to_stage": pl.String,
            "at": ts,
            "seq": pl.Int64,
            "by": pl.String,
        },
    )
    return o, e


def outcome(fn: Any) -> tuple[Any, ...]:
    """("ok", result) or ("error", sorted problem codes): both paths must agree on either."""
    from pipeline_core.errors import ValidationError

    try:
        return ("ok", fn())
    except ValidationError as exc:
        return ("error", tuple(sorted({p.code for p in exc.problems})))


def assert_same(got: Any, want: Any, name: str = "") -> None:
    """Same columns and rows; counts equal, floats to a relative 1e-9."""
    import math

    assert got.columns == want.columns, name
    assert len(got.rows) == len(want.rows), (name, got.rows, want.rows)
    for g_row, w_row in zip(got.rows, want.rows, strict=True):
        for col, g, w in zip(got.columns, g_row, w_row, strict=True):
            if isinstance(w, float) and isinstance(g, float | int):
                assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9), (name, col, g, w)
            else:
                assert g == w, (name, col, g, w)
                assert type(g) is type(w), (name, col, g, w)


def _to_spark(spark: Any, frame: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return spark.createDataFrame(frame.to_pandas())


def _to_pandas(frame: Any) -> Any:
    """numpy-backed pandas; a list column (tags) becomes a pyarrow list dtype, which pandas can
    explode (an object column of arrays cannot be)."""
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    out = frame.to_pandas()
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List):
            arrow_type = pa.list_(pa.string())
            out[name] = pd.Series(
                pa.array(frame[name].to_list(), type=arrow_type), dtype=pd.ArrowDtype(arrow_type)
            )
    return out


def converters(request: pytest.FixtureRequest, backend: str) -> Callable[[Any], Any]:
    """A function turning a polars DataFrame into the backend's native frame."""
    if backend == "polars":
        return lambda f: f
    if backend == "polars_lazy":
        return lambda f: f.lazy()
    if backend == "pandas":
        return _to_pandas
    if backend == "pyarrow":
        return lambda f: f.to_arrow()
    if backend == "duckdb":
        import duckdb

        con = duckdb.connect()
        return lambda f: con.from_arrow(f.to_arrow())
    if backend == "spark":
        session = request.getfixturevalue("spark")
        return lambda f: _to_spark(session, f)
    raise AssertionError(backend)
