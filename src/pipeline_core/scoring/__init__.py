"""Lead scoring and grading: explainable BANT models, A/B/C grades, re-grading, predictive scoring.

>>> from pipeline_core.scoring import BANT
>>> model = BANT.default()
>>> lead = {"budget": 600_000, "authority": "decision_maker", "need": "strong",
...         "intent": "high", "timeline": "within_1_month"}
>>> score = model.score(lead)
>>> score.value, score.grade.name
(Decimal('100.0000'), 'A')

One evaluation entry point per use: one lead ``model.score(lead, as_of=...)``, many leads
``model.score_many(leads, as_of=...)``, a data frame :func:`score_frame`.

Modules: :mod:`~pipeline_core.scoring.criteria` (rules and criteria),
:mod:`~pipeline_core.scoring.readers` (reading a field of a lead),
:mod:`~pipeline_core.scoring.compiled` (criteria compiled to lookups),
:mod:`~pipeline_core.scoring.grades`, :mod:`~pipeline_core.scoring.models` (``Scorer``,
``ScoreModel``, ``Override``), :mod:`~pipeline_core.scoring.results` (``Score``),
:mod:`~pipeline_core.scoring.bant` (``BANT``), :mod:`~pipeline_core.scoring.compose` (weighted
sums), :mod:`~pipeline_core.scoring.events` (``GradeChanged``, ``regrade``),
:mod:`~pipeline_core.scoring.predictive` and :mod:`~pipeline_core.scoring.frames`
(``score_frame``; narwhals is imported only when called).
"""

from pipeline_core._deprecation import moved
from pipeline_core.scoring.bant import BANT
from pipeline_core.scoring.compose import Part, WeightedSum, json_schema, model_from_dict
from pipeline_core.scoring.criteria import (
    Category,
    Contains,
    Criterion,
    CriterionRule,
    Decay,
    Missing,
    Predicate,
    Range,
)
from pipeline_core.scoring.events import GradeChanged, regrade
from pipeline_core.scoring.frames import score_frame
from pipeline_core.scoring.grades import DEFAULT_BANDS, Grade, GradeBands
from pipeline_core.scoring.models import Override, ScoreModel, Scorer
from pipeline_core.scoring.predictive import (
    Example,
    FittedPredictive,
    GradeOutcome,
    ModelBacktestReport,
    PredictiveModel,
    auc,
    auc_exact,
    backtest_model,
    brier,
    examples_from_records,
)
from pipeline_core.scoring.results import Contribution, Score

__all__ = [
    "BANT",
    "DEFAULT_BANDS",
    "Category",
    "Contains",
    "Contribution",
    "Criterion",
    "CriterionRule",
    "Decay",
    "Example",
    "FittedPredictive",
    "Grade",
    "GradeBands",
    "GradeChanged",
    "GradeOutcome",
    "Missing",
    "ModelBacktestReport",
    "Override",
    "Part",
    "Predicate",
    "PredictiveModel",
    "Range",
    "Score",
    "ScoreModel",
    "Scorer",
    "WeightedSum",
    "auc",
    "auc_exact",
    "backtest_model",
    "brier",
    "examples_from_records",
    "json_schema",
    "model_from_dict",
    "regrade",
    "score_frame",
]

__getattr__ = moved(
    __name__,
    {
        "Rule": "pipeline_core.scoring.criteria:CriterionRule",
        "backtest": "pipeline_core.scoring.predictive:backtest_model",
        "BacktestReport": "pipeline_core.scoring.predictive:ModelBacktestReport",
        "score_expressions": "pipeline_core.scoring.frames:score_expressions",
    },
)
