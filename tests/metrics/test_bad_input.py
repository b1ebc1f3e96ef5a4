"""Bad input gives a clear typed error naming the field and value, on records and on frames."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from metrics_support import ORDER, T0, generate, polars_frames

from pipeline_core import metrics as m
from pipeline_core.errors import ConfigError, ValidationError
from pipeline_core.records import Money, StageEvent

OPPS, EVENTS = generate(seed=3, n=30)
PERIOD = {"start": T0, "end": T0 + timedelta(days=60)}


def frames() -> tuple[Any, Any]:
    return polars_frames(OPPS, EVENTS)


def codes(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {p.code for p in exc.value.problems}


@pytest.mark.parametrize("path", ["records", "polars", "duckdb"])
def test_unknown_stage_is_named(path: str) -> None:
    bad = [
        *EVENTS,
        StageEvent(
            id="x", opportunity_id=OPPS[0].id, to_stage="mystery", at=OPPS[0].created_at, by="u"
        ),
    ]
    opps: Any = OPPS
    evs: Any = bad
    if path != "records":
        opps, evs = polars_frames(OPPS, bad)
        if path == "duckdb":
            import duckdb

            opps, evs = duckdb.from_arrow(opps.to_arrow()), duckdb.from_arrow(evs.to_arrow())
    with pytest.raises(ValidationError) as exc:
        m.cohort_funnel(opps, evs, stages=ORDER, **PERIOD)
    assert codes(exc) == {"unknown_stage"}
    assert exc.value.problems[0].value == "mystery"
    assert "mystery" in str(exc.value)
    with pytest.raises(ValidationError, match="mystery"):
        m.time_in_stage(evs, stages=ORDER)
    # at its creation instant the "mystery" event (id "x" > "o0000-0") is the last one
    with pytest.raises(ValidationError, match="mystery"):
        m.snapshot(opps, evs, stages=ORDER, as_of=OPPS[0].created_at)


@pytest.mark.parametrize("path", ["records", "polars"])
def test_events_out_of_order(path: str) -> None:
    a = OPPS[0]
    evs = [
        StageEvent(id="1", opportunity_id=a.id, to_stage="new", at=a.created_at, by="u"),
        StageEvent(
            id="2",
            opportunity_id=a.id,
            from_stage="proposal",
            to_stage="negotiation",
            at=a.created_at + timedelta(days=1),
            by="u",
        ),
    ]
    arg: Any = evs if path == "records" else polars_frames([a], evs)[1]
    with pytest.raises(ValidationError) as exc:
        m.time_in_stage(arg, stages=ORDER)
    assert codes(exc) == {"out_of_order"}
    assert "1 stage events do not chain" in str(exc.value)


def test_missing_timestamps_in_frames() -> None:
    import polars as pl

    o, e = frames()
    e_bad = e.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("at")).alias("at")
    )
    for call in (
        lambda: m.cohort_funnel(o, e_bad, stages=ORDER, start=T0, end=T0 + timedelta(days=400)),
        lambda: m.time_in_stage(e_bad, stages=ORDER),
        lambda: m.snapshot(o, e_bad, stages=ORDER, as_of=T0),
    ):
        with pytest.raises(ValidationError) as exc:
            call()
        assert codes(exc) == {"missing"}
    o_bad = o.with_columns(pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("created_at"))
    with pytest.raises(ValidationError, match="created_at"):
        m.cohort_funnel(o_bad, e, stages=ORDER, **PERIOD)
    closed_bad = o.with_columns(pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("closed_at"))
    with pytest.raises(ValidationError, match="closed_at"):
        m.sales_cycle(closed_bad, stages=ORDER, as_of=T0 + timedelta(days=90))
    with pytest.raises(ValidationError) as exc2:
        m.win_rate(closed_bad, stages=ORDER, **PERIOD)
    assert codes(exc2) == {"inconsistent_close"}


@pytest.mark.parametrize("path", ["records", "polars", "pandas"])
def test_mixed_currencies_are_never_summed(path: str) -> None:
    opps = [OPPS[0].evolve(expected_amount=Money.of(5, "USD")), *OPPS[1:]]
    o: Any = opps
    e: Any = EVENTS
    if path != "records":
        o, e = polars_frames(opps, EVENTS)
        if path == "pandas":
            o, e = o.to_pandas(), e.to_pandas()
    with pytest.raises(ValidationError) as exc:
        m.cohort_funnel(o, e, stages=ORDER, start=T0, end=T0 + timedelta(days=400))
    assert codes(exc) == {"mixed_currency"}
    assert exc.value.problems[0].value == ["CNY", "USD"]
    # counts do not need money: value=False works
    f = m.cohort_funnel(o, e, stages=ORDER, start=T0, end=T0 + timedelta(days=400), value=False)
    assert "value" not in f.columns


def test_naive_and_wrong_typed_timestamp_columns_and_missing_columns() -> None:
    import polars as pl

    _o, e = frames()
    naive = e.with_columns(pl.col("at").dt.replace_time_zone(None))
    with pytest.raises(ValidationError) as exc:
        m.time_in_stage(naive, stages=ORDER)
    assert codes(exc) == {"timezone_aware"}
    as_text = e.with_columns(pl.col("at").cast(pl.String))
    with pytest.raises(ValidationError) as exc:
        m.time_in_stage(as_text, stages=ORDER)
    assert codes(exc) == {"datetime_type"}
    with pytest.raises(ValidationError) as exc:
        m.time_in_stage(e.drop("id", "from_stage"), stages=ORDER)
    assert codes(exc) == {"missing_column"}
    assert {p.field for p in exc.value.problems} == {"stage events.id", "stage events.from_stage"}
    # integer epoch seconds are accepted and mean the same instants
    as_int = e.with_columns(pl.col("at").dt.epoch("s"))
    assert m.time_in_stage(as_int, stages=ORDER).rows == m.time_in_stage(e, stages=ORDER).rows


def test_naive_datetimes_as_arguments() -> None:
    with pytest.raises(ValidationError) as exc:
        m.cohort_funnel(OPPS, EVENTS, stages=ORDER, start=datetime(2025, 1, 1), end=T0)
    assert codes(exc) == {"timezone_aware"}
    with pytest.raises(ValidationError) as exc:
        m.cohort_funnel(OPPS, EVENTS, stages=ORDER, start=T0, end=T0)
    assert codes(exc) == {"empty_period"}


def test_bad_stage_order_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as exc:
        m.stage_order(["a", "b", "a"], lost="b")
    fields = exc.value.fields
    assert "won" in fields and "open[2]" in fields and "lost[0]" in fields


def test_not_records_nor_a_frame() -> None:
    with pytest.raises(ValidationError) as exc:
        m.cohort_funnel([{"id": 1}], EVENTS, stages=ORDER, **PERIOD)
    assert codes(exc) == {"input_type"}
    from pipeline_core.metrics._frames import prepare

    class NotAFrame:
        pass

    with pytest.raises(ValidationError) as exc2:
        prepare(NotAFrame(), what="x", required=())
    assert codes(exc2) == {"input_type"}


def test_dask_is_refused() -> None:
    dd = pytest.importorskip(
        "dask.dataframe"
    )  # not installed here: Dask's refusal is in _frames.prepare
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame({"id": ["a"], "at": [1]}), npartitions=1)
    with pytest.raises(ValidationError) as exc:
        m.time_in_stage(frame, stages=ORDER)
    assert codes(exc) == {"unsupported_backend"}


def test_rotting_limits_are_checked() -> None:
    with pytest.raises(ValidationError) as exc:
        m.rotting(
            OPPS,
            EVENTS,
            stages=ORDER,
            as_of=T0,
            limits={"won": timedelta(days=1), "new": timedelta(0)},
        )
    assert codes(exc) == {"unknown_stage", "positive"}


def test_import_loads_no_dataframe_library() -> None:
    code = (
        "import sys, pipeline_core.metrics as m\n"
        "heavy = {'pandas', 'polars', 'numpy', 'narwhals', 'pyarrow', 'duckdb', 'pyspark', 'matplotlib'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_aware_non_utc_timestamps_are_the_same_instants() -> None:
    from zoneinfo import ZoneInfo

    sh = ZoneInfo("Asia/Shanghai")
    moved = [e.evolve(at=e.at.astimezone(sh)) for e in EVENTS]
    assert m.time_in_stage(moved, stages=ORDER).rows == m.time_in_stage(EVENTS, stages=ORDER).rows
    assert T0.tzinfo is UTC
