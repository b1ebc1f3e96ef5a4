"""Predictive scoring: Odoo-style counting, naive Bayes with smoothing, exact AUC, backtest."""

from __future__ import annotations

import math
from datetime import timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scoring_support import AT

from pipeline_core.errors import ConfigError, ValidationError
from pipeline_core.scoring import (
    Example,
    PredictiveModel,
    auc,
    auc_exact,
    backtest_model,
    brier,
)


def brute_auc(scores: list[float], labels: list[bool]) -> Fraction:
    pos = [s for s, y in zip(scores, labels, strict=False) if y]
    neg = [s for s, y in zip(scores, labels, strict=False) if not y]
    wins = sum(
        Fraction(1) if p > n else Fraction(1, 2) if p == n else Fraction(0)
        for p in pos
        for n in neg
    )
    return wins / (len(pos) * len(neg))


@given(
    st.lists(
        st.tuples(st.integers(0, 5).map(float), st.booleans()), min_size=2, max_size=40
    ).filter(lambda xs: any(y for _, y in xs) and not all(y for _, y in xs))
)
def test_auc_equals_brute_force_pairwise_count(pairs: list[tuple[float, bool]]) -> None:
    scores = [s for s, _ in pairs]
    labels = [y for _, y in pairs]
    assert auc_exact(scores, labels) == brute_auc(scores, labels)
    assert auc(scores, labels) == float(brute_auc(scores, labels))


def test_auc_edge_cases() -> None:
    assert auc([0.1, 0.9], [False, True]) == 1.0
    assert auc([0.5, 0.5, 0.5], [True, False, False]) == 0.5
    with pytest.raises(ValueError, match="positive and one negative"):
        auc([0.1, 0.2], [True, True])


def test_brier() -> None:
    assert brier([1.0, 0.0], [True, False]) == 0.0
    assert brier([0.5, 0.5], [True, False]) == 0.25


def ex(won: bool, day: int, stage: str | None = None, **attrs: str) -> Example:
    return Example(
        attributes=attrs, won=won, closed_at=AT + timedelta(days=day), stage_reached=stage
    )


HISTORY = [
    ex(True, 1, source="referral", industry="saas"),
    ex(True, 2, source="referral", industry="retail"),
    ex(True, 3, source="website", industry="saas"),
    ex(False, 4, "qualified", source="website", industry="saas"),
    ex(False, 5, "new", source="website", industry="retail"),
    ex(False, 6, "proposal", source="event", industry="retail"),
    ex(False, 7, None, source="referral"),
]
STAGES = ("new", "qualified", "proposal", "negotiation")


def test_counts_follow_odoo_reached_at_least_this_stage() -> None:
    model = PredictiveModel(fields=("source", "industry"), stages=STAGES).fit(HISTORY)
    assert (model.n_won, model.n_lost) == (3, 4)
    assert model.won["stage"] == {s: 3 for s in STAGES}  # a won deal counts for every stage
    assert model.lost["stage"] == {"new": 3, "qualified": 2, "proposal": 1}
    assert model.won["source"] == {"referral": 2, "website": 1}
    assert model.lost["industry"] == {"saas": 1, "retail": 2}  # missing industry not counted


def test_probability_is_smoothed_naive_bayes() -> None:
    a = 0.1
    model = PredictiveModel(fields=("source", "industry"), smoothing=a).fit(HISTORY)
    p = model.probability({"source": "referral", "industry": "saas"})
    k_src, k_ind = 3, 2  # distinct values seen
    s_won = (
        Fraction(3, 7)
        * (Fraction(2) + Fraction(a))
        / (3 + a * k_src)
        * (2 + Fraction(a))
        / (3 + a * k_ind)
    )
    s_lost = (
        Fraction(4, 7)
        * (Fraction(1) + Fraction(a))
        / (4 + a * k_src)
        * (1 + Fraction(a))
        / (4 + a * k_ind)
    )
    assert p == pytest.approx(float(s_won / (s_won + s_lost)), rel=1e-12)
    # unseen and missing values give no evidence: the prior
    assert model.probability({"source": "tv"}) == pytest.approx(3 / 7, rel=1e-12)
    score = model.score({"source": "referral", "industry": "saas"})
    assert score.units == round(p * 100 * 10_000)
    assert [c.criterion for c in score.contributions] == ["source", "industry"]
    assert score.contributions[0].points > 0
    assert math.isclose(float(score.value), p * 100, abs_tol=1e-4)


def test_stage_evidence_uses_reached_counts() -> None:
    model = PredictiveModel(fields=("source",), stages=STAGES).fit(HISTORY)
    early = model.probability({"stage": "new"})
    late = model.probability({"stage": "proposal"})
    assert late > early  # fewer lost deals got that far


def test_fit_needs_both_classes_and_valid_definition() -> None:
    with pytest.raises(ConfigError, match="won and one lost"):
        PredictiveModel(fields=("source",)).fit([h for h in HISTORY if h.won])
    with pytest.raises(ConfigError) as info:
        PredictiveModel(fields=("source",), smoothing=0, bins={"budget": [1]}, stages=("a", "a"))
    assert len(info.value.problems) == 3


def test_backtest_splits_by_close_time_and_reports_by_grade() -> None:
    history = []
    for i in range(200):
        good = i % 3 != 0
        won = (i % 5 != 0) if good else (i % 7 == 0)
        history.append(ex(won, i, source="referral" if good else "website"))
    split = AT + timedelta(days=120)
    report = backtest_model(PredictiveModel(fields=("source",)), history, split)
    assert report.n_train == 120 and report.n_test == 80
    assert report.auc is not None and report.auc > 0.7
    assert report.brier is not None and 0 <= report.brier < 0.25
    assert sum(g.n for g in report.by_grade) == 80
    assert sum(g.won for g in report.by_grade) == sum(h.won for h in history[120:])
    assert [g.grade for g in report.by_grade] == ["A", "B", "C"]
    assert "AUC" in report.explain()
    with pytest.raises(ValidationError):
        backtest_model(PredictiveModel(fields=("source",)), history, split.replace(tzinfo=None))


def test_bins_bucket_numbers() -> None:
    hist = [
        Example(attributes={"budget": b}, won=w, closed_at=AT)
        for b, w in [(10, False), (20, False), (200, True), (300, True), (250, False)]
    ]
    model = PredictiveModel(fields=("budget",), bins={"budget": [100]}).fit(hist)
    assert model.won["budget"] == {"[100, ∞)": 2}
    assert model.lost["budget"] == {"[-∞, 100)": 2, "[100, ∞)": 1}
    assert model.probability({"budget": 500}) > model.probability({"budget": 5})


def test_definition_and_fitted_model_round_trip_as_plain_data() -> None:
    import json

    definition = PredictiveModel(
        fields=("source", "industry", "budget"), stages=STAGES, bins={"budget": [100, 1000]}
    )
    again = PredictiveModel.from_dict(json.loads(json.dumps(definition.to_dict())))
    assert again == definition
    fitted = definition.fit(HISTORY)
    restored = type(fitted).from_dict(json.loads(json.dumps(fitted.to_dict())))
    for lead in ({"source": "referral", "industry": "saas"}, {"stage": "proposal"}, {}):
        assert restored.probability(lead) == fitted.probability(lead)
    with pytest.raises(ConfigError) as info:
        PredictiveModel.from_dict({"smoothing": -1, "fields": "x", "extra": 1})
    assert len(info.value.problems) == 3
    assert "smoothing" in json.dumps(PredictiveModel.json_schema())
