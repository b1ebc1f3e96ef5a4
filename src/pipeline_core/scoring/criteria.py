"""Criteria definitions: one attribute of a lead mapped to points by rules, times a weight.

A :class:`Criterion` reads one *field* of a lead (``budget``, ``authority``, ``industry``,
``company_size``, ``pain_points``, ``source``, ``custom.<key>`` ...) from a
:class:`~pipeline_core.records.Lead`, a plain mapping or a frame row with the same field names
(:mod:`pipeline_core.scoring.readers`), and gives points by its rules. Rules are small callable
classes with a readable ``repr`` (:data:`CriterionRule`):

- :class:`Category` — the value is one of some values (``authority in {decision_maker}``);
- :class:`Range` — ``low ≤ value < high`` (either end open), for amounts and sizes;
- :class:`Contains` — a collection (``pain_points``, ``tags``) holds a value;
- :class:`Predicate` — any function (code only; give ``frame=`` to use it in frames too);
- :class:`Decay` — engagement points that halve every ``half_life`` since a timestamp (the
  evaluation instant is passed in as ``as_of=``).

The first rule that matches gives the criterion's points; none matching gives ``otherwise``.
A missing value (``None``, an absent key, a null cell, any spelling of "no value",
:func:`pipeline_core.facts.is_missing`) gives the :class:`Missing` policy's points: ``zero``,
``neutral`` (some points ≥ 0) or ``penalty`` (points < 0), and the result says so.
``measure="count"`` scores the number of items of a collection field instead of its value.

Every class here except :class:`Predicate` is a definition (:mod:`pipeline_core._definition`):
``from_dict`` / ``to_dict`` / ``json_schema`` are derived from the class. A criterion's semantic
checks (:func:`check_criterion`) run when its model is built, so every problem of a model is
listed at once; the model compiles each criterion (:mod:`pipeline_core.scoring.compiled`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

import attrs
from pydantic import Field

from pipeline_core._definition import Definition, definition, plain
from pipeline_core._deprecation import moved, renamed_params
from pipeline_core.errors import Problem
from pipeline_core.scoring._units import hundredths
from pipeline_core.scoring.readers import bool_key, category_keys

if TYPE_CHECKING:
    import narwhals.stable.v2 as nw

__all__ = [
    "Category",
    "Contains",
    "Criterion",
    "CriterionRule",
    "Decay",
    "Missing",
    "Predicate",
    "Range",
    "check_criterion",
    "decimal",
    "texts",
]

Number: TypeAlias = Decimal | int | float


def decimal(value: Number | str) -> Decimal:
    """``value`` as an exact ``Decimal`` (a float through its shortest text: ``0.1`` is 0.1)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _opt_decimal(value: Number | str | None) -> Decimal | None:
    return None if value is None else decimal(value)


def texts(values: Iterable[Any]) -> tuple[str, ...]:
    """Each value as text, in order (enum members as their value)."""
    return tuple(str(x) for x in values)


def _fmt(d: Decimal | None) -> str:
    if d is None:
        return "∞"
    return format(d.normalize(), "f") if d == d.to_integral_value() else str(d)


# --------------------------------------------------------------------------- rules


@definition("scoring rule", tag=("kind", "category"))
@attrs.frozen(repr=False)
class Category(Definition):
    """Matches when the value is one of ``values``.

    Values are texts: enum members match their value, booleans match ``"true"``/``"false"``,
    integers their decimal text (``"3"``); floats never match (use a :class:`Range`).
    Plain form: ``{"kind": "category", "values": [...], "points": n}``.
    """

    values: tuple[str, ...] = attrs.field(
        converter=texts, metadata=plain(schema=Annotated[list[str], Field(min_length=1)])
    )
    points: Decimal = attrs.field(converter=decimal)

    def __call__(self, value: Any) -> bool:
        if isinstance(value, str):
            return value in self.values
        key = bool_key(value)
        return any(key in category_keys(v)[1:] for v in self.values)

    def label(self) -> str:
        """Short text for explanations."""
        return "in {" + ", ".join(self.values) + "}"

    def __repr__(self) -> str:
        return f"Category({list(self.values)!r} -> {_fmt(self.points)})"


@definition("scoring rule", tag=("kind", "range"))
@attrs.frozen(repr=False)
class Range(Definition):
    """Matches when ``low ≤ value < high`` (``None`` leaves that end open).

    Plain form: ``{"kind": "range", "low": a, "high": b, "points": n}`` (both ends always written,
    ``null`` for an open end).
    """

    points: Decimal = attrs.field(converter=decimal)
    low: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, metadata=plain(dump="always")
    )
    high: Decimal | None = attrs.field(
        default=None, converter=_opt_decimal, metadata=plain(dump="always")
    )

    def __call__(self, value: Any) -> bool:
        if self.low is not None and value < self.low:
            return False
        return self.high is None or value < self.high

    def label(self) -> str:
        """Short text for explanations."""
        if self.low is None and self.high is None:
            return "any value"
        if self.low is None:
            return f"< {_fmt(self.high)}"
        if self.high is None:
            return f"≥ {_fmt(self.low)}"
        return f"{_fmt(self.low)} ≤ v < {_fmt(self.high)}"

    def __repr__(self) -> str:
        return f"Range({self.label()} -> {_fmt(self.points)})"

    def overlaps(self, other: Range) -> bool:
        """Whether some value matches both ranges."""
        lo = -math.inf if self.low is None else self.low
        hi = math.inf if self.high is None else self.high
        other_lo = -math.inf if other.low is None else other.low
        other_hi = math.inf if other.high is None else other.high
        return lo < other_hi and other_lo < hi


@definition("scoring rule", tag=("kind", "contains"))
@attrs.frozen(repr=False)
class Contains(Definition):
    """Matches when a collection value (pain points, tags) holds ``value``.

    Plain form: ``{"kind": "contains", "value": "cost", "points": n}``.
    """

    value: str
    points: Decimal = attrs.field(converter=decimal)

    def __call__(self, value: Any) -> bool:
        return self.value in value

    def label(self) -> str:
        """Short text for explanations."""
        return f"has {self.value!r}"

    def __repr__(self) -> str:
        return f"Contains({self.value!r} -> {_fmt(self.points)})"


@attrs.frozen(repr=False)
class Predicate:
    """Matches when ``fn(value)`` is true. Code only (a function has no plain form).

    ``frame`` builds the same test as a narwhals expression from the column expression, so the
    criterion also works in :func:`~pipeline_core.scoring.frames.score_frame`.
    """

    name: str
    fn: Callable[[Any], bool] = attrs.field(eq=False)
    points: Decimal = attrs.field(converter=decimal)
    frame: Callable[[nw.Expr], nw.Expr] | None = attrs.field(default=None, eq=False)

    def __call__(self, value: Any) -> bool:
        return bool(self.fn(value))

    def label(self) -> str:
        """Short text for explanations."""
        return self.name

    def __repr__(self) -> str:
        return f"Predicate({self.name!r} -> {_fmt(self.points)})"


@definition("scoring rule", tag=("kind", "decay"))
@attrs.frozen(repr=False)
class Decay(Definition):
    """Engagement points ``points × 0.5 ** (age / half_life)`` for a timestamp value.

    ``age`` is ``as_of − value`` (a future timestamp counts as age 0). The product is rounded to
    the nearest 0.0001 point (halves to even, Python's ``round``). Needs ``as_of=`` when scoring.
    Plain form: ``{"kind": "decay", "points": n, "half_life": "P7D"}`` (ISO 8601 duration).
    """

    points: Decimal = attrs.field(converter=decimal)
    half_life: timedelta

    def __call__(self, value: Any) -> bool:
        return value is not None

    @renamed_params(at="as_of")
    def factor(self, value: datetime, as_of: datetime) -> float:
        """The decay factor in ``(0, 1]`` of a timestamp ``value`` evaluated at ``as_of``."""
        age = max((as_of - value).total_seconds(), 0.0)
        return math.pow(0.5, age / self.half_life.total_seconds())

    def label(self) -> str:
        """Short text for explanations."""
        return f"decays, half-life {self.half_life}"

    def __repr__(self) -> str:
        return f"Decay({_fmt(self.points)}, half_life={self.half_life})"


CriterionRule: TypeAlias = Category | Range | Contains | Predicate | Decay
"""Any rule a criterion can hold (all but :class:`Predicate` have a plain form)."""

_PlainRule: TypeAlias = Category | Range | Contains | Decay


@definition("missing policy")
@attrs.frozen(repr=False)
class Missing(Definition):
    """What a missing value is worth: ``zero``, ``neutral`` (points ≥ 0) or ``penalty`` (< 0).

    Plain form: ``{"policy": "neutral", "points": "5"}`` (both always written).
    """

    policy: Literal["zero", "neutral", "penalty"] = attrs.field(
        default="zero", metadata=plain(dump="always")
    )
    points: Decimal = attrs.field(
        default=Decimal(0), converter=decimal, metadata=plain(dump="always")
    )

    @classmethod
    def zero(cls) -> Missing:
        """Missing data scores 0."""
        return cls("zero", Decimal(0))

    @classmethod
    def neutral(cls, points: Number | str) -> Missing:
        """Missing data scores a middle value (≥ 0), as if average."""
        return cls("neutral", decimal(points))

    @classmethod
    def penalty(cls, points: Number | str) -> Missing:
        """Missing data costs points (a negative number)."""
        return cls("penalty", decimal(points))

    def problems(self, path: tuple[str | int, ...]) -> Iterator[Problem]:
        """What is wrong with this policy (see :func:`check_missing`), under ``path``."""
        return _under(path, check_missing(self))

    def __repr__(self) -> str:
        if self.policy == "zero":
            return "Missing.zero()"
        return f"Missing.{self.policy}({_fmt(self.points)})"


def check_missing(m: Missing) -> Iterator[Problem]:
    """A missing policy's points agree with its kind and carry at most two decimals."""
    if m.policy not in ("zero", "neutral", "penalty"):
        yield Problem(("policy",), "must be zero, neutral or penalty", m.policy)
    elif m.policy == "zero" and m.points != 0:
        yield Problem(("points",), "the zero policy scores 0", m.points, "missing")
    elif m.policy == "neutral" and m.points < 0:
        yield Problem(("points",), "a neutral value is ≥ 0", m.points, "missing")
    elif m.policy == "penalty" and m.points >= 0:
        yield Problem(("points",), "a penalty is < 0", m.points, "missing")
    if hundredths(m.points) is None:
        yield Problem(("points",), "at most 2 decimal places", m.points, "precision")


def _under(path: tuple[str | int, ...], problems: Iterable[Problem]) -> Iterator[Problem]:
    return (Problem((*path, *p.path), p.message, p.value, p.code, p.missing) for p in problems)


# --------------------------------------------------------------------------- criterion


def _rules(rules: Iterable[CriterionRule]) -> tuple[CriterionRule, ...]:
    return tuple(rules)


def _rules_plain(rules: tuple[CriterionRule, ...]) -> list[dict[str, Any]]:
    out = []
    for r in rules:
        if isinstance(r, Predicate):
            raise ValueError(f"predicate {r.name!r} is code only: it has no plain form")
        out.append(r.to_dict())
    return out


def _given(value: Any) -> Any:
    return value


@definition("criterion")
@attrs.frozen(repr=False)
class Criterion(Definition):
    """One scored attribute: ``field`` → first matching rule's points × ``weight``.

    Plain form: ``name``, ``field``, ``weight``, ``rules``, ``otherwise``, ``missing`` and
    ``measure`` always written, ``description`` when not empty (a :class:`Predicate` has no plain
    form: ``to_dict`` raises ``ValueError``).
    """

    name: str = attrs.field(
        metadata=plain(schema=Annotated[str, Field(min_length=1, max_length=100)])
    )
    field: str = attrs.field(
        metadata=plain(schema=Annotated[str, Field(min_length=1, max_length=200)])
    )
    rules: tuple[CriterionRule, ...] = attrs.field(
        converter=_rules,
        metadata=plain(
            schema=Annotated[tuple[_PlainRule, ...], Field(min_length=1)],
            encode=_rules_plain,
            decode=_given,
        ),
    )
    weight: Decimal = attrs.field(
        default=Decimal(1), converter=decimal, metadata=plain(dump="always")
    )
    missing: Missing = attrs.field(factory=Missing.zero, metadata=plain(dump="always"))
    otherwise: Decimal = attrs.field(
        default=Decimal(0), converter=decimal, metadata=plain(dump="always")
    )
    measure: Literal["value", "count"] = attrs.field(default="value", metadata=plain(dump="always"))
    description: str = ""

    def __repr__(self) -> str:
        rules = ", ".join(repr(r) for r in self.rules)
        extra = "" if self.measure == "value" else ", measure='count'"
        return (
            f"Criterion({self.name!r}, field={self.field!r}{extra}, weight={_fmt(self.weight)}, "
            f"rules=[{rules}], otherwise={_fmt(self.otherwise)}, missing={self.missing!r})"
        )

    @property
    def time_dependent(self) -> bool:
        """True if a rule needs ``as_of=`` (a :class:`Decay`)."""
        return any(isinstance(r, Decay) for r in self.rules)

    def max_points(self) -> Decimal:
        """The most this criterion can add (weight × best outcome)."""
        best = max([self.otherwise, self.missing.points, *(r.points for r in self.rules)])
        return best * self.weight

    def problems(self, path: tuple[str | int, ...]) -> Iterator[Problem]:
        """Every problem with this criterion's definition (:func:`check_criterion`) under
        ``path``."""
        return _under(path, check_criterion(self))


def check_criterion(c: Criterion) -> Iterator[Problem]:
    """Every problem of a criterion: names, weight (≥ 0, two decimals), its missing policy, its
    rules (non-empty, no value in two categories, no overlapping ranges, a positive half-life, a
    decay alone, ranges only when counting). Run by the model, so all are listed at once."""
    if not c.name:
        yield Problem(("name",), "must not be empty", c.name, "empty")
    if not c.field:
        yield Problem(("field",), "must not be empty", c.field, "empty")
    if c.weight < 0:
        yield Problem(("weight",), "must be ≥ 0", c.weight, "negative_weight")
    if hundredths(c.weight) is None:
        yield Problem(("weight",), "at most 2 decimal places", c.weight, "precision")
    if hundredths(c.otherwise) is None:
        yield Problem(("otherwise",), "at most 2 decimal places", c.otherwise)
    if c.measure not in ("value", "count"):
        yield Problem(("measure",), "must be 'value' or 'count'", c.measure)
    yield from c.missing.problems(("missing",))
    if not c.rules:
        yield Problem(("rules",), "needs at least one rule", [], "empty")
    yield from _rule_problems(c.rules)
    if c.measure == "count" and any(not isinstance(r, Range) for r in c.rules):
        yield Problem(("rules",), "measure='count' takes range rules", None, "rule")
    if any(isinstance(r, Decay) for r in c.rules) and len(c.rules) != 1:
        yield Problem(("rules",), "a decay rule stands alone", None, "rule")


def _rule_problems(rules: tuple[CriterionRule, ...]) -> Iterator[Problem]:
    seen_values: dict[str, int] = {}
    ranges: list[tuple[int, Range]] = []
    for i, rule in enumerate(rules):
        where: tuple[str | int, ...] = ("rules", i)
        if not isinstance(rule, CriterionRule):
            yield Problem(where, "not a rule", rule, "rule")
            continue
        if hundredths(rule.points) is None:
            yield Problem((*where, "points"), "at most 2 decimal places", rule.points)
        if isinstance(rule, Category):
            for v in rule.values:
                if v in seen_values:
                    yield Problem(
                        (*where, "values"),
                        f"value {v!r} already given by rule {seen_values[v]}",
                        v,
                        "overlap",
                    )
                seen_values[v] = i
        elif isinstance(rule, Range):
            if rule.low is not None and rule.high is not None and rule.low >= rule.high:
                yield Problem((*where, "high"), "must be above low", rule.high, "empty_range")
            for j, other in ranges:
                if rule.overlaps(other):
                    yield Problem(
                        where,
                        f"range {rule.label()} overlaps rule {j} ({other.label()})",
                        rule.to_dict(),
                        "overlap",
                    )
            ranges.append((i, rule))
        elif isinstance(rule, Decay) and rule.half_life <= timedelta(0):
            yield Problem((*where, "half_life"), "must be positive", rule.half_life)


__getattr__ = moved(
    __name__,
    {
        "Rule": "pipeline_core.scoring.criteria:CriterionRule",
        "MONEY_FIELDS": "pipeline_core.scoring.readers:MONEY_FIELDS",
        "Getter": "pipeline_core.scoring.readers:Getter",
        "object_getter": "pipeline_core.scoring.readers:object_getter",
        "mapping_getter": "pipeline_core.scoring.readers:mapping_getter",
        "TRUE_KEY": "pipeline_core.scoring.readers:TRUE_KEY",
        "FALSE_KEY": "pipeline_core.scoring.readers:FALSE_KEY",
        "Compiled": "pipeline_core.scoring.compiled:CompiledCriterion",
        "compile_criterion": "pipeline_core.scoring.compiled:compile_criterion",
    },
)
