"""The hot-path shortcuts of ``Record.from_dict`` decide as the full checks do."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core import _model
from pipeline_core._fastbuild import reader
from pipeline_core._values import FrozenDict
from pipeline_core.errors import ValidationError
from pipeline_core.records import Lead, Money

OPTIONAL = frozenset({"a", "b"})

_values = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.integers(),
    st.floats(allow_nan=True),
    st.decimals(allow_nan=True),
    st.just(datetime(2025, 1, 1, tzinfo=UTC)),
    st.just(Money(amount=Decimal(1), currency="CNY")),
)


def _slow_missing(data: dict[str, Any]) -> set[str]:
    """By hand: the optional fields holding NaN (float or Decimal)."""
    return {
        k
        for k, v in data.items()
        if k in OPTIONAL
        and ((type(v) is float and math.isnan(v)) or (type(v) is Decimal and v.is_nan()))
    }


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), _values))
def test_missing_as_none_sets_only_missing_optional_values(data: dict[str, Any]) -> None:
    result = _model._missing_as_none(data, OPTIONAL)
    nones = _slow_missing(data)
    if not nones:
        assert result is data
    for k, v in data.items():
        if k in nones:
            assert result[k] is None
        else:
            assert result[k] is v


def test_missing_float_nan_in_an_optional_field_is_none() -> None:
    data = {"a": math.nan, "c": math.nan}
    assert _model._missing_as_none(data, OPTIONAL) == {"a": None, "c": data["c"]}


_leaf = st.one_of(
    st.none(),
    st.integers(),
    st.booleans(),
    st.text(max_size=4),
    st.just(datetime(2025, 1, 1, tzinfo=UTC)),
    st.just(date(2025, 1, 1)),
    st.just(timedelta(hours=1)),
    st.just(Decimal("1.5")),
    st.just(Money(amount=Decimal(1), currency="CNY")),
    st.binary(max_size=2),
)
_nested = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=2) | st.binary(max_size=1), inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.frozensets(st.text(max_size=2) | st.binary(max_size=1), max_size=3)
    ),
    max_leaves=10,
)


def _has_bytes_or_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, bytes):
        return True
    if isinstance(value, dict):
        return any(_has_bytes_or_nul(k) or _has_bytes_or_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_bytes_or_nul(v) for v in value)
    return False


@given(_nested)
def test_clean_is_false_exactly_for_bytes_or_nul(value: Any) -> None:
    assert _model._clean(value) is not _has_bytes_or_nul(value)


def test_nul_next_to_a_record_and_an_instant_is_still_refused() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    money = Money(amount=Decimal(1), currency="CNY")
    assert _model._clean({"at": at, "m": money, "x": ["ok"]})
    assert not _model._clean({"at": at, "m": money, "x": ["o\x00k"]})
    problems = _model._bytes_problems({"id": "L1", "budget": money, "custom": {"n": "a\x00"}})
    assert [(p.path, p.code) for p in problems] == [(("custom", "n"), "nul")]
    assert (
        Lead.from_dict({"id": "L1", "created_at": at, "source": "web", "budget": money}).budget
        == money
    )


def test_a_one_field_record_serialises_its_field() -> None:
    @_model.record
    class Label(_model.Record):
        text: str

    label = Label(text="重点")
    assert label.to_dict() == {"text": "重点"}
    assert _model.record_adapter(Label).dump_json(label) == '{"text":"重点"}'.encode()


def test_a_lead_serialises_every_field_in_order() -> None:
    at = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    lead = Lead(
        id="L1", created_at=at, source="web", budget=Money(amount=Decimal(5), currency="CNY")
    )
    doc = lead.to_dict()
    assert list(doc) == [name for name, _ in Lead.__pc_fields__]
    assert doc["budget"] == {"amount": "5", "currency": "CNY"}
    assert doc["created_at"] == "2025-01-02T03:04:00Z"


class _Text(str):
    """A text subclass (as a ``StrEnum`` member is one): checked like text."""


_top_value = st.one_of(
    _nested,
    st.text(max_size=3).map(_Text),
    st.lists(st.text(max_size=3).map(_Text), max_size=2).map(tuple),
    st.dictionaries(st.text(max_size=2), _leaf, max_size=2).map(FrozenDict),
)


@given(st.dictionaries(st.text(max_size=2), _top_value, max_size=6))
def test_clean_of_a_record_shaped_dict_decides_as_a_full_walk(data: dict[str, Any]) -> None:
    # a record's plain data (a dict at the top) against the definition by hand
    assert _model._clean(data) is not _has_bytes_or_nul(data)


def test_text_subclasses_with_nul_are_refused_at_the_top_and_one_level_down() -> None:
    assert not _model._clean({"a": _Text("x\x00")})
    assert not _model._clean({"a": (_Text("ok"), _Text("\x00"))})
    assert not _model._clean({"a": FrozenDict({"k": b"x"})})
    assert _model._clean({"a": (_Text("ok"),), "b": FrozenDict({"k": "v"})})


def test_the_field_reader_returns_the_fields_in_order_and_refuses_non_names() -> None:
    at = datetime(2025, 1, 2, tzinfo=UTC)
    lead = Lead(id="L1", created_at=at, source="web")
    read = reader(("id", "source", "created_at"))
    assert list(read(lead).items()) == [("id", "L1"), ("source", "web"), ("created_at", at)]
    with pytest.raises(ValueError, match="not an identifier"):
        reader(("id", "a-b"))


_any_value = st.one_of(
    _top_value,
    st.floats(allow_nan=True),
    st.decimals(allow_nan=True),
    st.just(math.nan),
    st.lists(st.floats(allow_nan=True), max_size=2),
)


@given(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _any_value, max_size=4),
    st.frozensets(st.sampled_from(["a", "b", "c", "d"])),
)
def test_the_one_pass_precheck_only_says_yes_when_both_checks_find_nothing(
    data: dict[str, Any], optional: frozenset[str]
) -> None:
    for names in (None, frozenset({"a", "b", "c"})):  # with a record's field names too
        if _model._plain_and_clean(data, names):
            assert _model._missing_as_none(data, optional) is data
            assert _model._bytes_problems(data) == []
            assert not _has_bytes_or_nul(data)
            assert names is None or set(data) <= names


def test_the_precheck_passes_a_mapped_lead_and_stops_at_nul_nan_and_bytes() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    money = Money(amount=Decimal(1), currency="CNY")
    lead = {"id": "L1", "created_at": at, "budget": money, "tags": ("a",), "custom": {"v": True}}
    assert _model._plain_and_clean(lead)
    assert not _model._plain_and_clean({**lead, "company": "A\x00"})
    assert not _model._plain_and_clean({**lead, "tags": ("a", "b\x00")})
    assert not _model._plain_and_clean({**lead, "company_size": math.nan})
    assert not _model._plain_and_clean({**lead, "custom": {"v": b"x"}})
    with pytest.raises(ValidationError) as exc:
        Lead.from_dict({**lead, "source": "web", "company": "A\x00"})
    assert [(p.path, p.code) for p in exc.value.problems] == [(("company",), "nul")]


def test_nul_and_bytes_inside_sets_and_in_mapping_keys_are_refused_with_their_place() -> None:
    # a set has no positions: its item's problem is at the set's own path; a key's at its name
    at = datetime(2025, 3, 1, tzinfo=UTC)
    base = {"id": "L7", "created_at": at, "source": "web"}
    cases = [
        ({"tags": {"vip\x00"}}, ("tags",), "nul"),
        ({"tags": frozenset({b"vip"})}, ("tags",), "bytes_type"),
        ({"custom": {"re\x00gion": "华东"}}, ("custom", "re\x00gion"), "nul"),
        ({"custom": {b"region": "华东"}}, ("custom", "b'region'"), "bytes_type"),
    ]
    for extra, path, code in cases:
        with pytest.raises(ValidationError) as exc:
            Lead.from_dict({**base, **extra})
        assert [(p.path, p.code) for p in exc.value.problems] == [(path, code)]
    lead = Lead.from_dict({**base, "tags": {"vip"}, "custom": {"region": "华东"}})
    with pytest.raises(ValidationError):
        lead.evolve(tags=lead.tags | {"new\x00"})


def test_a_shared_container_past_the_budget_goes_to_the_slow_pass_which_finds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # one walk, one budget: a list referenced many times exhausts it (the fast pass says "not
    # sure"), and the slow pass, which visits each container once, then finds no problem
    monkeypatch.setattr(_model, "_CLEAN_BUDGET", 50)
    shared = ["x"] * 10
    data = {"id": "L8", "created_at": datetime(2025, 3, 1, tzinfo=UTC), "source": "web",
            "tags": [shared] * 20}  # fmt: skip
    assert not _model._clean(data)
    assert _model._bytes_problems(data) == []
    assert _model._clean({"tags": [shared] * 2})
