"""Weighted sums, half-life decay with injected time, plain-data composition, re-grading."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scoring_support import AT, lead_from_row, rows

from pipeline_core.errors import ConfigError, ValidationError
from pipeline_core.scoring import (
    BANT,
    Category,
    Criterion,
    Decay,
    GradeChanged,
    Range,
    ScoreModel,
    WeightedSum,
    json_schema,
    model_from_dict,
    regrade,
)


def fit_model() -> ScoreModel:
    return ScoreModel.of(
        "fit",
        [
            Criterion(
                "industry",
                "industry",
                [Category(["saas", "finance"], 50), Category(["education"], 30)],
            ),
            Criterion(
                "size",
                "company_size",
                [Range(10, high=50), Range(30, low=50, high=1000), Range(50, low=1000)],
            ),
        ],
    )


def engagement_model() -> ScoreModel:
    return ScoreModel.of(
        "engagement",
        [Criterion("recency", "custom.last_activity_at", [Decay(100, timedelta(days=7))])],
    )


def half_up(x: Fraction) -> int:
    return int((2 * x + 1) // 2)


@given(
    rows,
    st.sampled_from(["0.6", "0.25", "1", "0.33"]),
    st.sampled_from(["0.4", "0.75", "0", "0.67"]),
)
def test_weighted_sum_is_exact(row: dict[str, Any], w1: str, w2: str) -> None:
    bant, fit = BANT.default(), fit_model()
    combo = WeightedSum.of("combo", [(bant, w1), (fit, w2)])
    want = half_up(Fraction(w1) * bant.score_units(row)) + half_up(
        Fraction(w2) * fit.score_units(row)
    )
    want = min(max(want, 0), 1_000_000)
    assert combo.score_units(row) == want
    full = combo.score(row)
    assert full.units == want
    assert [p.model for p in full.parts] == ["bant", "fit"]
    assert combo.score_units(lead_from_row(row)) == want
    assert "fit v1" in full.explain()


def test_decay_halves_every_half_life() -> None:
    model = engagement_model()
    for days, want in [
        (0, Decimal(100)),
        (7, Decimal(50)),
        (14, Decimal(25)),
        (21, Decimal("12.5")),
    ]:
        row = {"custom": {"last_activity_at": (AT - timedelta(days=days)).isoformat()}}
        assert model.score(row, as_of=AT).value == want
    future = {"custom": {"last_activity_at": (AT + timedelta(days=3)).isoformat()}}
    assert model.score_many([future], as_of=AT)[0] == 100  # no negative age


@given(st.integers(min_value=0, max_value=10**7))
def test_decay_is_monotone_and_bounded(seconds: int) -> None:
    model = engagement_model()
    at_row = {"custom": {"last_activity_at": AT.isoformat()}}
    later = AT + timedelta(seconds=seconds)
    a = model.score_units(at_row, as_of=later)
    b = model.score_units(at_row, as_of=later + timedelta(hours=1))
    assert 0 <= b <= a <= 1_000_000
    exact = 1_000_000 * 0.5 ** (seconds / (7 * 86_400))
    assert abs(a - exact) <= 0.5 + 1e-6


def test_time_dependent_model_needs_aware_at() -> None:
    model = engagement_model()
    row = {"custom": {"last_activity_at": AT.isoformat()}}
    with pytest.raises(ConfigError, match="pass as_of="):
        model.score_units(row)
    with pytest.raises(ValidationError):
        model.score(row, as_of=AT.replace(tzinfo=None))
    assert model.score(row, as_of=AT).contributions[0].rule.startswith("decays")


def test_fit_plus_engagement_as_plain_data() -> None:
    combo = WeightedSum.of("lead", [(fit_model(), "0.6"), (engagement_model(), "0.4")], version="7")
    data = json.loads(json.dumps(combo.to_dict()))
    again = model_from_dict(data)
    assert isinstance(again, WeightedSum)
    row = {
        "industry": "saas",
        "company_size": 2000,
        "custom": {"last_activity_at": (AT - timedelta(days=7)).isoformat()},
    }
    assert again.score_units(row, as_of=AT) == combo.score_units(row, as_of=AT)
    assert combo.score(row, as_of=AT).value == Decimal("0.6") * 100 + Decimal("0.4") * 50
    schema = json_schema()
    assert "anyOf" in schema or "oneOf" in schema


def test_weighted_sum_errors_are_listed_with_paths() -> None:
    with pytest.raises(ConfigError) as info:
        WeightedSum.of("x", [(fit_model(), "-1"), (fit_model(), "0.001")])
    assert {p.code for p in info.value.problems} >= {"negative_weight", "duplicate"}
    data = {
        "name": "x",
        "parts": [
            {
                "weight": 1,
                "model": {
                    "name": "m",
                    "criteria": [
                        {
                            "name": "a",
                            "field": "a",
                            "weight": -1,
                            "rules": [{"kind": "category", "values": ["v"], "points": 1}],
                        }
                    ],
                },
            }
        ],
    }
    with pytest.raises(ConfigError) as info2:
        model_from_dict(data)
    assert info2.value.fields == ("parts[0].model.criteria[0].weight",)


def test_regrade_emits_grade_changed_only_when_the_grade_moves() -> None:
    model = BANT.default()
    lead = {
        "id": "L1",
        "budget": 600_000,
        "authority": "decision_maker",
        "need": "strong",
        "intent": "high",
        "timeline": "no_plan",
    }
    first, none_event = regrade(lead, None, model, at=AT)
    assert none_event is None and first.grade.name == "B"  # 75
    same, event = regrade({**lead, "intent": "medium"}, first, model, at=AT)
    assert event is None and same.value == 71
    later = AT + timedelta(days=2)
    new, event = regrade({**lead, "timeline": "within_1_month"}, same, model, at=later)
    assert isinstance(event, GradeChanged)
    assert (event.lead_id, event.previous_grade, event.new_grade) == ("L1", "B", "A")
    assert event.previous is same and event.new is new and event.at == later
    assert event.upgraded
    assert event.to_dict()["new"]["grade"] == "A"
    _, down = regrade({**lead, "budget": None, "authority": None}, new, model, at=later)
    assert down is not None and not down.upgraded and down.new_grade == "C"
    with pytest.raises(ValidationError):
        regrade(lead, None, model, at=AT.replace(tzinfo=None))
