"""Compiled criteria: a criterion turned, once, into a dict lookup or a ``bisect`` table.

:func:`compile_criterion` builds, for a valid :class:`~pipeline_core.scoring.criteria.Criterion`,
the readers of its field (:mod:`pipeline_core.scoring.readers`) and two functions over the same
tables: ``units(value, as_of)`` (the contribution in integer units of 0.0001 point,
:mod:`pipeline_core.scoring._units`) and ``explain(value, as_of)`` (``(units, label, missing)``).
Categories become a dict lookup, ranges a ``bisect`` over their limits, so scoring a lead
allocates nothing heavy.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from pipeline_core._deprecation import moved
from pipeline_core.scoring._units import hundredths
from pipeline_core.scoring.criteria import Category, Criterion, Decay, Range
from pipeline_core.scoring.readers import (
    FALSE_KEY,
    TRUE_KEY,
    Getter,
    bool_key,
    category_keys,
    instant_value,
    mapping_getter,
    object_getter,
)

__all__ = ["CompiledCriterion", "compile_criterion"]

# ``Compiled`` was also the name of the stages' compiled pipeline: one name, one meaning.
__getattr__ = moved(__name__, {"Compiled": "pipeline_core.scoring.compiled:CompiledCriterion"})


@attrs.frozen
class CompiledCriterion:
    """A criterion compiled for speed.

    ``units(value, as_of)`` gives the contribution in integer units; ``explain(value, as_of)`` gives
    ``(units, label, missing)``. Both are built from the same tables.
    """

    criterion: Criterion
    get_obj: Getter
    get_safe: Getter
    get_map: Getter
    units: Callable[[Any, datetime | None], int]
    explain: Callable[[Any, datetime | None], tuple[int, str, bool]]
    missing_units: int


def compile_criterion(c: Criterion, *, currency: str | None = None) -> CompiledCriterion:
    """Precompile ``c`` (which must be valid) into lookups and bisect tables; money fields are
    read in ``currency`` (the model's)."""
    w = hundredths(c.weight)
    assert w is not None

    def u(points: Decimal) -> int:
        p = hundredths(points)
        assert p is not None
        return p * w

    missing_u = u(c.missing.points)
    missing_label = f"missing → {c.missing.policy}"
    other_u = u(c.otherwise)
    rules = c.rules
    units: Callable[[Any, datetime | None], int]
    explain: Callable[[Any, datetime | None], tuple[int, str, bool]]

    if rules and all(isinstance(r, Category) for r in rules):
        lookup: dict[Any, int] = {}
        labels: dict[Any, str] = {}
        for r in rules:
            assert isinstance(r, Category)
            for text in r.values:
                for key in category_keys(text):
                    lookup.setdefault(key, u(r.points))
                    labels.setdefault(key, r.label())

        def units_cat(v: Any, as_of: datetime | None) -> int:
            if v is None:
                return missing_u
            if v is True or v is False:
                v = TRUE_KEY if v else FALSE_KEY
            return lookup.get(v, other_u)

        def explain_cat(v: Any, as_of: datetime | None) -> tuple[int, str, bool]:
            if v is None:
                return missing_u, missing_label, True
            key = bool_key(v)
            if key in lookup:
                return lookup[key], labels[key], False
            return other_u, "no rule matched", False

        units, explain = units_cat, explain_cat
    elif rules and all(isinstance(r, Range) for r in rules):
        cuts: set[Decimal] = set()
        for r in rules:
            assert isinstance(r, Range)
            if r.low is not None:
                cuts.add(r.low)
            if r.high is not None:
                cuts.add(r.high)
        bounds = sorted(cuts)
        fbounds = [float(b) for b in bounds]
        region_u: list[int] = []
        region_label: list[str] = []
        # region i holds values v with bounds[i-1] <= v < bounds[i]
        for i in range(len(bounds) + 1):
            probe_lo = bounds[i - 1] if i > 0 else None
            probe_hi = bounds[i] if i < len(bounds) else None
            hit: Range | None = None
            for r in rules:
                assert isinstance(r, Range)
                lo_ok = r.low is None or (probe_lo is not None and r.low <= probe_lo)
                hi_ok = r.high is None or (probe_hi is not None and probe_hi <= r.high)
                if lo_ok and hi_ok:
                    hit = r
                    break
            region_u.append(other_u if hit is None else u(hit.points))
            region_label.append("no rule matched" if hit is None else hit.label())
        br = bisect.bisect_right

        def units_rng(v: Any, as_of: datetime | None) -> int:
            if v is None:
                return missing_u
            if v.__class__ is float:
                if v != v:  # NaN counts as missing
                    return missing_u
                return region_u[br(fbounds, v)]
            return region_u[br(bounds, v)]

        def explain_rng(v: Any, as_of: datetime | None) -> tuple[int, str, bool]:
            if v is None or (v.__class__ is float and v != v):
                return missing_u, missing_label, True
            i = br(fbounds, v) if v.__class__ is float else br(bounds, v)
            return region_u[i], region_label[i], False

        units, explain = units_rng, explain_rng
    elif rules and isinstance(rules[0], Decay):
        decay = rules[0]
        hp = hundredths(decay.points)
        assert hp is not None
        full = hp * w

        def decay_units(v: Any, as_of: datetime | None) -> int:
            if as_of is None:
                raise ValueError(f"criterion {c.name!r} decays with time: pass as_of=")
            ts = (
                v if v.__class__ is datetime and v.tzinfo is not None else instant_value(c.field, v)
            )
            return round(full * decay.factor(ts, as_of))

        def units_dec(v: Any, as_of: datetime | None) -> int:
            return missing_u if v is None else decay_units(v, as_of)

        def explain_dec(v: Any, as_of: datetime | None) -> tuple[int, str, bool]:
            if v is None:
                return missing_u, missing_label, True
            return decay_units(v, as_of), decay.label(), False

        units, explain = units_dec, explain_dec
    else:
        table = [(r, u(r.points), r.label()) for r in rules]

        def units_gen(v: Any, as_of: datetime | None) -> int:
            if v is None:
                return missing_u
            for r, pts, _ in table:
                if r(v):
                    return pts
            return other_u

        def explain_gen(v: Any, as_of: datetime | None) -> tuple[int, str, bool]:
            if v is None:
                return missing_u, missing_label, True
            for r, pts, label in table:
                if r(v):
                    return pts, label, False
            return other_u, "no rule matched", False

        units, explain = units_gen, explain_gen

    return CompiledCriterion(
        criterion=c,
        get_obj=object_getter(c.field, c.measure, currency=currency),
        get_safe=object_getter(c.field, c.measure, safe=True, currency=currency),
        get_map=mapping_getter(c.field, c.measure, currency=currency),
        units=units,
        explain=explain,
        missing_units=missing_u,
    )
