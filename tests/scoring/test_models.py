"""BANT.default(), Score results, missing data, overrides, config errors, plain data round trip."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scoring_support import lead_from_row, rows

from pipeline_core.errors import ConfigError
from pipeline_core.records import Lead
from pipeline_core.scoring import (
    BANT,
    Category,
    Contains,
    Criterion,
    Missing,
    Override,
    Predicate,
    Range,
    ScoreModel,
)

# The documented BANT.default() table (docs/scoring.md), written out independently.
AUTHORITY = {"decision_maker": 25, "influencer": 15, "user": 8, "none": 0}
NEED = {"strong": 15, "medium": 9, "weak": 3}
INTENT = {"high": 10, "medium": 6, "low": 2}
TIMELINE = {
    "within_1_month": 25,
    "1_3_months": 18,
    "3_6_months": 10,
    "over_6_months": 4,
    "no_plan": 0,
}


def budget_points(amount: int | None) -> int:
    if amount is None:
        return 0
    if amount >= 500_000:
        return 25
    if amount >= 100_000:
        return 20
    if amount >= 30_000:
        return 12
    return 5


def expected_bant(row: dict[str, Any]) -> int:
    return (
        budget_points(row["budget"])
        + AUTHORITY.get(row["authority"], 0)
        + NEED.get(row["need"], 0)
        + INTENT.get(row["intent"], 0)
        + TIMELINE.get(row["timeline"], 0)
    )


def expected_grade(score: float) -> str:
    return "A" if score >= 80 else "B" if score >= 50 else "C"


@given(rows)
def test_bant_default_follows_the_documented_table(row: dict[str, Any]) -> None:
    model = BANT.default()
    want = expected_bant(row)
    assert model.score_many([row])[0] == want
    assert model.score(row).grade.name == expected_grade(want)
    score = model.score(row)
    assert score.value == Decimal(want)
    assert score.grade.name == expected_grade(want)


@given(rows)
def test_object_path_equals_mapping_path_and_full_score(row: dict[str, Any]) -> None:
    model = BANT.default()
    lead = lead_from_row(row)
    assert model.score_units(lead) == model.score_units(row)
    full = model.score(lead)
    assert full.units == model.score_units(lead)
    assert full.grade == model.score(lead).grade
    assert sum(c.points for c in full.contributions) == full.value  # no clamp needed in BANT
    assert model.score(lead) == full  # same input, same score


def test_lead_to_dict_is_scored_like_the_lead() -> None:
    row = {
        "budget": 120_000,
        "authority": "user",
        "need": "strong",
        "intent": None,
        "timeline": "3_6_months",
        "industry": None,
        "company_size": None,
        "source": "event",
    }
    lead = lead_from_row(row)
    assert BANT.default().score_units(lead.to_dict()) == BANT.default().score_units(lead)
    assert BANT.default().score_many([lead])[0] == 20 + 8 + 15 + 0 + 10


def test_missing_data_is_shown_in_the_result_and_explain() -> None:
    model = BANT.default()
    score = model.score({"need": "strong", "timeline": "no_plan"})
    missing = {c.criterion for c in score.contributions if c.missing}
    assert missing == {"budget", "authority", "intent"}
    text = score.explain()
    assert "bant v1" in text
    assert "missing → zero" in text
    assert "grade C" in text
    assert len([ln for ln in text.splitlines() if ln.strip().startswith(("budget", "need"))]) == 2


def test_missing_policies_zero_neutral_penalty() -> None:
    crit = [Range(10, low=0)]
    zero = ScoreModel.of("z", [Criterion("x", "x", crit), Criterion("y", "y", [Range(50, low=0)])])
    neutral = ScoreModel.of(
        "n",
        [
            Criterion("x", "x", crit, missing=Missing.neutral(5)),
            Criterion("y", "y", [Range(50, low=0)]),
        ],
    )
    penalty = ScoreModel.of(
        "p",
        [
            Criterion("x", "x", crit, missing=Missing.penalty(-7)),
            Criterion("y", "y", [Range(50, low=0)]),
        ],
    )
    row = {"y": 1}
    assert zero.score_many([row])[0] == 50
    assert neutral.score_many([row])[0] == 55
    assert penalty.score_many([row])[0] == 43
    assert penalty.score(row).contributions[0].rule == "missing → penalty"


def test_negative_total_is_clamped_to_zero_and_shown() -> None:
    model = ScoreModel.of(
        "p", [Criterion("x", "x", [Range(1, low=0)], missing=Missing.penalty(-7))]
    )
    score = model.score({})
    assert score.value == 0
    assert score.raw == -7
    assert "limited to 0" in score.explain()


def test_weights_multiply_exactly() -> None:
    model = ScoreModel.of(
        "w",
        [
            Criterion("a", "a", [Category(["x"], "33.33")], weight="1.5"),
            Criterion("b", "b", [Category(["y"], "0.01")], weight="0.01"),
        ],
    )
    assert model.score({"a": "x", "b": "y"}).value == Decimal("33.33") * Decimal("1.5") + Decimal(
        "0.01"
    ) * Decimal("0.01")
    assert model.score({"a": "x", "b": "y"}).grade.name == "C"


def test_override_budget_unknown_caps_at_b() -> None:
    crits = [
        Criterion("budget", "budget", [Range(0, low=0)]),
        Criterion("fit", "fit", [Category(["great"], 95)]),
    ]
    model = ScoreModel.of("o", crits, overrides=[Override("budget", missing=True, max_grade="B")])
    capped = model.score({"fit": "great"})
    assert capped.grade.name == "B"
    assert capped.value == Decimal("79.9999")
    assert capped.adjustments == ("budget missing → at most B",)
    assert model.score({"fit": "great", "budget": 10}).grade.name == "A"
    assert model.score_units({"fit": "great"}) == capped.units


def test_override_min_grade_by_value() -> None:
    crits = [Criterion("source", "source", [Category(["referral"], 1)])]
    model = ScoreModel.of(
        "o", crits, overrides=[Override("source", values=["referral"], min_grade="B")]
    )
    assert model.score({"source": "referral"}).value == 50
    assert model.score({"source": "event"}).value == 0


def test_contains_count_and_predicate_rules() -> None:
    model = ScoreModel.of(
        "fit",
        [
            Criterion("pain", "pain_points", [Contains("cost", 10), Contains("compliance", 6)]),
            Criterion(
                "pains",
                "pain_points",
                [Range(0, high=1), Range(4, low=1, high=3), Range(8, low=3)],
                measure="count",
            ),
            Criterion("big", "company_size", [Predicate("≥ 200 staff", lambda v: v >= 200, 20)]),
            Criterion("vip", "custom.vip", [Category(["True"], 1)], otherwise=0),
        ],
    )
    from datetime import UTC, datetime

    lead = Lead(
        id="l",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        source="web",
        pain_points=("compliance", "cost", "slow"),
        company_size=250,
    )
    assert model.score_many([lead])[0] == 10 + 8 + 20
    assert model.score_many([{"pain_points": ["compliance"], "company_size": 10}])[0] == 6 + 4
    assert "Predicate('≥ 200 staff' -> 20)" in repr(model.criteria[2])


def test_reprs_are_readable() -> None:
    assert repr(Range(20, low=100_000, high=500_000)) == "Range(100000 ≤ v < 500000 -> 20)"
    assert repr(Category(["user"], 8)) == "Category(['user'] -> 8)"
    assert "budget" in repr(BANT.default())


def test_bad_config_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        ScoreModel.of(
            "bad",
            [
                Criterion("a", "a", [Range(5, low=0, high=10), Range(6, low=5)], weight=-1),
                Criterion("a", "b", [Category(["x"], 1), Category(["x"], 2)], weight="0.001"),
                Criterion("c", "c", [], missing=Missing("neutral", -1)),
            ],
            overrides=[Override("nope", missing=True, max_grade="Z")],
        )
    codes = {p.code for p in info.value.problems}
    assert {
        "negative_weight",
        "overlap",
        "duplicate",
        "unknown_criterion",
        "unknown_grade",
        "precision",
        "empty",
        "missing",
    } <= codes
    assert "criteria[0].weight" in info.value.fields
    assert "overrides[0].criterion" in info.value.fields


def test_round_trip_and_from_dict_errors() -> None:
    model = BANT.default()
    data = json.loads(json.dumps(model.to_dict()))
    again = ScoreModel.from_dict(data)
    assert again == model
    assert again.to_dict() == model.to_dict()
    data["criteria"][0]["weight"] = "-2"
    data["criteria"][1]["rules"][0]["kind"] = "bogus"
    data["bands"][0]["low"] = "85"
    with pytest.raises(ConfigError) as info:
        ScoreModel.from_dict(data)
    assert len(info.value.problems) == 1  # shape errors first: the unknown kind
    data["criteria"][1]["rules"][0]["kind"] = "category"
    with pytest.raises(ConfigError) as info:
        ScoreModel.from_dict(data)
    assert {"negative_weight", "gap"} <= {p.code for p in info.value.problems}


def test_tuned_changes_weights_and_refuses_unknown_criteria() -> None:
    base = BANT.default()
    tuned = base.tuned(
        {"version": "acme-2", "criteria": {"budget": {"weight": "0.8"}, "intent": None}}
    )
    assert tuned.version == "acme-2"
    assert [c.name for c in tuned.criteria] == ["budget", "authority", "need", "timeline"]
    row = {"budget": 600_000, "intent": "high"}
    assert tuned.score_many([row])[0] == 20
    with pytest.raises(ConfigError) as info:
        base.tuned({"criteria": {"budgett": {"weight": 2}}})
    assert info.value.problems[0].code == "unknown_criterion"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def hostile_models(draw: st.DrawFn) -> dict[str, Any]:
    """BANT.default()'s plain data with one to three places replaced by arbitrary JSON."""
    data = json.loads(json.dumps(BANT.default().to_dict()))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)[1:]))
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = draw(json_values)
    return data  # type: ignore[no-any-return]


def test_json_schema_is_published() -> None:
    schema = ScoreModel.json_schema()
    assert schema["type"] == "object"
    assert {"name", "criteria"} <= set(schema["required"])
    assert "Range" in json.dumps(schema)


@given(hostile_models())
def test_from_dict_accepts_or_refuses_with_config_error(data: dict[str, Any]) -> None:
    try:
        model = ScoreModel.from_dict(data)
    except ConfigError as exc:
        assert exc.problems
    else:
        assert ScoreModel.from_dict(model.to_dict()) == model


@given(st.integers(min_value=0, max_value=1_000_000))
def test_grade_matches_bands_on_every_unit(units: int) -> None:
    model = ScoreModel.of("u", [Criterion("x", "x", [Range(0, low=0)])])
    value = Decimal(units) / 10_000
    grade = model.bands.grade_for(value)
    assert grade.name == expected_grade(value)  # type: ignore[arg-type]


def test_objects_without_lead_fields_read_them_as_missing() -> None:
    from datetime import UTC, datetime

    from pipeline_core.records import Money, Opportunity

    opp = Opportunity(
        id="o1",
        name="deal",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        owner_id="u1",
        stage="new",
        stage_entered_at=datetime(2025, 1, 1, tzinfo=UTC),
        intent="high",
        expected_amount=Money.of(10, "CNY"),
    )
    model = BANT.default()
    assert model.score_many([opp])[0] == 10  # only intent is known
    assert model.score(opp).value == 10
    assert {c.criterion for c in model.score(opp).contributions if c.missing} == {
        "budget",
        "authority",
        "need",
        "timeline",
    }


def test_importing_scoring_loads_no_dataframe_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pipeline_core.scoring; "
        "print(sorted(m for m in ('narwhals', 'polars', 'pandas', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_score_many_matches_one_lead_at_a_time() -> None:
    model = BANT.default()
    leads = [{"need": "strong"}, {"budget": 10}, {}]
    one_at_a_time = [model.score_many([x])[0] for x in leads]
    assert model.score_many(leads) == one_at_a_time == [15.0, 5.0, 0.0]
