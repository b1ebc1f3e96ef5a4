"""Kaplan–Meier and Aalen–Johansen against a textbook example and against the definitions."""

from __future__ import annotations

import statistics
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core.metrics import aalen_johansen, kaplan_meier
from pipeline_core.metrics._common import quantile_linear

# Freireich et al. (1963), 6-MP arm, weeks of remission; False = censored. Published KM values.
SIXMP = [
    (6, True),
    (6, True),
    (6, True),
    (6, False),
    (7, True),
    (9, False),
    (10, True),
    (10, False),
    (11, False),
    (13, True),
    (16, True),
    (17, False),
    (19, False),
    (20, False),
    (22, True),
    (23, True),
    (25, False),
    (32, False),
    (32, False),
    (34, False),
    (35, False),
]


def test_kaplan_meier_textbook_values() -> None:
    curve = kaplan_meier([t for t, _ in SIXMP], [o for _, o in SIXMP])
    published = {6: 0.857, 7: 0.807, 10: 0.753, 13: 0.690, 16: 0.627, 22: 0.538, 23: 0.448}
    assert curve.times == tuple(float(t) for t in published)
    for t, s in published.items():
        assert curve.survival_at(t) == pytest.approx(s, abs=5e-4)
    assert curve.at_risk == (21, 17, 15, 12, 11, 7, 6)
    assert curve.median() == 23.0
    assert curve.survival_at(5.9) == 1.0


durations = st.lists(st.integers(0, 30), min_size=1, max_size=40)


def brute_km(times: list[int], causes: list[int], t: int) -> tuple[Fraction, Fraction]:
    """S(t) and CIF of cause 1 at t, straight from the definitions, in exact fractions."""
    s, cif = Fraction(1), Fraction(0)
    for u in sorted(set(times)):
        if u > t:
            break
        n = sum(1 for x in times if x >= u)
        d_all = sum(1 for x, c in zip(times, causes, strict=True) if x == u and c != 0)
        d_1 = sum(1 for x, c in zip(times, causes, strict=True) if x == u and c == 1)
        cif += s * Fraction(d_1, n)
        s *= 1 - Fraction(d_all, n)
    return s, cif


@settings(max_examples=150, deadline=None)
@given(data=st.data(), times=durations)
def test_estimators_match_the_definitions(data: st.DataObject, times: list[int]) -> None:
    causes = data.draw(
        st.lists(st.sampled_from([0, 1, 2]), min_size=len(times), max_size=len(times))
    )
    curve = aalen_johansen(times, causes)
    for t in range(-1, 32):
        s, cif = brute_km(times, causes, t)
        assert curve.survival_at(t) == pytest.approx(float(s), abs=1e-12)
        assert curve.incidence_at(t) == pytest.approx(float(cif), abs=1e-12)
    # quantile: the smallest time where S ≤ 1 − q, with q the decimal it is written as (0.9 is
    # 9/10, not the binary float just above it: S = 1/10 reaches it)
    for q in (0.25, 0.5, 0.9):
        want = next(
            (
                u
                for u in sorted(set(times))
                if brute_km(times, causes, u)[0] <= 1 - Fraction(str(q))
            ),
            None,
        )
        assert curve.quantile(q) == (None if want is None else float(want))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), times=durations)
def test_aalen_johansen_equals_one_minus_km_without_competing_events(
    data: st.DataObject, times: list[int]
) -> None:
    observed = data.draw(st.lists(st.booleans(), min_size=len(times), max_size=len(times)))
    km = kaplan_meier(times, observed)
    aj = aalen_johansen(times, [1 if o else 0 for o in observed])
    for t in range(-1, 32):
        assert aj.incidence_at(t) == pytest.approx(1 - km.survival_at(t), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), times=durations)
def test_competing_incidences_add_up_to_one_minus_survival(
    data: st.DataObject, times: list[int]
) -> None:
    causes = data.draw(
        st.lists(st.sampled_from([0, 1, 2]), min_size=len(times), max_size=len(times))
    )
    won = aalen_johansen(times, causes)
    lost = aalen_johansen(times, [{1: 2, 2: 1}.get(c, 0) for c in causes])
    for t in range(32):
        assert won.incidence_at(t) + lost.incidence_at(t) == pytest.approx(
            1 - won.survival_at(t), abs=1e-12
        )
    # treating lost as censoring (plain KM for "won") never understates P(won by t)
    naive = kaplan_meier(times, [c == 1 for c in causes])
    for t in range(32):
        assert 1 - naive.survival_at(t) >= won.incidence_at(t) - 1e-12


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=2, max_size=50))
def test_linear_quantile_is_the_inclusive_method(values: list[int]) -> None:
    xs = sorted(values)
    cuts = statistics.quantiles(xs, n=10, method="inclusive")
    for i, cut in enumerate(cuts, start=1):
        assert quantile_linear(xs, i / 10) == pytest.approx(cut)
    assert quantile_linear(xs, 0.5) == pytest.approx(statistics.median(xs))
    assert quantile_linear([], 0.5) is None


def test_bad_estimator_input() -> None:
    with pytest.raises(ValueError, match="match durations"):
        kaplan_meier([1, 2], [True])
    with pytest.raises(ValueError, match="causes"):
        aalen_johansen([1], [3])


def test_quantile_at_exactly_one_minus_q() -> None:
    # 15 deals: 12 close on day 0 and one is censored then (S = 3/15); of the two left, one closes
    # on day 1 (S = 3/15 · 1/2 = 1/10 exactly, which a float holds as 0.09999999999999998)
    times = [0] * 13 + [1, 1]
    causes = [1] * 12 + [0] + [1, 0]
    curve = aalen_johansen(times, causes)
    assert curve.survival_at(1) == pytest.approx(0.1, abs=1e-12)
    assert curve.quantile(0.9) == 1.0
