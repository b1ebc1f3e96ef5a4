"""Forecasts, velocity, the A/B test, KPI alerts, response time and SLA attainment."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from statistics import NormalDist

import pytest
from metrics_support import ORDER, T0, assert_same, generate, polars_frames

from pipeline_core import metrics as m
from pipeline_core.errors import ConfigError, ValidationError
from pipeline_core.records import Activity, ActivityKind, Lead, Money, Opportunity, SlaOutcome

PROBS = {"new": 0.1, "qualified": 0.2, "proposal": 0.5, "negotiation": 0.8}


def opp(
    oid: str, stage: str, amount: int, *, closed: datetime | None = None, created: datetime = T0
) -> Opportunity:
    return Opportunity(
        id=oid,
        name=oid,
        created_at=created,
        owner_id="u1",
        stage=stage,
        stage_entered_at=created,
        expected_amount=Money.of(amount, "CNY"),
        closed_at=closed,
        source="web",
    )


def test_weighted_forecast_by_hand_and_on_frames() -> None:
    opps = [
        opp("a", "new", 1000),
        opp("b", "proposal", 2000),
        opp("c", "negotiation", 500),
        opp("d", "won", 9999, closed=T0),
    ]
    (row,) = m.weighted_forecast(opps, stages=ORDER, probabilities=PROBS).records()
    assert (row["open"], row["pipeline"]) == (3, 3500.0)
    assert row["weighted"] == pytest.approx(1000 * 0.1 + 2000 * 0.5 + 500 * 0.8)
    big, _ = generate(seed=5, n=80)
    o, _e = polars_frames(big, [])
    want = m.weighted_forecast(big, stages=ORDER, probabilities=PROBS, by=("owner_id",))
    assert_same(m.weighted_forecast(o, stages=ORDER, probabilities=PROBS, by=("owner_id",)), want)
    assert_same(
        m.weighted_forecast(o.to_pandas(), stages=ORDER, probabilities=PROBS, by=("owner_id",)),
        want,
    )


def test_probabilities_are_checked() -> None:
    with pytest.raises(ValidationError) as exc:
        m.stage_probabilities(ORDER, {"new": 1.5, "won": 1.0})
    assert {p.code for p in exc.value.problems} == {"probability", "unknown_stage", "missing"}
    with pytest.raises(ValidationError):
        m.stage_probabilities(ORDER)  # a plain stage list has no probabilities


def test_monte_carlo_forecast() -> None:
    opps = [opp(f"o{i}", "proposal", 1000 + 10 * i) for i in range(40)]
    a = m.monte_carlo_forecast(opps, stages=ORDER, probabilities=PROBS, runs=4000, seed=3)
    b = m.monte_carlo_forecast(opps, stages=ORDER, probabilities=PROBS, runs=4000, seed=3)
    assert a.rows == b.rows  # reproducible for a seed
    (row,) = a.records()
    expected = sum(1000 + 10 * i for i in range(40)) * 0.5
    sd = math.sqrt(sum((1000 + 10 * i) ** 2 * 0.25 for i in range(40)))
    assert abs(row["mean"] - expected) < 5 * sd / math.sqrt(4000)
    assert row["p10"] < row["p50"] < row["p90"]
    # the simulated total is a sum of 40 Bernoulli draws: P10/P90 near the normal quantiles
    assert row["p90"] - row["p10"] == pytest.approx(2 * 1.2816 * sd, rel=0.15)
    certain = m.monte_carlo_forecast(
        opps, stages=ORDER, probabilities=PROBS | {"proposal": 1.0}, runs=50
    )
    (c,) = certain.records()
    total = float(sum(1000 + 10 * i for i in range(40)))
    assert (c["p10"], c["p50"], c["p90"], c["mean"]) == (total, total, total, total)


def test_pipeline_velocity() -> None:
    jan, feb = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    opps = [
        opp("w1", "won", 1000, created=jan, closed=jan + timedelta(days=10)),
        opp("w2", "won", 3000, created=jan, closed=jan + timedelta(days=20)),
        opp("l1", "lost", 500, created=jan, closed=jan + timedelta(days=5)),
        opp("o1", "new", 100, created=jan),
        opp("o2", "proposal", 100, created=jan),
        opp("o3", "proposal", 100, created=feb),  # created after as_of: not open yet
    ]
    (row,) = m.pipeline_velocity(
        opps, stages=ORDER, start=jan, end=feb, as_of=jan + timedelta(days=25)
    ).records()
    assert (row["open"], row["avg_won_amount"], row["avg_cycle_days"]) == (2, 2000.0, 15.0)
    assert row["win_rate"] == pytest.approx(2 / 3)
    assert row["velocity_per_day"] == pytest.approx(2 * (2 / 3) * 2000 / 15)
    o, _ = polars_frames(opps, [])
    assert_same(
        m.pipeline_velocity(o, stages=ORDER, start=jan, end=feb, as_of=jan + timedelta(days=25)),
        m.pipeline_velocity(opps, stages=ORDER, start=jan, end=feb, as_of=jan + timedelta(days=25)),
    )


def test_two_proportion_test_against_the_formula() -> None:
    t = m.two_proportion_test(45, 100, 60, 100, control="script A", variant="script B")
    pooled = 105 / 200
    z = (0.60 - 0.45) / math.sqrt(pooled * (1 - pooled) * (2 / 100))
    assert t.z == pytest.approx(z)
    assert t.p_value == pytest.approx(2 * (1 - NormalDist().cdf(z)))
    half = 1.959963985 * math.sqrt(0.45 * 0.55 / 100 + 0.6 * 0.4 / 100)
    assert (t.ci_low, t.ci_high) == (pytest.approx(0.15 - half), pytest.approx(0.15 + half))
    assert not t.too_small
    assert t.verdict.startswith("script B converts better")
    same = m.two_proportion_test(50, 100, 52, 100)
    assert same.verdict.startswith("No clear difference")
    small = m.two_proportion_test(1, 10, 3, 10)
    assert small.too_small and small.verdict.startswith("Sample too small")
    with pytest.raises(ValidationError):
        m.two_proportion_test(5, 4, 1, 10)


def test_ab_test_table_and_from_funnel() -> None:
    table = m.ab_test({"A": (45, 100), "B": (60, 100), "C": (3, 10)})
    rows = {r["variant"]: r for r in table.records()}
    assert rows["A"]["verdict"] == "control"
    assert rows["B"]["difference"] == pytest.approx(0.15)
    assert rows["C"]["verdict"].startswith("Sample too small")
    opps, events = generate(seed=2, n=200)
    funnel = m.cohort_funnel(
        opps, events, stages=ORDER, start=T0, end=T0 + timedelta(days=60), by=("source",)
    )
    ab = m.ab_test_from_funnel(funnel, step="qualified", control="website")
    by_variant = {r["variant"]: r for r in ab.records()}
    for r in funnel.records():
        if r["stage"] == "qualified":
            assert by_variant[r["source"]]["n"] == r["cohort"]
            assert by_variant[r["source"]]["converted"] == r["reached"]


def test_kpi_thresholds_default_to_the_domain_table() -> None:
    alerts = m.check_kpis(
        {
            "opportunity_conversion": 0.12,
            "response_hours": 2.0,
            "cycle_days": 31,
            "churn_rate": None,
        }
    )
    by_metric = {a.metric: a for a in alerts}
    assert set(by_metric) == {"opportunity_conversion", "cycle_days"}  # exactly 2 h does not alert
    assert by_metric["opportunity_conversion"].level == "alert"  # the most severe of the two
    warn = m.check_kpis({"opportunity_conversion": 0.18})
    assert [(a.level, a.threshold.value) for a in warn] == [("warning", 0.20)]
    assert m.check_kpis({"lead_conversion": 0.08}) == []
    assert m.check_kpis({"lead_conversion": 0.079})[0].message.startswith(
        "alert: lead conversion below 8%"
    )
    custom = m.kpi.thresholds_from_dict([{"metric": "reply_rate", "rule": "below", "value": 0.3}])
    assert m.check_kpis({"reply_rate": 0.2}, custom)[0].metric == "reply_rate"
    with pytest.raises(ConfigError) as exc:
        m.kpi.thresholds_from_dict(
            [{"metric": "", "rule": "under", "value": "x", "level": "panic"}]
        )
    assert len(exc.value.problems) == 4


def test_response_time_counts_waiting_leads_as_breached() -> None:
    def lead(lid: str, hour: int) -> Lead:
        return Lead(id=lid, created_at=T0 + timedelta(hours=hour), source="web")

    def touch(lid: str, hour: float, replied: bool = False) -> Activity:
        return Activity(
            id=f"a{lid}{hour}",
            kind=ActivityKind.CALL,
            at=T0 + timedelta(hours=hour),
            owner_id="u1",
            lead_id=lid,
            replied=replied,
        )

    leads = [lead("1", 0), lead("2", 0), lead("3", 0), lead("4", 9)]
    acts = [touch("1", 1), touch("1", 5), touch("2", 3, True)]
    (row,) = m.response_time(
        leads, acts, start=T0, end=T0 + timedelta(days=1), as_of=T0 + timedelta(hours=10)
    ).records()
    # lead 1: 1 h, lead 2: 3 h (breach), lead 3: unanswered for 10 h (breach), lead 4: 1 h old (pending)
    assert (row["n"], row["answered"], row["pending"], row["breached"]) == (4, 2, 1, 2)
    assert (row["p50_hours"], row["p90_hours"]) == (2.0, pytest.approx(2.8))
    assert row["breach_rate"] == pytest.approx(2 / 3) and row["attainment"] == pytest.approx(1 / 3)
    (r,) = m.reply_rate(acts, start=T0, end=T0 + timedelta(days=1)).records()
    assert (r["activities"], r["replied"]) == (3, 1)
    (f,) = m.followups_per_rep_week(acts, start=T0, end=T0 + timedelta(days=14)).records()
    assert f["per_week"] == 1.5


def test_sla_attainment_and_omission() -> None:
    def out(i: int, met: bool, finished: bool, rule: str = "first_touch") -> SlaOutcome:
        return SlaOutcome(
            id=f"s{i}",
            rule=rule,
            target="touch",
            subject_kind="lead",
            subject_id=f"l{i}",
            started_at=T0,
            due_at=T0 + timedelta(hours=3),
            met=met,
            elapsed_seconds=60.0,
            finished_at=T0 + timedelta(hours=1) if finished else None,
        )

    outs = [
        out(1, True, True),
        out(2, True, True),
        out(3, False, True),
        out(4, False, False),
        out(5, True, True, "needs"),
    ]
    rows = {r["rule"]: r for r in m.sla_attainment(outs).records()}
    assert rows["first_touch"]["attainment"] == 0.5 and rows["first_touch"]["omission_rate"] == 0.25
    assert (rows["first_touch"]["breached"], rows["first_touch"]["omitted"]) == (2, 1)
    assert rows["needs"]["attainment"] == 1.0


def _lead_frames(leads: list[Lead], acts: list[Activity]) -> tuple[object, object]:
    import polars as pl

    ts = pl.Datetime("us", "UTC")
    lf = pl.DataFrame(
        {
            "id": [x.id for x in leads],
            "created_at": [x.created_at for x in leads],
            "source": [x.source for x in leads],
        },
        schema={"id": pl.String, "created_at": ts, "source": pl.String},
    )
    af = pl.DataFrame(
        {"lead_id": [a.lead_id for a in acts], "at": [a.at for a in acts]},
        schema={"lead_id": pl.String, "at": ts},
    )
    return lf, af


@pytest.mark.parametrize("backend", ["polars", "pandas", "duckdb"])
def test_response_time_on_frames_equals_records(backend: str) -> None:
    import random

    rnd = random.Random(9)
    leads = [
        Lead(
            id=f"l{i}",
            created_at=T0 + timedelta(minutes=rnd.randrange(0, 3 * 1440)),
            source=rnd.choice(["web", "event"]),
        )
        for i in range(80)
    ]
    acts = [
        Activity(
            id=f"a{i}",
            kind=ActivityKind.CALL,
            owner_id="u",
            lead_id=f"l{rnd.randrange(80)}",
            at=T0 + timedelta(minutes=rnd.randrange(0, 4 * 1440)),
        )
        for i in range(120)
    ]
    kw = {
        "start": T0,
        "end": T0 + timedelta(days=2),
        "as_of": T0 + timedelta(days=3),
        "by": ("source",),
    }
    want = m.response_time(leads, acts, **kw)
    lf, af = _lead_frames(leads, acts)
    if backend == "pandas":
        lf, af = lf.to_pandas(), af.to_pandas()  # type: ignore[attr-defined]
    elif backend == "duckdb":
        import duckdb

        lf, af = duckdb.from_arrow(lf.to_arrow()), duckdb.from_arrow(af.to_arrow())  # type: ignore[attr-defined]
    got = m.response_time(lf, af, **kw)
    assert_same(got, want)
    assert all(r["answered"] and r["breached"] and r["n"] > r["answered"] for r in want.records())


@pytest.mark.parametrize("backend", ["polars", "pandas", "duckdb"])
def test_sla_and_activity_metrics_on_frames_equal_records(backend: str) -> None:
    import random

    import polars as pl

    rnd = random.Random(4)
    outs = []
    for i in range(60):
        met = rnd.random() < 0.6
        finished = met or rnd.random() < 0.5
        outs.append(
            SlaOutcome(
                id=f"s{i}",
                rule=rnd.choice(["first_touch", "needs"]),
                target="t",
                subject_kind="lead",
                subject_id=f"l{i}",
                started_at=T0,
                due_at=T0 + timedelta(hours=3),
                met=met,
                elapsed_seconds=1.0,
                finished_at=T0 + timedelta(hours=1) if finished else None,
            )
        )
    acts = [
        Activity(
            id=f"a{i}",
            kind=ActivityKind.CALL,
            owner_id=rnd.choice(["u1", "u2", "u3"]),
            lead_id="l",
            at=T0 + timedelta(hours=rnd.randrange(0, 24 * 30)),
            replied=rnd.random() < 0.3,
        )
        for i in range(90)
    ]
    ts = pl.Datetime("us", "UTC")
    of = pl.DataFrame(
        {
            "rule": [o.rule for o in outs],
            "met": [o.met for o in outs],
            "finished_at": [o.finished_at for o in outs],
        },
        schema={"rule": pl.String, "met": pl.Boolean, "finished_at": ts},
    )
    af = pl.DataFrame(
        {
            "owner_id": [a.owner_id for a in acts],
            "at": [a.at for a in acts],
            "replied": [a.replied for a in acts],
        },
        schema={"owner_id": pl.String, "at": ts, "replied": pl.Boolean},
    )
    if backend == "pandas":
        of, af = of.to_pandas(), af.to_pandas()
    elif backend == "duckdb":
        import duckdb

        of, af = duckdb.from_arrow(of.to_arrow()), duckdb.from_arrow(af.to_arrow())
    period = {"start": T0 + timedelta(days=2), "end": T0 + timedelta(days=23)}
    want = m.sla_attainment(outs)
    assert all(r["omitted"] and r["met"] for r in want.records())
    assert_same(m.sla_attainment(of), want)
    assert_same(m.followups_per_rep_week(af, **period), m.followups_per_rep_week(acts, **period))
    assert_same(m.reply_rate(af, **period), m.reply_rate(acts, **period))
