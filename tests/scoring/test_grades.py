"""Grade bands: exact edges, follow-up policies as data, gaps and overlaps refused."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError
from pipeline_core.scoring import DEFAULT_BANDS, Grade, GradeBands

units = st.integers(min_value=0, max_value=1_000_000)  # 0.0000 .. 100.0000


@given(units)
def test_default_bands_are_half_open_and_exact(u: int) -> None:
    value = Decimal(u).scaleb(-4)
    name = DEFAULT_BANDS.grade_for(value).name
    if value >= 80:
        assert name == "A"
    elif value >= 50:
        assert name == "B"
    else:
        assert name == "C"
    assert DEFAULT_BANDS.grade_for_units(u).name == name
    assert DEFAULT_BANDS[name].contains(value)
    assert sum(g.contains(value) for g in DEFAULT_BANDS) == 1  # exactly one band


@pytest.mark.parametrize(
    ("value", "name"),
    [("0", "C"), ("49.9999", "C"), ("50", "B"), ("79.9999", "B"), ("80", "A"), ("100", "A")],
)
def test_band_edges(value: str, name: str) -> None:
    assert DEFAULT_BANDS.grade_for(Decimal(value)).name == name


def test_finer_than_a_unit_rounds_down_never_up() -> None:
    assert DEFAULT_BANDS.grade_for(Decimal("79.99999")).name == "B"
    assert DEFAULT_BANDS.grade_for(79.99999999999999).name == "B"


def test_outside_the_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        DEFAULT_BANDS.grade_for(Decimal("100.0001"))
    with pytest.raises(ValueError, match="outside"):
        DEFAULT_BANDS.grade_for(-1)


def test_follow_up_policies_are_data() -> None:
    a, b, c = DEFAULT_BANDS["A"], DEFAULT_BANDS["B"], DEFAULT_BANDS["C"]
    assert a.follow_up_within == timedelta(days=1) and a.deep_conversation
    assert b.follow_up_within == timedelta(days=3) and not b.deep_conversation
    assert c.follow_up_within is None and c.nurture_every == timedelta(days=30)
    assert [g.priority for g in (a, b, c)] == [1, 2, 3]
    assert DEFAULT_BANDS.to_dict()[0]["follow_up_within"] == "P1D"
    assert DEFAULT_BANDS.names() == ("A", "B", "C")
    assert DEFAULT_BANDS.rank("C") == 2


def g(name: str, low: int, high: int, incl: bool = False) -> Grade:
    return Grade(name=name, low=Decimal(low), high=Decimal(high), high_inclusive=incl)


def test_gap_overlap_and_bad_ends_are_all_listed() -> None:
    with pytest.raises(ConfigError) as info:
        GradeBands.of([g("A", 70, 99), g("B", 40, 75), g("C", 5, 30), g("A", 30, 30)])
    codes = [p.code for p in info.value.problems]
    assert "overlap" in codes  # B reaches 75 > A's 70
    assert "duplicate" in codes
    assert "empty_band" in codes
    assert codes.count("gap") >= 2  # starts at 5 not 0; ends at 99 not 100 inclusive
    assert len(info.value.problems) >= 5


def test_touching_closed_band_is_an_overlap() -> None:
    with pytest.raises(ConfigError) as info:
        GradeBands.of([g("A", 50, 100, True), g("B", 0, 50, True)])
    assert [p.code for p in info.value.problems] == ["overlap"]


@given(st.lists(st.integers(1, 99), min_size=1, max_size=5, unique=True))
def test_any_tiling_is_accepted_and_grades_every_unit(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), 100]
    grades = [
        g(f"G{i}", lo, hi, incl=hi == 100) for i, (lo, hi) in enumerate(itertools.pairwise(edges))
    ]
    bands = GradeBands.of(grades)
    for lo, grade in zip(edges, grades, strict=False):
        assert bands.grade_for(lo) == grade
        if lo > 0:
            assert bands.grade_for(Decimal(lo) - Decimal("0.0001")) != grade
