"""Names and keywords renamed by #18 keep working for one release, with a DeprecationWarning;
the plain form derived from the value classes; the pipeline's public edge look-up."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline_core.errors import ConfigError
from pipeline_core.records import StageEvent
from pipeline_core.stages import (
    Condition,
    Pipeline,
    Stage,
    StageAction,
    Transition,
    TransitionRules,
    templates,
)
from pipeline_core.stages import history as history_module
from pipeline_core.stages.compiled import Edge
from pipeline_core.stages.history import History, Visit

ALIASES = [
    ("ActionSpec", StageAction),
    ("ConditionSpec", Condition),
    ("PipelineSpec", Pipeline),
    ("RulesSpec", TransitionRules),
    ("StageSpec", Stage),
    ("TransitionSpec", Transition),
]


@pytest.mark.parametrize(("old", "new"), ALIASES)
def test_spec_aliases_warn_and_resolve(old: str, new: type) -> None:
    module = importlib.import_module("pipeline_core.stages.definition")
    with pytest.warns(DeprecationWarning, match=new.__name__):
        assert getattr(module, old) is new
    assert old not in module.__all__


def test_value_names_are_still_importable_from_definition() -> None:
    from pipeline_core.stages import definition, values

    for name in values.__all__:
        if name in ("STAGE_ID",):
            continue
        assert getattr(definition, name) is getattr(values, name)


def _day(d: float) -> datetime:
    return datetime(2025, 3, 1, tzinfo=UTC) + timedelta(days=d)


def _history() -> History:
    return History.of(
        [
            StageEvent(id="e1", opportunity_id="o", to_stage="new", at=_day(0), by="u"),
            StageEvent(
                id="e2", opportunity_id="o", from_stage="new", to_stage="quote", at=_day(2), by="u"
            ),
        ]
    )


CALLS: list[tuple[str, Callable[..., Any], str]] = [
    ("age", lambda h, **kw: h.age(**kw), "now"),
    ("stage_age", lambda h, **kw: h.stage_age(**kw), "now"),
    ("time_in_stages", lambda h, **kw: h.time_in_stages(**kw), "now"),
    ("state_at", lambda h, **kw: h.state_at(**kw), "t"),
    ("module state_at", lambda h, **kw: history_module.state_at(h.events, **kw), "t"),
    ("module time_in_stages", lambda h, **kw: history_module.time_in_stages(h.events, **kw), "now"),
    ("visit duration", lambda h, **kw: h.visits[-1].duration(**kw), "now"),
]


@pytest.mark.parametrize(("name", "call", "old"), CALLS)
def test_as_of_is_the_evaluation_keyword_and_the_old_one_warns(
    name: str, call: Callable[..., Any], old: str
) -> None:
    h = _history()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = call(h, as_of=_day(5))
    with pytest.warns(DeprecationWarning, match="as_of"):
        assert call(h, **{old: _day(5)}) == expected


def test_visit_duration_positional() -> None:
    visit = Visit("new", _day(0), None)
    assert visit.duration(_day(1)) == timedelta(days=1)


def test_edge_is_the_public_look_up_of_a_move(pipeline: Pipeline) -> None:
    edge = pipeline.edge("new", "qualified")
    assert isinstance(edge, Edge) and (edge.source, edge.target) == ("new", "qualified")
    assert pipeline.edge("new", "ghost") is None and pipeline.edge("ghost", "new") is None
    assert pipeline.targets("new") == tuple(t for s, t, _ in pipeline.edges if s == "new")


def test_value_classes_have_the_derived_plain_form() -> None:
    action = StageAction("call", "Call", timedelta(hours=48), label_zh="电话")
    assert action.to_dict() == {
        "id": "call",
        "label": "Call",
        "within": "P2D",
        "label_zh": "电话",
    }
    assert Stage("w", "W", kind="won").to_dict() == {
        "id": "w",
        "label": "W",
        "kind": "won",
        "probability": 1.0,
        "forecast_category": "closed",
    }
    assert TransitionRules().to_dict() == {
        "forward": True,
        "skip_forward": False,
        "lose_from_open": True,
        "win_from_open": False,
        "regression": False,
        "reopen": False,
    }
    assert Transition("a", "b", Condition("needs")).to_dict() == {
        "from": "a",
        "to": "b",
        "guards": [{"field": "needs", "op": "present"}],
    }


def test_a_null_probability_or_category_means_the_kind_default() -> None:
    data = templates.data("small_team")
    data["stages"][0]["probability"] = None
    data["stages"][0]["forecast_category"] = None
    first = Pipeline.from_dict(data).stages[0]
    assert (first.probability, first.forecast_category) == (0.1, "pipeline")


def test_condition_plain_form_keeps_money_and_lists() -> None:
    data = {"field": "expected_amount", "op": "in", "value": [{"amount": "5", "currency": "CNY"}]}
    cond = Condition.from_dict(data)
    assert isinstance(cond.value, tuple) and cond.to_dict() == data
    with pytest.raises(ConfigError) as info:
        Condition.from_dict({"field": "x", "op": "bogus", "colour": 1})
    assert {p.code for p in info.value.problems} >= {"extra_forbidden", "literal_error"}


def test_entry_guards_round_trip_and_callables_are_named() -> None:
    data = templates.data("small_team")
    data["entry_guards"] = {"needs_confirmed": [{"field": "needs"}]}
    p = Pipeline.from_dict(data)
    assert p.entry_guards == (("needs_confirmed", (Condition("needs"),)),)
    assert p.to_dict()["entry_guards"] == {"needs_confirmed": [{"field": "needs", "op": "present"}]}
    bad = Pipeline(
        "p",
        "P",
        [Stage("a", "A"), Stage("w", "W", kind="won"), Stage("l", "L", kind="lost")],
        entry_guards={"w": [lambda o: True]},
    )
    with pytest.raises(ConfigError) as info:
        bad.to_dict()
    assert [(p.path, p.code) for p in info.value.problems] == [
        (("entry_guards", "w", 0), "not_serializable")
    ]
