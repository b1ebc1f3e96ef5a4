"""A :class:`ConfigError` from ``from_dict`` lists every problem at once (review #18): bytes/sets
beside schema problems, and a definition's own checks beside those of a failed nested one."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest

from pipeline_core._definition import definition, raise_problems
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.metrics.segments import SegmentPolicy
from pipeline_core.scoring import BANT, ScoreModel


def _check_positive(value: Inner) -> Iterator[Problem]:
    if value.n < 0:
        yield Problem(("n",), "must be >= 0", value.n, "negative")


@definition("inner")
@attrs.frozen
class Inner:
    n: int

    def __attrs_post_init__(self) -> None:
        raise_problems("inner", self, (_check_positive,))


def _check_label(value: Outer) -> Iterator[Problem]:
    if value.label == "bad":
        yield Problem(("label",), "not 'bad'", value.label, "bad_label")
    if value.inner is not None:
        yield Problem(("inner",), "would be hidden under the failed field", None, "hidden")


@definition("outer")
@attrs.frozen
class Outer:
    label: str
    inner: Inner | None = None

    def __attrs_post_init__(self) -> None:
        raise_problems("outer", self, (_check_label,))


def test_bytes_listed_with_schema_problems() -> None:
    m = BANT.default().to_dict()
    m["criteria"][0]["name"] = b"x"
    m["criteria"][1]["weight"] = "w"
    m["zzz"] = 1
    with pytest.raises(ConfigError) as info:
        ScoreModel.from_dict(m)
    assert info.value.fields == ("criteria[0].name", "criteria[1].weight", "zzz")
    assert info.value.problems[0].code == "bytes_type"


def test_bytes_alone_still_refused() -> None:
    m = BANT.default().to_dict()
    m["criteria"][0]["name"] = b"x"
    with pytest.raises(ConfigError) as info:
        ScoreModel.from_dict(m)
    assert info.value.fields == ("criteria[0].name",)


def test_depth_checked_first() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(100):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    with pytest.raises(ConfigError) as info:
        ScoreModel.from_dict({"name": b"x", "deep": deep})
    assert [p.code for p in info.value.problems] == ["too_deep"]


def test_self_nested_problems_listed_with_the_parent_ones() -> None:
    data = {
        "segments": [
            {"name": "x", "min_idle_days": -1, "any_of": [{"name": "a", "min_idle_days": -5}]}
        ]
    }
    with pytest.raises(ConfigError) as info:
        SegmentPolicy.from_dict(data)
    assert info.value.fields == ("segments[0].min_idle_days", "segments[0].any_of[0].min_idle_days")


def test_parent_checks_run_when_a_child_fails() -> None:
    with pytest.raises(ConfigError) as info:
        Outer.from_dict({"label": "bad", "inner": {"n": -1}})  # type: ignore[attr-defined]
    assert info.value.fields == ("inner.n", "label")


def test_parent_not_checked_without_a_required_failed_field() -> None:
    @definition("holder")
    @attrs.frozen
    class Holder:
        inner: Inner
        label: str = "x"

    with pytest.raises(ConfigError) as info:
        Holder.from_dict({"inner": {"n": -1}})  # type: ignore[attr-defined]
    assert info.value.fields == ("inner.n",)


def test_problem_field_with_non_text_keys() -> None:
    assert Problem((b"hours", 0, "x"), "m").field == "b'hours'[0].x"
    assert Problem(("a", (1, 2)), "m").field == "a.(1, 2)"


def test_bytes_key_in_calendar_is_a_config_error() -> None:
    from pipeline_core.sla import BusinessCalendar

    with pytest.raises(ConfigError) as info:
        BusinessCalendar.from_dict({b"hours": 1})  # type: ignore[dict-item]
    assert info.value.fields == ("b'hours'",)
