"""Metrics benchmark: cohort funnel + time in stage + win rate by owner on 1,000,000 opportunities
with ~10,000,000 stage events (scale 1.0).

Ours (``pipeline_core.metrics`` through narwhals) on polars and on DuckDB, against a hand-written
polars query and hand-written DuckDB SQL computing the same numbers (checked equal before timing),
and against a straightforward pandas implementation. Peak memory: Python allocations of one run
(tracemalloc) and the process's peak RSS (engines allocate outside Python).

The data are generated here, vectorised (numpy + polars): the record-level sample generator
(``pipeline_core.samples``) streams records at roughly 20,000 opportunities per second and yields
about 3 events per opportunity, so 10M events would take minutes just to produce. The shape is the
same flat layout: each opportunity walks the open stages (forward 75 %, back 25 %, so stages are
revisited), then about a third win, a third lose and a third stay open.
"""

from __future__ import annotations

import math
import resource
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks._harness import Row, median_time, peak_memory

OPEN = ("new", "qualified", "proposal", "negotiation", "contract")
WON, LOST = "won", "lost"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
PERIOD = (T0, T0 + timedelta(days=180))
HORIZON = timedelta(days=90)
WIN_PERIOD = (T0 + timedelta(days=90), T0 + timedelta(days=270))


def make_data(n_opps: int, seed: int = 7) -> tuple[Any, Any]:
    """(opportunities, stage events) as polars DataFrames in the flat layout."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 19, size=n_opps)  # mean 10 events per opportunity
    n_ev = int(lengths.sum())
    opp_idx = np.repeat(np.arange(n_opps), lengths)
    starts = np.cumsum(lengths) - lengths
    step = np.arange(n_ev) - np.repeat(starts, lengths)
    created = rng.integers(0, 365 * 86_400, size=n_opps)
    delta = np.where(rng.random(n_ev) < 0.75, 1, -1)
    delta[step == 0] = 0
    # clipped walk over the open stages, sequential per opportunity (from = previous to)
    df = pl.DataFrame({"o": opp_idx, "step": step, "delta": delta})
    walk = df.with_columns(pl.col("delta").cum_sum().over("o").alias("w"))["w"].to_numpy()
    rank = np.clip(walk, 0, len(OPEN) - 1)
    gaps = rng.exponential(2 * 86_400, size=n_ev).astype(np.int64) + 60
    gaps[step == 0] = 0
    at = (
        np.repeat(created, lengths)
        + pl.Series(gaps).cum_sum().to_numpy()
        - np.repeat(pl.Series(gaps).cum_sum().to_numpy()[starts], lengths)
    )
    code = rank.astype(np.int64)
    fate = rng.random(n_opps)
    last = starts + lengths - 1
    code[last[fate < 0.33]] = len(OPEN)
    code[last[(fate >= 0.33) & (fate < 0.66)]] = len(OPEN) + 1
    names = pl.Series([*OPEN, WON, LOST])
    to_stage = names.gather(code)
    first = np.zeros(n_ev, dtype=bool)
    first[starts] = True
    from_stage = pl.select(
        pl.when(pl.Series(first)).then(None).otherwise(to_stage.shift(1))
    ).to_series()
    ids = np.char.add("o", np.arange(n_opps).astype(str))
    t0 = int(T0.timestamp())
    events = pl.DataFrame(
        {
            "id": pl.Series(np.arange(n_ev)).cast(pl.String),
            "opportunity_id": ids[opp_idx],
            "from_stage": from_stage,
            "to_stage": to_stage,
            "at": pl.Series((at + t0) * 1_000_000).cast(pl.Datetime("us", "UTC")),
            "by": pl.Series(rng.integers(0, 200, size=n_ev)).cast(pl.String),
        }
    )
    final = to_stage.gather(last)
    closed = code[last] >= len(OPEN)
    closed_at = np.where(closed, at[last] + t0, 0) * 1_000_000
    opps = pl.DataFrame(
        {
            "id": ids,
            "created_at": pl.Series((created + t0) * 1_000_000).cast(pl.Datetime("us", "UTC")),
            "owner_id": np.char.add("u", rng.integers(0, 200, size=n_opps).astype(str)),
            "team_id": np.char.add("t", rng.integers(0, 12, size=n_opps).astype(str)),
            "source": np.array(["website", "referral", "event", "advertising"])[
                rng.integers(0, 4, size=n_opps)
            ],
            "stage": final,
            "expected_amount": rng.integers(1_000, 500_000, size=n_opps).astype(np.float64),
            "currency": ["CNY"] * n_opps,
            "closed_at": pl.Series(closed_at).cast(pl.Datetime("us", "UTC")),
        }
    ).with_columns(
        pl.when(pl.Series(closed)).then(pl.col("closed_at")).otherwise(None).alias("closed_at")
    )
    return opps, events


# --------------------------------------------------------------------------- ours


def ours(opps: Any, events: Any) -> dict[str, Any]:
    from pipeline_core import metrics as m

    order = m.stage_order(OPEN, won=WON, lost=LOST)
    f = m.cohort_funnel(
        opps, events, stages=order, start=PERIOD[0], end=PERIOD[1], horizon=HORIZON, value=False
    )
    t = m.time_in_stage(events, stages=order)
    w = m.win_rate(
        opps, stages=order, start=WIN_PERIOD[0], end=WIN_PERIOD[1], by=("owner_id",), value=False
    )
    return {
        "funnel": [r["reached"] for r in f.records()],
        "tis": {r["stage"]: (r["n"], r["median_days"], r["p90_days"]) for r in t.records()},
        "win": {r["owner_id"]: (r["won"], r["lost"]) for r in w.records()},
    }


# --------------------------------------------------------------------------- hand-written polars


def hand_polars(opps: Any, events: Any) -> dict[str, Any]:
    import polars as pl

    ranks = {s: i for i, s in enumerate(OPEN)} | {WON: len(OPEN), LOST: -1}
    cohort = (
        opps.lazy()
        .filter(pl.col("created_at").is_between(*PERIOD, closed="left"))
        .select("id", "created_at")
    )
    furthest = (
        events.lazy()
        .join(cohort, left_on="opportunity_id", right_on="id")
        .filter(pl.col("at") <= pl.col("created_at") + HORIZON)
        .group_by("opportunity_id")
        .agg(pl.col("to_stage").replace_strict(ranks, return_dtype=pl.Int32).max().alias("f"))
    )
    funnel = (
        cohort.join(furthest, left_on="id", right_on="opportunity_id", how="left")
        .select(pl.col("f").fill_null(0).clip(lower_bound=0))
        .select([(pl.col("f") >= k).sum().alias(str(k)) for k in range(len(OPEN) + 1)])
        .collect()
        .row(0)
    )
    tis = (
        events.lazy()
        .with_columns(nxt=pl.col("at").shift(-1).over("opportunity_id", order_by=["at", "id"]))
        .with_columns(d=(pl.col("nxt") - pl.col("at")).dt.total_seconds())
        .filter(pl.col("to_stage").is_in(OPEN))
        .group_by("to_stage")
        .agg(
            pl.col("d").count().alias("n"),
            (pl.col("d").median() / 86_400).alias("med"),
            (pl.col("d").quantile(0.9, "linear") / 86_400).alias("p90"),
        )
        .collect()
    )
    win = (
        opps.lazy()
        .filter(
            pl.col("closed_at").is_between(*WIN_PERIOD, closed="left")
            & pl.col("stage").is_in([WON, LOST])
        )
        .group_by("owner_id")
        .agg(
            (pl.col("stage") == WON).sum().alias("won"),
            (pl.col("stage") == LOST).sum().alias("lost"),
        )
        .collect()
    )
    return {
        "funnel": list(funnel),
        "tis": {r[0]: (r[1], r[2], r[3]) for r in tis.iter_rows()},
        "win": {r[0]: (r[1], r[2]) for r in win.iter_rows()},
    }


# --------------------------------------------------------------------------- hand-written DuckDB SQL


def hand_duckdb(con: Any) -> dict[str, Any]:
    ranks = (
        " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(OPEN))
        + f" WHEN '{WON}' THEN {len(OPEN)} WHEN '{LOST}' THEN -1"
    )
    h = int(HORIZON.total_seconds())
    sums = ", ".join(f"sum(CASE WHEN f >= {k} THEN 1 ELSE 0 END)" for k in range(len(OPEN) + 1))
    funnel = con.execute(
        f"""
        WITH cohort AS (SELECT id, created_at FROM opps WHERE created_at >= $1 AND created_at < $2),
        fr AS (
            SELECT e.opportunity_id, max(CASE e.to_stage {ranks} END) AS f
            FROM events e JOIN cohort c ON e.opportunity_id = c.id
            WHERE e."at" <= c.created_at + to_seconds({h})
            GROUP BY e.opportunity_id)
        SELECT {sums} FROM (SELECT greatest(coalesce(fr.f, 0), 0) AS f FROM cohort LEFT JOIN fr ON fr.opportunity_id = cohort.id)
        """,
        [PERIOD[0], PERIOD[1]],
    ).fetchone()
    open_list = ", ".join(f"'{s}'" for s in OPEN)
    tis = con.execute(
        f"""
        SELECT to_stage, count(d), median(d) / 86400, quantile_cont(d, 0.9) / 86400 FROM (
            SELECT to_stage, epoch(lead("at") OVER (PARTITION BY opportunity_id ORDER BY "at", id)) - epoch("at") AS d
            FROM events)
        WHERE to_stage IN ({open_list}) GROUP BY to_stage
        """
    ).fetchall()
    win = con.execute(
        f"""
        SELECT owner_id, sum(CASE WHEN stage = '{WON}' THEN 1 ELSE 0 END), sum(CASE WHEN stage = '{LOST}' THEN 1 ELSE 0 END)
        FROM opps WHERE closed_at >= $1 AND closed_at < $2 AND stage IN ('{WON}', '{LOST}') GROUP BY owner_id
        """,
        [WIN_PERIOD[0], WIN_PERIOD[1]],
    ).fetchall()
    return {
        "funnel": list(funnel or ()),
        "tis": {r[0]: (r[1], r[2], r[3]) for r in tis},
        "win": {r[0]: (r[1], r[2]) for r in win},
    }


# --------------------------------------------------------------------------- straightforward pandas


def hand_pandas(opps: Any, events: Any) -> dict[str, Any]:
    import pandas as pd

    ranks = {s: i for i, s in enumerate(OPEN)} | {WON: len(OPEN), LOST: -1}
    cohort = opps[(opps["created_at"] >= PERIOD[0]) & (opps["created_at"] < PERIOD[1])][
        ["id", "created_at"]
    ]
    j = events.merge(cohort, left_on="opportunity_id", right_on="id", suffixes=("", "_o"))
    j = j[j["at"] <= j["created_at"] + pd.Timedelta(HORIZON)]
    j = j.assign(r=j["to_stage"].map(ranks))
    furthest = j.groupby("opportunity_id")["r"].max()
    f = cohort["id"].map(furthest).fillna(0).clip(lower=0)
    funnel = [int((f >= k).sum()) for k in range(len(OPEN) + 1)]
    ev = events.sort_values(["opportunity_id", "at", "id"])
    nxt = ev.groupby("opportunity_id")["at"].shift(-1)
    ev = ev.assign(d=(nxt - ev["at"]).dt.total_seconds())
    ev = ev[ev["to_stage"].isin(OPEN)]
    g = ev.groupby("to_stage")["d"]
    tis = {
        s: (int(g.count()[s]), g.median()[s] / 86_400, g.quantile(0.9)[s] / 86_400)
        for s in g.count().index
    }
    closed = opps[
        (opps["closed_at"] >= WIN_PERIOD[0])
        & (opps["closed_at"] < WIN_PERIOD[1])
        & opps["stage"].isin([WON, LOST])
    ]
    won = (
        closed.assign(won=closed["stage"] == WON, lost=closed["stage"] == LOST)
        .groupby("owner_id")[["won", "lost"]]
        .sum()
    )
    return {
        "funnel": funnel,
        "tis": tis,
        "win": {k: (int(r["won"]), int(r["lost"])) for k, r in won.iterrows()},
    }


def _same(a: dict[str, Any], b: dict[str, Any], name: str) -> None:
    assert [int(x) for x in a["funnel"]] == [int(x) for x in b["funnel"]], (
        name,
        a["funnel"],
        b["funnel"],
    )
    assert set(a["tis"]) == set(b["tis"]), name
    for k, (n, med, p90) in a["tis"].items():
        n2, med2, p902 = b["tis"][k]
        assert int(n) == int(n2), (name, k)
        assert math.isclose(med, med2, rel_tol=1e-9), (name, k)
        assert math.isclose(p90, p902, rel_tol=1e-9), (name, k)
    assert {k: (int(x), int(y)) for k, (x, y) in a["win"].items()} == {
        k: (int(x), int(y)) for k, (x, y) in b["win"].items()
    }, name


def run(scale: float) -> list[Row]:
    import duckdb

    n = max(1_000, int(1_000_000 * scale))
    opps, events = make_data(n)
    n_events = events.height
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    arrow_opps, arrow_events = opps.to_arrow(), events.to_arrow()
    con.register("opps", arrow_opps)
    con.register("events", arrow_events)
    pd_opps, pd_events = opps.to_pandas(), events.to_pandas()

    def ours_polars() -> dict[str, Any]:
        return ours(opps, events)

    def ours_duckdb() -> dict[str, Any]:
        return ours(con.table("opps"), con.table("events"))

    reference = ours_polars()
    for name, fn in (
        ("ours on DuckDB", ours_duckdb),
        ("hand-written polars", lambda: hand_polars(opps, events)),
        ("hand-written DuckDB SQL", lambda: hand_duckdb(con)),
        ("pandas", lambda: hand_pandas(pd_opps, pd_events)),
    ):
        _same(fn(), reference, name)

    repeat = 3 if scale >= 0.5 else 5
    t_ours_pl = median_time(ours_polars, repeat=repeat)
    t_hand_pl = median_time(lambda: hand_polars(opps, events), repeat=repeat)
    t_ours_db = median_time(ours_duckdb, repeat=repeat)
    t_hand_db = median_time(lambda: hand_duckdb(con), repeat=repeat)
    t_pandas = median_time(
        lambda: hand_pandas(pd_opps, pd_events), repeat=max(1, repeat // 2), warmup=0
    )
    _, py_peak_pl = peak_memory(ours_polars)
    _, py_peak_db = peak_memory(ours_duckdb)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = f"{n:,} opps, {n_events:,} events"
    return [
        Row(
            "metrics: funnel+time in stage+win rate, polars",
            t_ours_pl,
            t_hand_pl,
            "hand-written polars",
            size,
        ),
        Row(
            "metrics: funnel+time in stage+win rate, DuckDB",
            t_ours_db,
            t_hand_db,
            "hand-written DuckDB SQL",
            size,
        ),
        Row(
            "metrics: ours on polars vs straightforward pandas", t_ours_pl, t_pandas, "pandas", size
        ),
        Row(
            "metrics: peak Python memory, ours on polars",
            py_peak_pl / 2**20,
            None,
            "",
            "tracemalloc",
            "MB",
        ),
        Row(
            "metrics: peak Python memory, ours on DuckDB",
            py_peak_db / 2**20,
            None,
            "",
            "tracemalloc",
            "MB",
        ),
        Row("metrics: process peak RSS (all runs)", rss_mb, None, "", "ru_maxrss incl. data", "MB"),
    ]
