"""The BANT preset: the ready budget / authority / need / intent / timeline model on 0-100.

>>> from pipeline_core.scoring import BANT
>>> BANT.default().score({"authority": "decision_maker"}).value
Decimal('25.0000')
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from enum import Enum
from typing import Final

from pipeline_core.records import Authority, Intent, NeedLevel, Timeline
from pipeline_core.scoring.criteria import Category, Criterion, Range
from pipeline_core.scoring.models import ScoreModel

__all__ = ["BANT"]

_CATEGORIES: Final[tuple[tuple[str, str, tuple[tuple[Enum, int], ...]], ...]] = (
    (
        "authority",
        "the contact's decision authority",
        ((Authority.DECISION_MAKER, 25), (Authority.INFLUENCER, 15), (Authority.USER, 8),
         (Authority.NONE, 0)),
    ),
    (
        "need",
        "strength of the need",
        ((NeedLevel.STRONG, 15), (NeedLevel.MEDIUM, 9), (NeedLevel.WEAK, 3)),
    ),
    ("intent", "initial intent shown", ((Intent.HIGH, 10), (Intent.MEDIUM, 6), (Intent.LOW, 2))),
    (
        "timeline",
        "when the customer plans to decide",
        ((Timeline.WITHIN_1_MONTH, 25), (Timeline.MONTHS_1_3, 18), (Timeline.MONTHS_3_6, 10),
         (Timeline.OVER_6_MONTHS, 4), (Timeline.NO_PLAN, 0)),
    ),
)  # fmt: skip
"""The category criteria of BANT: (field, description, ((value, points), ...)), in order."""


def _categories(pairs: Iterable[tuple[Enum, int]]) -> tuple[Category, ...]:
    return tuple(Category([str(v)], p) for v, p in pairs)


class BANT:
    """The ready BANT model (budget, authority, need/intent, timeline) on a 0-100 scale.

    ========== ========================================================== ======
    criterion  rule → points                                              max
    ========== ========================================================== ======
    budget     ≥ 500,000 → 25; 100,000-500,000 → 20; 30,000-100,000 → 12;  25
               < 30,000 → 5; missing → 0
    authority  decision_maker 25, influencer 15, user 8, none 0; missing 0 25
    need       strong 15, medium 9, weak 3; missing 0                      15
    intent     high 10, medium 6, low 2; missing 0                         10
    timeline   within_1_month 25, 1_3_months 18, 3_6_months 10,             25
               over_6_months 4, no_plan 0; missing 0
    ========== ========================================================== ======

    All weights are 1; the maximum is exactly 100. Missing data scores zero and is shown in the
    result. Grades: the default A/B/C bands. The budget bands are in CNY (``currency="CNY"``): a
    budget in another currency raises :class:`~pipeline_core.errors.CurrencyMismatchError` —
    convert it first with :meth:`pipeline_core.money.ExchangeRates.convert`.
    """

    NAME: Final = "bant"
    VERSION: Final = "1"

    @staticmethod
    @functools.cache
    def default() -> ScoreModel:
        """The default BANT model (built once, then shared; it is immutable)."""
        budget = Criterion(
            "budget",
            "budget",
            (
                Range(25, low=500_000),
                Range(20, low=100_000, high=500_000),
                Range(12, low=30_000, high=100_000),
                Range(5, high=30_000),
            ),
            description="stated budget amount",
        )
        categories = [
            Criterion(field, field, _categories(pairs), description=description)
            for field, description, pairs in _CATEGORIES
        ]
        return ScoreModel.of(BANT.NAME, [budget, *categories], version=BANT.VERSION, currency="CNY")
