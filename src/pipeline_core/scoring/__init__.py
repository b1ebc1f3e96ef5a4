"""Lead scoring and grading: explainable BANT models, A/B/C grades, re-grading, predictive scoring.

>>> from pipeline_core.scoring import BANT
>>> model = BANT.default()
>>> lead = {"budget": 600_000, "authority": "decision_maker", "need": "strong",
...         "intent": "high", "timeline": "within_1_month"}
>>> model.score_value(lead), model.grade(lead).name
(100.0, 'A')

Modules: :mod:`~pipeline_core.scoring.criteria` (rules), :mod:`~pipeline_core.scoring.models`
(``ScoreModel``, ``Score``, ``BANT``), :mod:`~pipeline_core.scoring.grades`,
:mod:`~pipeline_core.scoring.compose` (weighted sums), :mod:`~pipeline_core.scoring.events`
(``GradeChanged``, ``regrade``), :mod:`~pipeline_core.scoring.predictive` and
:mod:`~pipeline_core.scoring.frames` (``score_frame``; narwhals is imported only when called).
"""

from pipeline_core.scoring.compose import WeightedSum, json_schema, model_from_dict
from pipeline_core.scoring.criteria import (
    Category,
    Contains,
    Criterion,
    Decay,
    Missing,
    Predicate,
    Range,
    Rule,
)
from pipeline_core.scoring.events import GradeChanged, regrade
from pipeline_core.scoring.frames import score_expressions, score_frame
from pipeline_core.scoring.grades import DEFAULT_BANDS, Grade, GradeBands
from pipeline_core.scoring.models import BANT, Contribution, Override, Score, ScoreModel, Scorer
from pipeline_core.scoring.predictive import (
    BacktestReport,
    Example,
    FittedPredictive,
    GradeOutcome,
    PredictiveModel,
    auc,
    auc_exact,
    backtest,
    brier,
    examples_from_records,
)

__all__ = [
    "BANT",
    "DEFAULT_BANDS",
    "BacktestReport",
    "Category",
    "Contains",
    "Contribution",
    "Criterion",
    "Decay",
    "Example",
    "FittedPredictive",
    "Grade",
    "GradeBands",
    "GradeChanged",
    "GradeOutcome",
    "Missing",
    "Override",
    "Predicate",
    "PredictiveModel",
    "Range",
    "Rule",
    "Score",
    "ScoreModel",
    "Scorer",
    "WeightedSum",
    "auc",
    "auc_exact",
    "backtest",
    "brier",
    "examples_from_records",
    "json_schema",
    "model_from_dict",
    "regrade",
    "score_expressions",
    "score_frame",
]
