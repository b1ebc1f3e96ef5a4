"""The derived plain form of definitions (:mod:`pipeline_core._definition`) and the deprecation
helpers (:mod:`pipeline_core._deprecation`)."""

from __future__ import annotations

import enum
import warnings
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core._definition import definition, plain, raise_problems
from pipeline_core._deprecation import moved, renamed_params
from pipeline_core.errors import ConfigError, Problem


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


@definition("step")
@attrs.frozen
class Step:
    id: str
    within: timedelta | None = None
    urgent: bool = False


@definition("rule", tag=("kind", "range"))
@attrs.frozen
class Band:
    points: int
    low: Decimal | None = None


@definition("rule", tag=("kind", "contains"))
@attrs.frozen
class Word:
    value: str
    points: int


def _not_negative(thing: Thing) -> Iterator[Problem]:
    if thing.size < 0:
        yield Problem(("size",), "must be 0 or more", thing.size, "negative")


@definition("thing")
@attrs.frozen
class Thing:
    id: str
    source: str = attrs.field(metadata=plain(alias="from"))
    colour: Colour = Colour.RED
    size: int = 0
    steps: tuple[Step, ...] = ()
    rules: tuple[Band | Word, ...] = ()

    def __attrs_post_init__(self) -> None:
        raise_problems("thing", self, [_not_negative])


DATA = {
    "id": "x",
    "from": "y",
    "colour": "blue",
    "steps": [{"id": "call", "within": "PT4H"}],
    "rules": [
        {"kind": "range", "points": 3, "low": "1.5"},
        {"kind": "contains", "value": "v", "points": 2},
    ],
}


def test_from_dict_builds_nested_values_and_tagged_unions() -> None:
    thing = Thing.from_dict(DATA)  # type: ignore[attr-defined]
    assert thing == Thing(
        "x",
        "y",
        Colour.BLUE,
        steps=(Step("call", timedelta(hours=4)),),
        rules=(Band(3, Decimal("1.5")), Word("v", 2)),
    )


def test_to_dict_leaves_out_defaults_and_uses_aliases() -> None:
    assert Thing("x", "y").to_dict() == {"id": "x", "from": "y"}  # type: ignore[attr-defined]
    out = Thing.from_dict(DATA).to_dict()  # type: ignore[attr-defined]
    assert out["rules"][0] == {"kind": "range", "points": 3, "low": "1.5"}
    assert out["steps"] == [{"id": "call", "within": "PT4H"}]


@given(
    size=st.integers(min_value=0, max_value=10**6),
    hours=st.none() | st.integers(min_value=0, max_value=10**4),
    points=st.lists(st.integers(-100, 100), max_size=4),
)
def test_round_trip(size: int, hours: int | None, points: list[int]) -> None:
    within = None if hours is None else timedelta(hours=hours)
    thing = Thing("a", "b", size=size, steps=(Step("s", within),), rules=tuple(map(Band, points)))
    assert Thing.from_dict(thing.to_dict()) == thing  # type: ignore[attr-defined]


def test_every_problem_has_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        Thing.from_dict(
            {"id": "x", "from": "y", "extra": 1, "rules": [{"kind": "range", "points": "q"}]}
        )  # type: ignore[attr-defined]
    fields = {p.field: p.message for p in caught.value.problems}
    assert fields["extra"] == "unknown field"
    assert "rules[0].points" in fields  # the union member's tag is not a step of the path


def test_semantic_checks_of_nested_and_top_values_are_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        Thing.from_dict({"id": "x", "from": "y", "size": -1})  # type: ignore[attr-defined]
    assert [(p.field, p.code) for p in caught.value.problems] == [("size", "negative")]


def test_json_schema_is_derived() -> None:
    schema = Thing.json_schema()  # type: ignore[attr-defined]
    assert schema["required"] == ["id", "from"]
    assert schema["additionalProperties"] is False


def test_renamed_params_warns_and_forwards() -> None:
    @renamed_params(now="as_of")
    def f(*, as_of: int) -> int:
        return as_of

    with pytest.warns(DeprecationWarning, match="as_of"):
        assert f(now=3) == 3
    with pytest.raises(TypeError, match="both"):
        f(now=1, as_of=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(as_of=4) == 4


def test_moved_names_warn_and_resolve() -> None:
    getattr_ = moved("pkg", {"Old": "pipeline_core.errors:ConfigError"})
    with pytest.warns(DeprecationWarning, match="pipeline_core.errors.ConfigError"):
        assert getattr_("Old") is ConfigError
    with pytest.raises(AttributeError):
        getattr_("Nope")
