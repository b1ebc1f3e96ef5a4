"""A/B comparison of variants (scripts, cadences): conversion per variant, the two-proportion
z-test against a control, a Wald confidence interval for the difference, and a plain verdict.

For variant B against control A with x successes out of n:
    p_A = x_A / n_A, p_B = x_B / n_B, pooled p = (x_A + x_B) / (n_A + n_B)
    z = (p_B − p_A) / √(p(1 − p)(1/n_A + 1/n_B)), two-sided p-value = erfc(|z| / √2)
    CI = (p_B − p_A) ± z_{1−α/2} · √(p_A(1 − p_A)/n_A + p_B(1 − p_B)/n_B)
The sample is *too small* when any of n·p̂, n·(1 − p̂) (pooled p̂) is below 5 in either group:
the normal approximation does not hold and the verdict says so instead of declaring a winner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

import attrs

from pipeline_core.errors import Problem, ValidationError
from pipeline_core.metrics.results import FunnelResult, MetricTable

__all__ = ["TwoProportionTest", "ab_test", "ab_test_from_funnel", "two_proportion_test"]


@attrs.frozen
class TwoProportionTest:
    """The result of comparing variant B against control A."""

    control: str
    variant: str
    n_a: int
    x_a: int
    n_b: int
    x_b: int
    p_a: float
    p_b: float
    difference: float
    z: float | None
    p_value: float | None
    ci_low: float
    ci_high: float
    alpha: float
    too_small: bool
    verdict: str


def two_proportion_test(
    x_a: int,
    n_a: int,
    x_b: int,
    n_b: int,
    *,
    alpha: float = 0.05,
    control: str = "A",
    variant: str = "B",
) -> TwoProportionTest:
    """Two-proportion z-test of ``x_b/n_b`` against ``x_a/n_a`` (see the module docstring)."""
    problems = []
    for name, x, n in (("a", x_a, n_a), ("b", x_b, n_b)):
        if not (isinstance(n, int) and isinstance(x, int) and 0 <= x <= n and n > 0):
            problems.append(Problem((f"x_{name}",), "need integers 0 ≤ x ≤ n and n > 0", (x, n)))
    if not 0 < alpha < 1:
        problems.append(Problem(("alpha",), "must be within (0, 1)", alpha))
    if problems:
        raise ValidationError("two-proportion test", problems)
    p_a, p_b = x_a / n_a, x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = None if se0 == 0 else (p_b - p_a) / se0
    p_value = None if z is None else math.erfc(abs(z) / math.sqrt(2))
    crit = NormalDist().inv_cdf(1 - alpha / 2)
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    diff = p_b - p_a
    too_small = min(n_a * pooled, n_a * (1 - pooled), n_b * pooled, n_b * (1 - pooled)) < 5
    if too_small:
        verdict = (
            f"Sample too small to tell: {variant} converts {p_b:.1%} ({x_b}/{n_b}) vs {control} "
            f"{p_a:.1%} ({x_a}/{n_a}); each group needs at least 5 expected conversions and 5 "
            "expected non-conversions. Keep collecting."
        )
    elif p_value is not None and p_value < alpha:
        better = variant if diff > 0 else control
        verdict = (
            f"{better} converts better: {variant} {p_b:.1%} vs {control} {p_a:.1%} "
            f"(difference {diff:+.1%}, {1 - alpha:.0%} CI {diff - crit * se:+.1%} to "
            f"{diff + crit * se:+.1%}, p = {p_value:.3g})."
        )
    else:
        verdict = (
            f"No clear difference: {variant} {p_b:.1%} vs {control} {p_a:.1%} "
            f"(p = {'n/a' if p_value is None else f'{p_value:.3g}'}); the difference may be chance."
        )
    return TwoProportionTest(
        control,
        variant,
        n_a,
        x_a,
        n_b,
        x_b,
        p_a,
        p_b,
        diff,
        z,
        p_value,
        diff - crit * se,
        diff + crit * se,
        alpha,
        too_small,
        verdict,
    )


def ab_test(
    counts: Mapping[str, tuple[int, int]], *, control: str | None = None, alpha: float = 0.05
) -> MetricTable:
    """Each variant against ``control`` (default: the first): ``counts`` maps a variant to
    ``(converted, n)``. One row per variant with its rate, and the test against the control."""
    if not counts:
        raise ValidationError("counts", [Problem(("counts",), "no variants", counts, "empty")])
    names = list(counts)
    ctrl = names[0] if control is None else control
    if ctrl not in counts:
        raise ValidationError(
            "control", [Problem(("control",), "not one of the variants", ctrl, "unknown")]
        )
    xa, na = counts[ctrl]
    rows: list[tuple[Any, ...]] = []
    for name in names:
        x, n = counts[name]
        if name == ctrl:
            rows.append((name, n, x, x / n if n else None, None, None, None, None, None, "control"))
            continue
        t = two_proportion_test(xa, na, x, n, alpha=alpha, control=ctrl, variant=name)
        rows.append(
            (name, n, x, t.p_b, t.difference, t.z, t.p_value, t.ci_low, t.ci_high, t.verdict)
        )
    return MetricTable(
        metric="ab_test",
        kind="cohort",
        columns=(
            "variant",
            "n",
            "converted",
            "rate",
            "difference",
            "z",
            "p_value",
            "ci_low",
            "ci_high",
            "verdict",
        ),
        rows=tuple(rows),
        group_by=("variant",),
        params={"control": ctrl, "alpha": alpha},
    )


def ab_test_from_funnel(
    funnel: FunnelResult,
    *,
    step: str | None = None,
    control: str | None = None,
    alpha: float = 0.05,
) -> MetricTable:
    """A/B test on a cohort funnel grouped by one variant column: conversion = reached ``step``
    (default: the won step) / cohort, per variant."""
    if len(funnel.group_by) != 1:
        raise ValidationError(
            "funnel",
            [
                Problem(
                    ("group_by",), "group the funnel by exactly one variant column", funnel.group_by
                )
            ],
        )
    col = funnel.group_by[0]
    recs = funnel.records()
    target = step or recs[-1]["stage"]
    counts = {str(r[col]): (r["reached"], r["cohort"]) for r in recs if r["stage"] == target}
    if not counts:
        raise ValidationError(
            "step", [Problem(("step",), "not a step of the funnel", step, "unknown_stage")]
        )
    return ab_test(counts, control=control, alpha=alpha)
