"""Pipeline definitions: validation lists every problem, rules generate the documented edges,
plain data round-trips and matches the published JSON Schema."""

from __future__ import annotations

import json
from datetime import timedelta

import jsonschema
import pytest

from pipeline_core.errors import ConfigError, NotFoundError
from pipeline_core.records import Role
from pipeline_core.stages import (
    Check,
    Condition,
    Pipeline,
    Stage,
    StageAction,
    StageKind,
    Transition,
    TransitionRules,
    templates,
)


def _stages(*ids: str) -> list[Stage]:
    out = []
    for i in ids:
        kind = "won" if i.startswith("won") else "lost" if i.startswith("lost") else "open"
        out.append(Stage(i, i.title(), kind=kind))
    return out


def codes(exc: ConfigError) -> list[str]:
    return [p.code for p in exc.problems]


def test_defaults_follow_the_stage_kind() -> None:
    open_, won, lost = Stage("a", "A"), Stage("w", "W", kind="won"), Stage("l", "L", kind="lost")
    assert (open_.kind, open_.probability, open_.forecast_category) == (
        StageKind.OPEN,
        0.1,
        "pipeline",
    )
    assert (won.probability, won.forecast_category) == (1.0, "closed")
    assert (lost.probability, lost.forecast_category) == (0.0, "omitted")
    assert Stage("x", "X", role="am").role is Role.AM


def test_lookups_and_rank(pipeline: Pipeline) -> None:
    assert pipeline.stage_ids == ("new", "qualified", "quote", "won", "lost")
    assert pipeline.open_stage_ids == ("new", "qualified", "quote")
    assert pipeline.won_stage_ids == ("won",)
    assert pipeline.lost_stage_ids == ("lost",)
    assert pipeline.first.id == "new"
    assert [pipeline.rank(s) for s in pipeline.stage_ids] == [0, 1, 2, 3, -1]
    assert pipeline.stage("quote").required_fields == ("expected_amount",)
    assert "quote" in pipeline and "nope" not in pipeline
    with pytest.raises(NotFoundError):
        pipeline.stage("nope")
    with pytest.raises(NotFoundError):
        pipeline.rank("nope")


def test_all_problems_are_listed_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Pipeline(
            "p",
            "P",
            [
                Stage("a", "A", probability=1.5),
                Stage("a", "Again"),
                Stage("b", "B", probability=-0.1),
                Stage("island", "Island"),
                Stage("w", "W", kind="won"),
            ],
            transitions=[
                Transition("a", "ghost"),
                Transition("a", "b", [Condition("no_such_field")]),
            ],
            rules=TransitionRules(forward=False, lose_from_open=False),
        )
    found = codes(info.value)
    for code in (
        "probability_range",
        "duplicate_id",
        "no_lost_stage",
        "unknown_stage",
        "unknown_field",
        "unreachable",
        "trap",
    ):
        assert code in found, (code, str(info.value))
    assert found.count("probability_range") == 2
    # The message names the fields and values.
    text = str(info.value)
    assert "stages[0].probability" in text and "1.5" in text
    assert "ghost" in text and "no_such_field" in text


def test_no_won_stage_and_no_open_stage() -> None:
    with pytest.raises(ConfigError) as info:
        Pipeline("p", "P", [Stage("l", "L", kind="lost")])
    assert {"no_won_stage", "no_open_stage"} <= set(codes(info.value))


def test_unreachable_and_trap_stages_are_named() -> None:
    with pytest.raises(ConfigError) as info:
        Pipeline(
            "p",
            "P",
            _stages("a", "b", "c", "won", "lost"),
            transitions=[Transition("a", "won"), Transition("a", "b"), Transition("c", "won")],
            rules=TransitionRules(forward=False, lose_from_open=False),
        )
    problems = {(p.code, p.value) for p in info.value.problems}
    assert ("unreachable", "c") in problems  # nothing leads to c
    assert ("trap", "b") in problems  # b leads nowhere
    assert ("unreachable", "lost") in problems


def test_exit_from_a_final_stage_needs_reopen() -> None:
    stages = _stages("a", "won", "lost")
    with pytest.raises(ConfigError) as info:
        Pipeline("p", "P", stages, transitions=[Transition("won", "a")])
    assert codes(info.value) == ["exit_from_final"]
    p = Pipeline(
        "p", "P", stages, transitions=[Transition("won", "a")], rules=TransitionRules(reopen=True)
    )
    assert "a" in p.targets("won")


def test_bad_values_are_reported() -> None:
    with pytest.raises(ConfigError) as info:
        Pipeline(
            "p",
            "P",
            [
                Stage("a b", "A"),
                Stage("c", "", forecast_category="maybe", rotting_days=0, role="boss"),
                Stage(
                    "d",
                    "D",
                    actions=[StageAction("x", "X", timedelta(0)), StageAction("x", "X again")],
                    required_fields=["nope"],
                ),
                Stage("won", "W", kind="won"),
                Stage("lost", "L", kind="lost"),
            ],
            transitions=[Transition("c", "c")],
            entry_guards={"ghost": [Condition("needs")], "d": [Condition("needs", "gt")]},
        )
    found = set(codes(info.value))
    assert {
        "bad_id",
        "empty",
        "bad_forecast_category",
        "bad_days",
        "bad_role",
        "bad_duration",
        "duplicate_id",
        "unknown_field",
        "self_loop",
        "unknown_stage",
        "bad_value",
    } <= found


def test_guard_value_problems() -> None:
    bad = [
        Condition("expected_amount", "ge", "lots"),
        Condition("expected_close", "lt", "not a date"),
        Condition("needs", "present", 3),
        Condition("needs", "in", "x"),
        Condition("needs", "zz"),
        Condition("closed_at", "lt", "2025-01-01T00:00:00"),  # naive
    ]
    with pytest.raises(ConfigError) as info:
        Pipeline(
            "p",
            "P",
            _stages("a", "won", "lost"),
            transitions=[Transition("a", "won", bad)],
        )
    assert [p.code for p in info.value.problems] == [
        "bad_value",
        "bad_value",
        "bad_value",
        "bad_value",
        "unknown_operator",
        "bad_value",
    ]


def test_rules_generate_the_documented_edges() -> None:
    stages = _stages("a", "b", "c", "won", "lost")

    def edges(**kw: bool) -> set[tuple[str, str]]:
        return {(s, t) for s, t, _ in Pipeline("p", "P", stages, rules=TransitionRules(**kw)).edges}

    forward = {("a", "b"), ("b", "c"), ("c", "won")}
    to_lost = {("a", "lost"), ("b", "lost"), ("c", "lost")}
    assert edges() == forward | to_lost
    assert edges(skip_forward=True) == forward | to_lost | {("a", "c"), ("a", "won"), ("b", "won")}
    assert edges(regression=True) == forward | to_lost | {("b", "a"), ("c", "a"), ("c", "b")}
    assert edges(reopen=True) == forward | to_lost | {("lost", "a"), ("lost", "b"), ("lost", "c")}
    assert edges(win_from_open=True) == forward | to_lost | {("a", "won"), ("b", "won")}


def test_guards_combine_required_fields_entry_guards_and_edge_guards() -> None:
    p = Pipeline(
        "p",
        "P",
        [
            Stage("a", "A"),
            Stage("b", "B", required_fields=["needs"]),
            Stage("won", "W", kind="won"),
            Stage("lost", "L", kind="lost"),
        ],
        transitions=[Transition("a", "b", Condition("intent", "eq", "high"))],
        entry_guards={"b": [Condition("expected_amount", "present")]},
    )
    checks = {(s, t): c for s, t, c in p.edges}
    assert checks[("a", "b")] == ("needs present", "expected_amount present", "intent == 'high'")
    assert checks[("b", "won")] == ()


def test_round_trip_through_plain_data_and_json(pipeline: Pipeline) -> None:
    data = json.loads(json.dumps(pipeline.to_dict()))
    again = Pipeline.from_dict(data)
    assert again == pipeline
    assert again.edges == pipeline.edges
    assert again.stage("new").actions[0].within == timedelta(hours=48)


@pytest.mark.parametrize("name", templates.names())
def test_every_template_validates_against_the_schema_and_round_trips(name: str) -> None:
    schema = Pipeline.json_schema()
    data = templates.data(name)
    jsonschema.validate(data, schema)
    p = templates.get(name)
    dumped = json.loads(json.dumps(p.to_dict()))
    jsonschema.validate(dumped, schema)
    assert Pipeline.from_dict(dumped) == p


def test_schema_refuses_what_from_dict_refuses() -> None:
    schema = Pipeline.json_schema()
    data = templates.data("small_team")
    data["stages"][0]["probability"] = 3
    data["stages"][1]["colour"] = "red"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
    with pytest.raises(ConfigError) as info:
        Pipeline.from_dict(data)
    assert "extra_forbidden" in codes(info.value)


def test_from_dict_lists_semantic_problems_together() -> None:
    data = templates.data("small_team")
    data["stages"][0]["probability"] = 3
    data["stages"].append({"id": "orphan", "label": "Orphan", "kind": "won"})
    data["rules"]["forward"] = False  # now only lost is reachable from the first stage
    data["transitions"] = [{"from": "won", "to": "first_contact", "guards": [{"field": "bogus"}]}]
    with pytest.raises(ConfigError) as info:
        Pipeline.from_dict(data)
    assert {"probability_range", "unreachable", "exit_from_final", "unknown_field"} <= set(
        codes(info.value)
    )


def test_callable_guards_cannot_be_dumped() -> None:
    p = Pipeline(
        "p",
        "P",
        _stages("a", "won", "lost"),
        transitions=[Transition("a", "won", Check(lambda o: True, "always"))],
    )
    with pytest.raises(ConfigError) as info:
        p.to_dict()
    assert info.value.problems[0].code == "not_serializable"


def test_pipelines_are_immutable(pipeline: Pipeline) -> None:
    with pytest.raises(AttributeError):
        pipeline.name = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        pipeline.stages[0].label = "x"  # type: ignore[misc]
