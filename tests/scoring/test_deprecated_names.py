"""#18: every renamed or moved scoring name still works for one release, with a warning."""

from __future__ import annotations

import importlib
import warnings
from datetime import UTC, datetime, timedelta

import pytest

from pipeline_core._model import problems_from_pydantic
from pipeline_core.scoring import BANT, Category, Criterion, Decay, ScoreModel
from pipeline_core.scoring import compiled as compiled_module
from pipeline_core.scoring import criteria as criteria_module
from pipeline_core.scoring import predictive as predictive_module
from pipeline_core.scoring import readers as readers_module
from pipeline_core.scoring.bant import BANT as BANT_HOME
from pipeline_core.scoring.frames import score_expressions

ALIASES = [
    ("pipeline_core.scoring", "Rule", criteria_module.CriterionRule),
    ("pipeline_core.scoring", "backtest", predictive_module.backtest_model),
    ("pipeline_core.scoring", "BacktestReport", predictive_module.ModelBacktestReport),
    ("pipeline_core.scoring", "score_expressions", score_expressions),
    ("pipeline_core.scoring.criteria", "Rule", criteria_module.CriterionRule),
    ("pipeline_core.scoring.criteria", "MONEY_FIELDS", readers_module.MONEY_FIELDS),
    ("pipeline_core.scoring.criteria", "Getter", readers_module.Getter),
    ("pipeline_core.scoring.criteria", "object_getter", readers_module.object_getter),
    ("pipeline_core.scoring.criteria", "mapping_getter", readers_module.mapping_getter),
    ("pipeline_core.scoring.criteria", "TRUE_KEY", readers_module.TRUE_KEY),
    ("pipeline_core.scoring.criteria", "FALSE_KEY", readers_module.FALSE_KEY),
    ("pipeline_core.scoring.criteria", "Compiled", compiled_module.CompiledCriterion),
    ("pipeline_core.scoring.compiled", "Compiled", compiled_module.CompiledCriterion),
    ("pipeline_core.scoring.criteria", "compile_criterion", compiled_module.compile_criterion),
    ("pipeline_core.scoring.models", "BANT", BANT_HOME),
    ("pipeline_core.scoring.models", "pydantic_problems", problems_from_pydantic),
    ("pipeline_core.scoring.predictive", "backtest", predictive_module.backtest_model),
    (
        "pipeline_core.scoring.predictive",
        "BacktestReport",
        predictive_module.ModelBacktestReport,
    ),
]


@pytest.mark.parametrize(("module", "old", "new"), ALIASES, ids=lambda x: str(x)[:40])
def test_alias_warns_and_resolves(module: str, old: str, new: object) -> None:
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match="removed in"):
        assert getattr(mod, old) is new
    assert old not in mod.__all__


def test_score_value_and_grade_are_deprecated_aliases() -> None:
    model, lead = BANT.default(), {"need": "strong", "budget": 10}
    with pytest.warns(DeprecationWarning, match="score_many"):
        assert model.score_value(lead) == model.score_many([lead])[0] == 20.0
    with pytest.warns(DeprecationWarning, match=r"score\(lead\).grade"):
        assert model.grade(lead) == model.score(lead).grade


def test_score_expressions_is_a_deprecated_alias() -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"need": ["strong", "weak"]})
    model = ScoreModel.of("need", [Criterion("need", "need", [Category(["strong"], 15)])])
    with pytest.warns(DeprecationWarning, match="score_frame"):
        units, _ = score_expressions(frame, model)
    import narwhals.stable.v2 as nw

    out = nw.from_native(frame).select(units.alias("u")).to_native()
    assert out.to_dicts() == [{"u": 150_000}, {"u": 0}]


def test_at_keyword_is_the_deprecated_spelling_of_as_of() -> None:
    as_of = datetime(2025, 3, 1, tzinfo=UTC)
    model = ScoreModel.of(
        "engagement", [Criterion("seen", "seen_at", [Decay(100, timedelta(days=7))])]
    )
    lead = {"seen_at": as_of - timedelta(days=7)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        want = model.score(lead, as_of=as_of).value
        assert model.score_many([lead], as_of=as_of) == [50.0]
    for method in (model.score_units, model.score, model.score_many):
        with pytest.warns(DeprecationWarning, match="as_of"):
            method([lead] if method == model.score_many else lead, at=as_of)
    with pytest.warns(DeprecationWarning, match="as_of"):
        assert model.score(lead, at=as_of).value == want
