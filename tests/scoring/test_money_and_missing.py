"""Scoring never reads an amount as another currency, and reads every spelling of "no value" as
missing (records, mappings, frames, the predictive model)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError, CurrencyMismatchError
from pipeline_core.money import ExchangeRates
from pipeline_core.records import Money
from pipeline_core.scoring import BANT, Criterion, Example, PredictiveModel, Range, ScoreModel
from pipeline_core.scoring.frames import score_frame

T = datetime(2025, 5, 6, tzinfo=UTC)


def budget_points(values: Any) -> Decimal:
    return next(
        c.points for c in BANT.default().score(values).contributions if c.criterion == "budget"
    )


def test_bant_budget_bands_are_in_cny() -> None:
    assert BANT.default().currency == "CNY"
    # 80,000 CNY is in the 30,000–100,000 band: 12 points
    assert budget_points({"budget": Money.of("80000", "CNY")}) == 12
    with pytest.raises(CurrencyMismatchError) as err:
        budget_points({"budget": Money.of("80000", "JPY")})
    assert err.value.fields == ("budget",)
    assert "JPY" in str(err.value) and "ExchangeRates.convert" in str(err.value)
    with pytest.raises(CurrencyMismatchError):  # the plain-data spelling too
        budget_points({"budget": {"amount": "80000", "currency": "USD"}})


def test_a_converted_budget_scores_in_its_band() -> None:
    rates = ExchangeRates.from_dict(
        {"rates": [{"base": "JPY", "quote": "CNY", "effective": "2025-01-01", "rate": "0.048"}]}
    )
    cny = rates.convert(Money.of("800000", "JPY"), "CNY", on=T)
    # 800,000 JPY × 0.048 = 38,400 CNY: the 30,000–100,000 band, 12 points (not the ≥ 500,000
    # band's 25 it would get read as CNY)
    assert cny == Money.of("38400.00", "CNY")
    assert budget_points({"budget": cny}) == 12


def test_a_model_states_its_currency_as_data() -> None:
    model = ScoreModel.of(
        "deal size",
        [Criterion("size", "expected_amount", (Range(10, low=1000), Range(0, high=1000)))],
        currency="USD",
    )
    assert ScoreModel.from_dict(model.to_dict()) == model
    assert model.to_dict()["currency"] == "USD"
    with pytest.raises(ConfigError) as err:
        ScoreModel.from_dict({**model.to_dict(), "currency": "DOLLARS"})
    assert "currency" in err.value.fields
    with pytest.raises(ConfigError) as err2:
        ScoreModel.of("x", list(model.criteria), currency="ZZZ")
    assert err2.value.fields == ("currency",)


MISSING = [None, float("nan"), "", "   ", pd.NA, pd.NaT]


@pytest.mark.parametrize("blank", MISSING, ids=repr)
def test_every_missing_spelling_scores_like_none(blank: Any) -> None:
    model = BANT.default()
    lead = {"budget": "250000", "authority": "influencer", "need": "weak", "intent": "low"}
    for field in ("authority", "need", "timeline", "budget"):
        as_none = model.score({**lead, field: None})
        as_blank = model.score({**lead, field: blank})
        assert as_blank.value == as_none.value, field
        missing = {c.criterion: c.missing for c in as_blank.contributions}
        assert missing[field] is True


def test_score_frame_reads_blank_text_and_nan_as_missing() -> None:
    frame = pd.DataFrame(
        {
            "budget": [float("nan"), 600000.0],
            "authority": ["", "decision_maker"],
            "need": ["  ", None],
            "intent": ["high", ""],
            "timeline": [None, "within_1_month"],
        }
    )
    out = score_frame(frame, BANT.default())
    # row 0: only intent high counts, 10 points; row 1: 25 (budget ≥ 500,000) + 25 (decision
    # maker) + 25 (within a month) = 75
    assert out["score"].tolist() == [10.0, 75.0]
    as_rows = BANT.default().score_many(frame.to_dict("records"))
    assert as_rows == [10.0, 75.0]


def test_score_frame_checks_a_currency_column() -> None:
    frame = pd.DataFrame({"budget": [1000.0, 2000.0], "currency": ["CNY", "EUR"]})
    frame = frame.assign(authority=None, need=None, intent=None, timeline=None)
    with pytest.raises(CurrencyMismatchError) as err:
        score_frame(frame, BANT.default())
    assert err.value.fields == ("currency",)
    with pytest.raises(CurrencyMismatchError):  # row by row the same
        BANT.default().score(frame.to_dict("records")[1])
    assert BANT.default().score_many([frame.to_dict("records")[0]])[0] == 5.0  # 1,000 CNY: < 30,000


def fitted() -> Any:
    model = PredictiveModel(fields=("visits", "city"), bins={"visits": [3.0]})
    return model.fit(
        [
            Example(attributes={"visits": 5, "city": "Xi'an"}, won=True, closed_at=T),
            Example(attributes={"visits": 1, "city": "Hefei"}, won=False, closed_at=T),
            Example(attributes={"visits": 4, "city": "Hefei"}, won=True, closed_at=T),
        ]
    )


@given(st.sampled_from(MISSING), st.sampled_from(MISSING))
def test_predictive_reads_missing_attributes_as_no_evidence(a: Any, b: Any) -> None:
    model = fitted()
    base = model.probability({"visits": None, "city": None})
    # no evidence at all: the prior, 2 won of 3 examples
    assert math.isclose(base, 2 / 3, rel_tol=1e-12)
    assert math.isclose(model.probability({"visits": a, "city": b}), base, rel_tol=1e-12)
    one = model.probability({"visits": 5, "city": None})
    assert math.isclose(model.probability({"visits": 5, "city": b}), one, rel_tol=1e-12)


def test_predictive_money_fields_are_read_in_the_model_currency() -> None:
    model = PredictiveModel(fields=("budget",), bins={"budget": [50_000.0]}, currency="CNY")
    assert PredictiveModel.from_dict(model.to_dict()) == model
    history = [
        Example(attributes={"budget": Money.of("80000", "CNY")}, won=True, closed_at=T),
        Example(attributes={"budget": Money.of("20000", "CNY")}, won=False, closed_at=T),
    ]
    fitted_model = model.fit(history)
    # 80,000 CNY is in the [50000, ∞) bucket, where the only example was won: above the prior ½
    assert fitted_model.probability({"budget": Money.of("90000", "CNY")}) > 0.5
    with pytest.raises(CurrencyMismatchError):  # 90,000 JPY is not 90,000 CNY
        fitted_model.probability({"budget": Money.of("90000", "JPY")})
    with pytest.raises(CurrencyMismatchError):
        model.fit(
            [
                *history,
                Example(
                    attributes={"budget": {"amount": "1", "currency": "USD"}}, won=True, closed_at=T
                ),
            ]
        )
    with pytest.raises(ConfigError) as err:
        PredictiveModel(fields=("budget",), currency="cny")
    assert err.value.fields == ("currency",)
