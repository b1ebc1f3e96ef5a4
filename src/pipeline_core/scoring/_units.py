"""Exact score arithmetic shared by every scoring path.

Scores are held as integers in *units* of ``1/10,000`` of a point (``UNIT = 10_000``): 80 points is
``800_000`` units. Points and weights given in a definition carry at most two decimal places, so a
criterion's contribution ``points × weight`` is an exact whole number of units. Band limits are
compared on these integers, so ``79.9999`` (``799_999`` units) is B and ``80`` is A, never both.
Only the two places where a real factor enters (a half-life decay and a weighted sum of models)
round, and they round to a whole unit with a stated rule (see :func:`div_half_up`).
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Final

UNIT: Final = 10_000
"""Units per point: scores are exact multiples of 0.0001."""

FLOAT_PER_UNIT: Final = 1 / UNIT
"""Float scores are ``units * FLOAT_PER_UNIT``: one multiply, bit-identical in every engine."""

CENT: Final = 100
"""Points and weights are stored as integers in hundredths."""


def hundredths(value: Decimal | int | float | str) -> int | None:
    """``value × 100`` as an int if it has at most two decimal places, else ``None``."""
    try:
        dec = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        return None
    if not dec.is_finite():
        return None
    scaled = dec * CENT
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def to_units(value: Decimal | int | float | str) -> int:
    """A point value (at most four decimal places) as units; raises ``ValueError`` if finer."""
    dec = value if isinstance(value, Decimal) else Decimal(str(value))
    scaled = dec * UNIT
    if not dec.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} is not a multiple of 0.0001 points")
    return int(scaled)


@functools.lru_cache(maxsize=8192)
def from_units(units: int) -> Decimal:
    """Units as an exact ``Decimal`` with four decimal places, e.g. ``800000 -> Decimal('80.0000')``."""
    return Decimal(units).scaleb(-4).quantize(Decimal("0.0001"))


def div_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest int, halves upwards (both ≥ 0 here)."""
    return (2 * numerator + denominator) // (2 * denominator)
