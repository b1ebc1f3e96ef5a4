"""Metrics in one stated currency (suggestions that exist), and KPI definitions checked."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core import metrics as m
from pipeline_core.errors import ConfigError, CurrencyMismatchError, ValidationError
from pipeline_core.metrics.kpi import Threshold, thresholds_from_dict
from pipeline_core.money import ExchangeRates
from pipeline_core.records import Money, Opportunity
from pipeline_core.stages import templates

T0 = datetime(2025, 2, 3, 9, tzinfo=UTC)
NOW = datetime(2025, 4, 1, tzinfo=UTC)
SMALL = templates.get("small_team")
RATES = ExchangeRates.from_dict(
    {
        "rates": [
            {"base": "EUR", "quote": "CNY", "effective": "2025-01-01", "rate": "7.80"},
            {"base": "EUR", "quote": "CNY", "effective": "2025-03-15", "rate": "8.00"},
        ]
    }
)


def deal(oid: str, stage: str, amount: str, currency: str, **kw: Any) -> Opportunity:
    return Opportunity(
        id=oid,
        name=oid,
        created_at=T0,
        owner_id="amy",
        stage=stage,
        stage_entered_at=T0,
        expected_amount=Money.of(amount, currency),
        **kw,
    )


MIXED = [
    deal("a", "proposal_quote", "10000", "CNY"),
    deal("b", "proposal_quote", "500", "EUR"),
]
WON = [
    deal("c", "won", "10000", "CNY", closed_at=datetime(2025, 3, 1, tzinfo=UTC)),
    deal("d", "won", "500", "EUR", closed_at=datetime(2025, 3, 2, tzinfo=UTC)),
]


def suggested_options(message: str) -> set[str]:
    return set(re.findall(r"\b([a-z_]+)=", message))


@pytest.mark.parametrize(
    "call",
    [
        lambda: m.weighted_forecast(MIXED, stages=SMALL),
        lambda: m.monte_carlo_forecast(MIXED, stages=SMALL, runs=10),
        lambda: m.win_rate(WON, stages=SMALL, start=T0, end=NOW),
    ],
    ids=["weighted_forecast", "monte_carlo_forecast", "win_rate"],
)
def test_mixed_currencies_are_refused_with_options_that_exist(call: Callable[[], Any]) -> None:
    with pytest.raises(CurrencyMismatchError) as err:
        call()
    assert err.value.currencies == ("CNY", "EUR")
    assert err.value.fields == ("currency",)
    fn = {"weighted_forecast": m.weighted_forecast, "monte_carlo_forecast": m.monte_carlo_forecast}
    name = next((n for n in fn if f"{n}(" in inspect.getsource(call)), "win_rate")
    params = inspect.signature(getattr(m, name)).parameters
    assert suggested_options(str(err.value)) <= set(params), str(err.value)


def test_weighted_forecast_converts_open_deals_at_the_evaluation_instant() -> None:
    p = SMALL.stage("proposal_quote").probability
    assert p is not None
    table = m.weighted_forecast(MIXED, stages=SMALL, currency="CNY", rates=RATES, as_of=NOW)
    # 1 April: the rate of 15 March, 8.00: 500 EUR = 4,000.00 CNY; pipeline 10,000 + 4,000
    assert table.rows == ((2, 14000.0, 14000.0 * p),)
    assert table.params["currency"] == "CNY"
    early = m.weighted_forecast(
        MIXED, stages=SMALL, currency="CNY", rates=RATES, as_of=datetime(2025, 3, 1, tzinfo=UTC)
    )
    # 1 March: the January rate 7.80: 500 × 7.80 = 3,900; pipeline 13,900
    assert early.rows[0][1] == 13900.0


def test_forecast_currency_options_are_checked() -> None:
    with pytest.raises(ValidationError) as err:
        m.weighted_forecast(MIXED, stages=SMALL, currency="CNY", rates=RATES)
    assert err.value.fields == ("as_of",)
    with pytest.raises(ValidationError) as err:
        m.weighted_forecast(MIXED, stages=SMALL, rates=RATES, as_of=NOW)
    assert err.value.fields == ("currency",)
    with pytest.raises(CurrencyMismatchError):  # a currency but no rates: still refused
        m.weighted_forecast(MIXED, stages=SMALL, currency="CNY")


def test_frames_convert_like_records() -> None:
    frame = pd.DataFrame(
        {
            "stage": ["proposal_quote"] * 2,
            "expected_amount": [10000.0, 500.0],
            "currency": ["CNY", "EUR"],
        }
    )
    from_frame = m.weighted_forecast(frame, stages=SMALL, currency="CNY", rates=RATES, as_of=NOW)
    from_records = m.weighted_forecast(MIXED, stages=SMALL, currency="CNY", rates=RATES, as_of=NOW)
    assert from_frame.rows == from_records.rows


# --------------------------------------------------------------------------- KPI definitions


def test_a_misspelt_metric_is_named() -> None:
    with pytest.raises(ValidationError) as err:
        m.check_kpis({"churn_rate": 0.2, "lead_conversoin": 0.01})
    assert err.value.fields == ("lead_conversoin",)
    assert "lead_conversion" in str(err.value)  # the known names are listed


def test_missing_values_are_not_measured() -> None:
    assert m.check_kpis({"churn_rate": float("nan"), "cycle_days": None}) == []
    with pytest.raises(ValidationError):
        m.check_kpis({"churn_rate": "13%"})  # type: ignore[dict-item]


def test_threshold_definitions_are_validated_however_built() -> None:
    with pytest.raises(ConfigError):
        thresholds_from_dict({"bad": 1})  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as err:
        thresholds_from_dict([{"metric": "x", "rule": "above", "value": 1, "levle": "alert"}])
    assert err.value.fields == ("[0].levle",)
    with pytest.raises(ConfigError) as err:
        Threshold("x", "under", float("nan"))  # type: ignore[arg-type]
    assert set(err.value.fields) == {"rule", "value"}
    with pytest.raises(ConfigError):
        m.check_kpis({"x": 1.0}, [{"metric": "x"}])  # type: ignore[list-item]


@given(
    st.dictionaries(
        st.sampled_from(sorted({t.metric for t in m.DEFAULT_THRESHOLDS})),
        st.one_of(st.none(), st.floats(min_value=0, max_value=100, allow_nan=False)),
    )
)
def test_each_alert_is_the_most_severe_firing_threshold(values: dict[str, float | None]) -> None:
    alerts = {a.metric: a for a in m.check_kpis(values)}
    for metric, observed in values.items():
        firing = [
            t
            for t in m.DEFAULT_THRESHOLDS
            if t.metric == metric
            and observed is not None
            and (observed < t.value if t.rule == "below" else observed > t.value)
        ]
        if not firing:
            assert metric not in alerts
        else:
            assert alerts[metric].level == (
                "alert" if any(t.level == "alert" for t in firing) else "warning"
            )
