"""Small shared pieces of the metrics: group ordering, currency checks, quantiles, rates."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pipeline_core.errors import Problem, ValidationError
from pipeline_core.money import currency_mismatch

__all__ = [
    "CONVERT_FIRST",
    "CONVERT_FIRST_OR_COUNTS",
    "check_currencies",
    "group_sort_key",
    "grouped_rows",
    "missing_at_error",
    "quantile_linear",
    "ratio",
]

_V = TypeVar("_V")

CONVERT_FIRST = (
    "convert each deal's expected_amount to one currency first "
    "(pipeline_core.money.ExchangeRates.convert: a closed deal at its close date, an open one at "
    "the evaluation instant), or filter the opportunities to one currency"
)
"""The ``how`` of :func:`check_currencies` for a metric with no conversion option of its own."""

CONVERT_FIRST_OR_COUNTS = CONVERT_FIRST + ", or pass value=False (counts only)"
""":data:`CONVERT_FIRST` for a metric that also counts deals without their value."""


def missing_at_error(count: int) -> ValidationError:
    """The error of a metric given ``count`` stage events without a timestamp (a frame whose
    ``at`` column has nulls): one ``missing`` problem at ``at``."""
    return ValidationError(
        "stage events",
        [Problem(("at",), f"{count} stage events have no timestamp", None, "missing", True)],
    )


def group_sort_key(key: Sequence[Any]) -> tuple[tuple[bool, Any], ...]:
    """Sort key for group tuples: values ascending, ``None`` last."""
    return tuple((v is None, "" if v is None else v) for v in key)


def grouped_rows(
    groups: Mapping[tuple[Any, ...], _V], row: Callable[[tuple[Any, ...], _V], tuple[Any, ...]]
) -> tuple[tuple[Any, ...], ...]:
    """The rows of a grouped metric table: ``row(key, value)`` for each group, groups in
    :func:`group_sort_key` order (values ascending, ``None`` last)."""
    return tuple(row(k, groups[k]) for k in sorted(groups, key=group_sort_key))


def check_currencies(currencies: Iterable[str | None], what: str, *, how: str) -> str | None:
    """The single currency of the values summed, or
    :class:`~pipeline_core.errors.CurrencyMismatchError` (``mixed_currency``, field ``currency``)
    naming every currency found and ``how`` (what the caller's user can do: only options that
    caller has). Money of different currencies is never added up."""
    found = sorted({c for c in currencies if c is not None})
    if len(found) > 1:
        raise currency_mismatch(what, "currency", found, how)
    return found[0] if found else None


def quantile_linear(sorted_values: Sequence[float], q: float) -> float | None:
    """The linear-interpolation quantile (Hyndman–Fan type 7, numpy's default) of sorted values:
    position h = (n − 1)·q, value x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). ``None`` for no values."""
    n = len(sorted_values)
    if n == 0:
        return None
    h = (n - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    base = float(sorted_values[lo])
    return base + (h - lo) * (float(sorted_values[hi]) - base)


def ratio(num: float | None, den: float | None) -> float | None:
    """``num / den``, or ``None`` when the denominator is zero or missing."""
    if num is None or not den:
        return None
    return num / den


def zero(value: Any) -> Any:
    """A missing sum is zero (engines differ on the sum of no values: 0 or null)."""
    return 0 if value is None else value
