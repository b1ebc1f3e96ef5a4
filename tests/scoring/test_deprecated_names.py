"""#18: every renamed or moved scoring name still works for one release, with a warning."""

from __future__ import annotations

import importlib
import warnings
from datetime import UTC, datetime, timedelta

import pytest

from pipeline_core._model import problems_from_pydantic
from pipeline_core.scoring import BANT, Category, Criterion, Decay, ScoreModel, Scorer
from pipeline_core.scoring import compiled as compiled_module
from pipeline_core.scoring import criteria as criteria_module
from pipeline_core.scoring import predictive as predictive_module
from pipeline_core.scoring import readers as readers_module
from pipeline_core.scoring.bant import BANT as BANT_HOME
from pipeline_core.scoring.frames import score_expressions
from pipeline_core.scoring.results import Score

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


class _OldStyleScorer(Scorer):
    """A subclass written before ``as_of``: ``score_units(lead, *, at=None)``."""

    name = "old"
    version = "1"
    bands = BANT.default().bands

    def __init__(self) -> None:
        self.seen: list[datetime | None] = []

    def score_units(self, lead: object, *, at: datetime | None = None) -> int:  # type: ignore[override]
        self.seen.append(at)
        return 123_400  # 12.34 points

    def score(self, lead: object, *, at: datetime | None = None) -> Score:  # type: ignore[override]
        return self.make_score(self.score_units(lead, at=at), [])


def test_an_old_style_scorer_subclass_works_through_score_many_with_a_warning() -> None:
    scorer = _OldStyleScorer()
    when = datetime(2025, 1, 2, tzinfo=UTC)
    with pytest.warns(
        DeprecationWarning, match=r"score_units\(lead, \*, at=\.\.\.\) is deprecated"
    ):
        values = scorer.score_many([{}, {}], as_of=when)
    assert values == [pytest.approx(12.34), pytest.approx(12.34)]
    assert scorer.seen == [when, when]


def test_a_new_style_scorer_gives_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert BANT.default().score_many([{}]) == [0.0]


def test_decay_factor_reads_the_old_keyword_at() -> None:
    decay = Decay(points=5, half_life=timedelta(days=1))
    when = datetime(2025, 1, 2, tzinfo=UTC)
    with pytest.warns(DeprecationWarning, match=r"factor\(at=\.\.\.\) is deprecated"):
        old = decay.factor(when - timedelta(days=1), at=when)
    assert old == decay.factor(when - timedelta(days=1), as_of=when) == 0.5
