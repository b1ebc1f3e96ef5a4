"""score_frame equals the object path on every row (polars and pandas, hypothesis rows)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_support import lead_from_row, rows

from pipeline_core.errors import ConfigError
from pipeline_core.scoring import (
    BANT,
    Category,
    Contains,
    Criterion,
    Decay,
    Missing,
    Override,
    Predicate,
    Range,
    ScoreModel,
    WeightedSum,
    score_frame,
)


def fit_model() -> ScoreModel:
    return ScoreModel.of(
        "fit",
        [
            Criterion(
                "industry",
                "industry",
                [Category(["saas", "finance"], "50.5"), Category(["education"], 30)],
                weight="0.9",
                missing=Missing.neutral(20),
            ),
            Criterion(
                "size",
                "company_size",
                [Range(10, high=50), Range("30.25", low=50, high=1000), Range(60, low=1000)],
                missing=Missing.penalty(-15),
            ),
            Criterion("budget", "budget", [Range(5, low="30000.5")]),
        ],
        overrides=[
            Override("budget", missing=True, max_grade="B"),
            Override("industry", values=["finance"], min_grade="B"),
        ],
    )


MODELS = [
    BANT.default(),
    fit_model(),
    WeightedSum.of("combo", [(BANT.default(), "0.55"), (fit_model(), "0.45")]),
]


def check(frame_out: Any, data: list[dict[str, Any]], model: Any) -> None:
    out = pl.from_pandas(frame_out) if isinstance(frame_out, pd.DataFrame) else frame_out
    for row, score, grade in zip(
        data, out["score"].to_list(), out["grade"].to_list(), strict=False
    ):
        assert score == model.score_many([row])[0]
        assert grade == model.score(row).grade.name
        assert score == model.score_many([lead_from_row(row)])[0]


@settings(max_examples=25)
@given(st.lists(rows, min_size=1, max_size=30), st.sampled_from(range(len(MODELS))))
def test_polars_frame_equals_object_path(data: list[dict[str, Any]], which: int) -> None:
    model = MODELS[which]
    frame = pl.DataFrame(
        data,
        schema={
            "budget": pl.Int64,
            "authority": pl.String,
            "need": pl.String,
            "intent": pl.String,
            "timeline": pl.String,
            "industry": pl.String,
            "company_size": pl.Int64,
            "source": pl.String,
        },
    )
    out = score_frame(frame, model)
    assert isinstance(out, pl.DataFrame)
    assert out.columns[-2:] == ["score", "grade"]
    check(out, data, model)


@settings(max_examples=15)
@given(st.lists(rows, min_size=1, max_size=20), st.sampled_from(range(len(MODELS))))
def test_pandas_frame_equals_object_path(data: list[dict[str, Any]], which: int) -> None:
    model = MODELS[which]
    frame = pd.DataFrame(data)
    frame["budget"] = frame["budget"].astype("float64")  # pandas: NaN for unknown budgets
    out = score_frame(frame, model)
    assert isinstance(out, pd.DataFrame)
    expected = [{**r, "budget": None if r["budget"] is None else float(r["budget"])} for r in data]
    check(out, expected, model)


def test_float_amounts_at_non_binary_limits() -> None:
    model = ScoreModel.of(
        "f", [Criterion("b", "budget", [Range(7, low="0.1"), Range(3, high="0.1")])]
    )
    values = [0.1, 0.09999999999999999, 0.10000000000000002, None]
    out = score_frame(pl.DataFrame({"budget": values}), model)
    assert out["score"].to_list() == [model.score_many([{"budget": v}])[0] for v in values]
    assert out["score"].to_list() == [7, 3, 7, 0]


def test_budget_amount_alias_list_columns_and_lazy_frames() -> None:
    model = ScoreModel.of(
        "p",
        [
            Criterion("pain", "pain_points", [Contains("cost", 10)]),
            Criterion("n", "pain_points", [Range(1, high=2), Range(5, low=2)], measure="count"),
            Criterion(
                "big",
                "company_size",
                [Predicate("big", lambda v: v >= 100, 20, frame=lambda c: c >= 100)],
            ),
            Criterion("budget", "budget", [Range(3, low=0)]),
        ],
    )
    data = {
        "pain_points": [["cost", "x"], [], None],
        "company_size": [150, 5, None],
        "budget_amount": [1, None, 5],
    }
    lazy = pl.LazyFrame(data)
    out = score_frame(lazy, model).collect()
    rows_ = [dict(zip(data, vals, strict=False)) for vals in zip(*data.values(), strict=False)]
    assert out["score"].to_list() == model.score_many(rows_)
    assert out["score"].to_list() == [10 + 5 + 20 + 3, 1, 3]


def test_frame_problems_are_listed() -> None:
    model = ScoreModel.of(
        "x",
        [
            Criterion("recency", "last_at", [Decay(10, timedelta(days=1))]),
            Criterion("code", "industry", [Predicate("p", lambda v: True, 1)]),
            Criterion("gone", "nowhere", [Category(["a"], 1)]),
        ],
    )
    with pytest.raises(ConfigError) as info:
        score_frame(pl.DataFrame({"last_at": [None], "industry": ["a"]}), model)
    assert len(info.value.problems) == 3
    assert "columns.nowhere" in info.value.fields


def test_columns_mapping_renames() -> None:
    frame = pl.DataFrame({"auth": ["decision_maker", None]})
    model = ScoreModel.of("a", [BANT.default().criteria[1]])
    out = score_frame(frame, model, columns={"authority": "auth"}, score="s", grade="g")
    assert out["s"].to_list() == [25.0, 0.0]
    assert out["g"].to_list() == ["C", "C"]


custom_values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["gold", "silver", "1", "true"])
)
TIER = ScoreModel.of(
    "tier",
    [
        Criterion(
            "tier",
            "custom.tier",
            [Category(["gold", "true"], 30), Category(["silver", "2"], 20), Category(["-1"], 5)],
            missing=Missing.neutral("7.5"),
            otherwise=1,
        )
    ],
)


@settings(max_examples=30)
@given(st.lists(custom_values, min_size=1, max_size=12))
def test_custom_field_categories_match_text_bool_and_int_alike(values: list[Any]) -> None:
    rows_ = [{"custom": {"tier": v}} for v in values]
    want = TIER.score_many(rows_)
    expected_points = []
    for v in values:
        if v is None:
            expected_points.append(7.5)
        elif v in ("gold", "true") or v is True:
            expected_points.append(30.0)
        elif v == "silver" or (type(v) is int and v == 2) or v == "2":
            expected_points.append(20.0)
        elif type(v) is int and v == -1:
            expected_points.append(5.0)
        else:
            expected_points.append(1.0)
    assert want == expected_points
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) <= 1:  # a typed polars column
        dtype = {bool: pl.Boolean, int: pl.Int64}.get(next(iter(kinds), str), pl.String)
        out = score_frame(
            pl.DataFrame({"custom.tier": values}, schema={"custom.tier": dtype}), TIER
        )
        assert out["score"].to_list() == want
        pd_dtype = {bool: "boolean", int: "Int64"}.get(next(iter(kinds), str), "string")
        frame = pd.DataFrame({"custom.tier": pd.Series(values, dtype=pd_dtype)})
        assert score_frame(frame, TIER)["score"].tolist() == want


def test_true_and_one_are_different_categories() -> None:
    model = ScoreModel.of("x", [Criterion("a", "a", [Category(["1"], 1), Category(["true"], 2)])])
    assert [model.score_many([{"a": v}])[0] for v in (1, True, "1", "true", 0, False)] == [
        1,
        2,
        1,
        2,
        0,
        0,
    ]
    with pytest.raises(ConfigError, match="object column"):
        score_frame(pd.DataFrame({"a": pd.Series([1, "x", None], dtype=object)}), model)
