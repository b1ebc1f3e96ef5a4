"""Grades (A/B/C ...) as bands of the score, each carrying its follow-up policy as data.

The default bands are the table of ``domain.md`` §3 made precise (half-open, upper end of A closed):

====== =========================== ======== ==============================================
grade  score                        priority follow-up policy
====== =========================== ======== ==============================================
A      80 ≤ s ≤ 100                 1        contact within 1 day, deep conversation
B      50 ≤ s < 80                  2        contact within 3 days (the source says 2-3 days;
                                              the deadline is the outer bound)
C      0 ≤ s < 50                   3        periodic nurture, every 30 days
====== =========================== ======== ==============================================

Bands are compared on exact integer units (see :mod:`pipeline_core.scoring._units`). A
:class:`Grade` is a definition (:mod:`pipeline_core._definition`: ``from_dict`` / ``to_dict`` /
``json_schema`` derived); :class:`GradeBands` is written as the list of its grades, best first,
and its tiling is checked by :func:`check_bands`.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Annotated, Any, Final

import attrs
from pydantic import Field

from pipeline_core._definition import Definition, definition, plain
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.scoring._units import UNIT, to_units

__all__ = ["DEFAULT_BANDS", "Grade", "GradeBands", "check_bands"]


def _num(d: Decimal) -> str:
    return format(d.normalize(), "f")


_ALWAYS: Final = plain(dump="always")


@definition("grade")
@attrs.frozen(kw_only=True)
class Grade(Definition):
    """One grade: its band ``[low, high)`` (``high`` included when ``high_inclusive``) and policy.

    ``follow_up_within`` is the longest time from grading to the first contact (the SLA worker
    turns it into a deadline); ``nurture_every`` is the cadence of periodic nurture contacts;
    either may be ``None``. ``deep_conversation`` marks grades that call for an in-depth talk.
    Plain form: every field written, limits as decimal text (``"80"``), durations as ISO 8601
    (``"P1D"``) or ``null``.
    """

    name: str = attrs.field(
        metadata=plain(schema=Annotated[str, Field(min_length=1, max_length=20)], dump="always")
    )
    low: Decimal = attrs.field(converter=Decimal, metadata=plain(encode=_num))
    high: Decimal = attrs.field(converter=Decimal, metadata=plain(encode=_num))
    high_inclusive: bool = attrs.field(default=False, metadata=_ALWAYS)
    priority: int = attrs.field(default=1, metadata=_ALWAYS)
    action: str = attrs.field(default="", metadata=_ALWAYS)
    follow_up_within: timedelta | None = attrs.field(default=None, metadata=_ALWAYS)
    nurture_every: timedelta | None = attrs.field(default=None, metadata=_ALWAYS)
    deep_conversation: bool = attrs.field(default=False, metadata=_ALWAYS)

    def contains(self, value: Decimal | int | float) -> bool:
        """Whether ``value`` lies in this grade's band (exact comparison)."""
        v = Decimal(value) if not isinstance(value, Decimal) else value
        if v < self.low:
            return False
        return v <= self.high if self.high_inclusive else v < self.high

    def describe(self) -> str:
        """The band as text, e.g. ``"50 ≤ s < 80"``."""
        op = "≤" if self.high_inclusive else "<"
        return f"{_num(self.low)} ≤ s {op} {_num(self.high)}"


def _floor_units(d: Decimal) -> int:
    return int((d * UNIT).to_integral_value(rounding=ROUND_FLOOR)) if d.is_finite() else 0


@attrs.frozen(kw_only=True)
class GradeBands:
    """An ordered set of grades that tile the score range ``[minimum, maximum]`` exactly once.

    Built with :meth:`of`, which raises :class:`~pipeline_core.errors.ConfigError` listing every
    gap, overlap and bad limit (:func:`check_bands`). :meth:`grade_for` finds the grade of a
    score. ``grades`` are ordered from the lowest band up; ``given`` keeps the order they were
    given in (problem paths refer to it). Plain form: the list of grades, best first.
    """

    grades: tuple[Grade, ...]
    minimum: Decimal
    maximum: Decimal
    given: tuple[Grade, ...] = attrs.field(repr=False, eq=False)
    _lows: tuple[int, ...] = attrs.field(repr=False, eq=False)
    _by_name: dict[str, Grade] = attrs.field(repr=False, eq=False, hash=False)

    @classmethod
    def tiling(
        cls, grades: Sequence[Grade], *, minimum: Decimal | int = 0, maximum: Decimal | int = 100
    ) -> GradeBands:
        """Bands over ``[minimum, maximum]`` *not yet checked*: the owner of the bands (a scoring
        model) runs :func:`check_bands` with its other checks, so that every problem is listed
        at once. Use :meth:`of` otherwise."""
        ordered = tuple(sorted(grades, key=lambda g: g.low))
        return cls(
            grades=ordered,
            minimum=Decimal(minimum),
            maximum=Decimal(maximum),
            given=tuple(grades),
            lows=tuple(_floor_units(g.low) for g in ordered),
            by_name={g.name: g for g in ordered},
        )

    @classmethod
    def of(
        cls,
        grades: Sequence[Grade],
        *,
        minimum: Decimal | int = 0,
        maximum: Decimal | int = 100,
        path: tuple[str | int, ...] = ("bands",),
    ) -> GradeBands:
        """Validated bands; lists every problem at once (paths under ``path``)."""
        bands = cls.tiling(grades, minimum=minimum, maximum=maximum)
        problems = [
            Problem((*path, *p.path), p.message, p.value, p.code, p.missing)
            for p in check_bands(bands)
        ]
        if problems:
            raise ConfigError("grade bands", problems)
        return bands

    @classmethod
    def default(cls) -> GradeBands:
        """A (80-100), B (50-80), C (0-50) with the follow-up policies of ``domain.md`` §3."""
        return DEFAULT_BANDS

    def grade_for(self, value: Decimal | int | float) -> Grade:
        """The grade whose band holds ``value``; ``ValueError`` outside ``[minimum, maximum]``."""
        dec = value if isinstance(value, Decimal) else Decimal(value)
        if not (self.minimum <= dec <= self.maximum):
            raise ValueError(f"score {value!r} is outside {self.minimum}..{self.maximum}")
        return self.grade_for_units(_floor_units(dec))

    def grade_for_units(self, units: int) -> Grade:
        """The grade of a score held as integer units (fast path; no range check)."""
        i = bisect.bisect_right(self._lows, units) - 1
        return self.grades[i if i >= 0 else 0]

    def __getitem__(self, name: str) -> Grade:
        return self._by_name[name]

    def __iter__(self) -> Iterator[Grade]:
        return iter(self.grades)

    def __len__(self) -> int:
        return len(self.grades)

    def names(self) -> tuple[str, ...]:
        """Grade names from best (highest band) to worst."""
        return tuple(g.name for g in reversed(self.grades))

    def rank(self, name: str) -> int:
        """0 for the best grade, 1 for the next, ... (``KeyError`` for an unknown name)."""
        if name not in self._by_name:
            raise KeyError(name)
        return self.names().index(name)

    def top_units(self, name: str) -> int:
        """The highest score in units that still has grade ``name``."""
        g = self._by_name[name]
        top = to_units(g.high)
        return top if g.high_inclusive else top - 1

    def to_dict(self) -> list[dict[str, Any]]:
        """Plain data: a list of grade dicts from best to worst."""
        return [g.to_dict() for g in reversed(self.grades)]

    def __repr__(self) -> str:
        inner = ", ".join(f"{g.name}: {g.describe()}" for g in reversed(self.grades))
        return f"GradeBands({inner})"


def check_bands(bands: GradeBands) -> Iterator[Problem]:
    """Every problem of a tiling: no grade, empty or duplicate names, limits finer than 0.0001,
    empty bands, non-positive durations, gaps, overlaps and ends that miss ``[minimum, maximum]``
    (the upper end closed). Paths are relative to the list of grades, in the order given."""
    grades, minimum, maximum = bands.given, bands.minimum, bands.maximum
    path: tuple[str | int, ...] = ()
    if not grades:
        yield Problem(path, "needs at least one grade", [], "empty")
        return
    if minimum >= maximum:
        yield Problem(path, "minimum must be below maximum", (minimum, maximum), "range")
    seen: set[str] = set()
    for i, g in enumerate(grades):
        where = (*path, i)
        if not g.name:
            yield Problem((*where, "name"), "must not be empty", g.name, "empty")
        if g.name in seen:
            yield Problem((*where, "name"), "duplicate grade name", g.name, "duplicate")
        seen.add(g.name)
        for attr in ("low", "high"):
            v: Decimal = getattr(g, attr)
            if not v.is_finite() or v * UNIT != (v * UNIT).to_integral_value():
                yield Problem((*where, attr), "must be a multiple of 0.0001", v, "precision")
        if g.low >= g.high:
            yield Problem((*where, "high"), f"must be above low ({g.low})", g.high, "empty_band")
        for attr in ("follow_up_within", "nurture_every"):
            td = getattr(g, attr)
            if td is not None and td <= timedelta(0):
                yield Problem((*where, attr), "must be a positive duration", td, "duration")
    ordered = sorted(enumerate(grades), key=lambda p: (p[1].low, p[1].high))
    first_i, first = ordered[0]
    if first.low != minimum:
        kind = "gap" if first.low > minimum else "outside"
        yield Problem(
            (*path, first_i, "low"),
            f"the lowest band must start at the minimum score {minimum} ({kind})",
            first.low,
            kind,
        )
    for (_, prev), (ni, nxt) in itertools.pairwise(ordered):
        if nxt.low < prev.high or (nxt.low == prev.high and prev.high_inclusive):
            yield Problem(
                (*path, ni, "low"),
                f"band {nxt.name!r} ({nxt.describe()}) overlaps band {prev.name!r} "
                f"({prev.describe()})",
                nxt.low,
                "overlap",
            )
        elif nxt.low > prev.high:
            yield Problem(
                (*path, ni, "low"),
                f"gap between band {prev.name!r} ({prev.describe()}) and band {nxt.name!r} "
                f"({nxt.describe()}): scores in [{prev.high}, {nxt.low}) have no grade",
                nxt.low,
                "gap",
            )
    last_i, last = ordered[-1]
    if last.high != maximum or not last.high_inclusive:
        yield Problem(
            (*path, last_i, "high"),
            f"the highest band must end at the maximum score {maximum}, inclusive",
            last.high,
            "gap" if last.high <= maximum else "outside",
        )


def _grade(name: str, low: int, high: int, priority: int, action: str, **policy: Any) -> Grade:
    return Grade(name=name, low=Decimal(low), high=Decimal(high), priority=priority, action=action,
                 **policy)  # fmt: skip


DEFAULT_BANDS: Final = GradeBands.of(
    [
        _grade(
            "A",
            80,
            100,
            1,
            "call back within 1 day and hold a deep conversation",
            high_inclusive=True,
            follow_up_within=timedelta(days=1),
            deep_conversation=True,
        ),
        _grade("B", 50, 80, 2, "reach within 2-3 days", follow_up_within=timedelta(days=3)),
        _grade("C", 0, 50, 3, "periodic maintenance / nurture", nurture_every=timedelta(days=30)),
    ]
)
"""The default A/B/C bands (see the module docstring)."""
