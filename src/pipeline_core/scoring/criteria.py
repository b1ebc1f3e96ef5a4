"""Criteria: one attribute of a lead mapped to points by rules, times a weight.

A :class:`Criterion` reads one *field* of a lead (``budget``, ``authority``, ``industry``,
``company_size``, ``pain_points``, ``source``, ``custom.<key>`` ...) from a
:class:`~pipeline_core.records.Lead`, a plain mapping or a frame row with the same field names, and
gives points by its rules. Rules are small callable classes with a readable ``repr``:

- :class:`Category` — the value is one of some values (``authority in {decision_maker}``);
- :class:`Range` — ``low ≤ value < high`` (either end open), for amounts and sizes;
- :class:`Contains` — a collection (``pain_points``, ``tags``) holds a value;
- :class:`Predicate` — any function (code only; give ``frame=`` to use it in frames too);
- :class:`Decay` — engagement points that halve every ``half_life`` since a timestamp (time is
  passed in as ``at=``).

The first rule that matches gives the criterion's points; none matching gives ``otherwise``.
A missing value (``None``, an absent key, a null cell) gives the :class:`Missing` policy's points:
``zero``, ``neutral`` (some points ≥ 0) or ``penalty`` (points < 0), and the result says so.
``measure="count"`` scores the number of items of a collection field instead of its value.

Money fields (``budget``, ``expected_amount``) are read as their amount in the model's
``currency``: a ``Money`` (or ``{"amount": ..., "currency": ...}``, or a flat row's amount with its
code in the ``currency`` column, :mod:`pipeline_core.frame_columns`) in another currency raises
:class:`~pipeline_core.errors.CurrencyMismatchError` naming the field and both currencies (convert
it first with :meth:`pipeline_core.money.ExchangeRates.convert` at the evaluation instant); a bare
number or decimal string, or a ``<field>_amount`` column, is read as the model's currency. A model
without a stated currency reads every amount as it is.

A missing value is any spelling of "no value" (:func:`pipeline_core.facts.is_missing`: ``None``,
``NaN``, ``NaT``, pandas' ``NA``, a blank string), in records, mappings and frame rows alike.

Each criterion is compiled once, when its model is built, into a dict lookup (categories) or a
``bisect`` over the range limits (ranges), so scoring a lead allocates nothing heavy.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

import attrs

from pipeline_core._model import is_decimal_text
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.facts import is_missing
from pipeline_core.records import Lead, Money
from pipeline_core.scoring._units import hundredths

if TYPE_CHECKING:
    import narwhals.stable.v2 as nw

__all__ = [
    "Category",
    "Contains",
    "Criterion",
    "Decay",
    "Missing",
    "Predicate",
    "Range",
    "Rule",
]

MONEY_FIELDS = frozenset({"budget", "expected_amount"})
_LEAD_FIELDS = Lead.__pc_names__
"""Fields read as a money amount."""

Number: TypeAlias = Decimal | int | float


def _dec(value: Number | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _opt_dec(value: Number | str | None) -> Decimal | None:
    return None if value is None else _dec(value)


def _fmt(d: Decimal | None) -> str:
    if d is None:
        return "∞"
    return format(d.normalize(), "f") if d == d.to_integral_value() else str(d)


def _strs(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(x) for x in values)


def _rules(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(rules)


# --------------------------------------------------------------------------- rules


@attrs.frozen(repr=False)
class Category:
    """Matches when the value is one of ``values``.

    Values are texts: enum members match their value, booleans match ``"true"``/``"false"``,
    integers their decimal text (``"3"``); floats never match (use a :class:`Range`).
    """

    values: tuple[str, ...] = attrs.field(converter=_strs)
    points: Decimal = attrs.field(converter=_dec)

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

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {"kind": "category", "values": list(self.values), "points": str(self.points)}


@attrs.frozen(repr=False)
class Range:
    """Matches when ``low ≤ value < high`` (``None`` leaves that end open)."""

    points: Decimal = attrs.field(converter=_dec)
    low: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    high: Decimal | None = attrs.field(default=None, converter=_opt_dec)

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

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "kind": "range",
            "low": None if self.low is None else str(self.low),
            "high": None if self.high is None else str(self.high),
            "points": str(self.points),
        }


@attrs.frozen(repr=False)
class Contains:
    """Matches when a collection value (pain points, tags) holds ``value``."""

    value: str
    points: Decimal = attrs.field(converter=_dec)

    def __call__(self, value: Any) -> bool:
        return self.value in value

    def label(self) -> str:
        """Short text for explanations."""
        return f"has {self.value!r}"

    def __repr__(self) -> str:
        return f"Contains({self.value!r} -> {_fmt(self.points)})"

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {"kind": "contains", "value": self.value, "points": str(self.points)}


@attrs.frozen(repr=False)
class Predicate:
    """Matches when ``fn(value)`` is true. Code only (not plain data).

    ``frame`` builds the same test as a narwhals expression from the column expression, so the
    criterion also works in :func:`~pipeline_core.scoring.frames.score_frame`.
    """

    name: str
    fn: Callable[[Any], bool] = attrs.field(eq=False)
    points: Decimal = attrs.field(converter=_dec)
    frame: Callable[[nw.Expr], nw.Expr] | None = attrs.field(default=None, eq=False)

    def __call__(self, value: Any) -> bool:
        return bool(self.fn(value))

    def label(self) -> str:
        """Short text for explanations."""
        return self.name

    def __repr__(self) -> str:
        return f"Predicate({self.name!r} -> {_fmt(self.points)})"


@attrs.frozen(repr=False)
class Decay:
    """Engagement points ``points × 0.5 ** (age / half_life)`` for a timestamp value.

    ``age`` is ``at − value`` (a future timestamp counts as age 0). The product is rounded to the
    nearest 0.0001 point (halves to even, Python's ``round``). Needs ``at=`` when scoring.
    """

    points: Decimal = attrs.field(converter=_dec)
    half_life: timedelta

    def __call__(self, value: Any) -> bool:
        return value is not None

    def factor(self, value: datetime, at: datetime) -> float:
        """The decay factor in ``(0, 1]``."""
        age = max((at - value).total_seconds(), 0.0)
        return math.pow(0.5, age / self.half_life.total_seconds())

    def label(self) -> str:
        """Short text for explanations."""
        return f"decays, half-life {self.half_life}"

    def __repr__(self) -> str:
        return f"Decay({_fmt(self.points)}, half_life={self.half_life})"

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        import pydantic

        return {
            "kind": "decay",
            "points": str(self.points),
            "half_life": pydantic.TypeAdapter(timedelta).dump_python(self.half_life, mode="json"),
        }


Rule: TypeAlias = Category | Range | Contains | Predicate | Decay
"""Any rule a criterion can hold."""


@attrs.frozen(repr=False)
class Missing:
    """What a missing value is worth: ``zero``, ``neutral`` (points ≥ 0) or ``penalty`` (< 0)."""

    policy: Literal["zero", "neutral", "penalty"] = "zero"
    points: Decimal = attrs.field(default=Decimal(0), converter=_dec)

    @classmethod
    def zero(cls) -> Missing:
        """Missing data scores 0."""
        return cls("zero", Decimal(0))

    @classmethod
    def neutral(cls, points: Number | str) -> Missing:
        """Missing data scores a middle value (≥ 0), as if average."""
        return cls("neutral", _dec(points))

    @classmethod
    def penalty(cls, points: Number | str) -> Missing:
        """Missing data costs points (a negative number)."""
        return cls("penalty", _dec(points))

    def problems(self, path: tuple[str | int, ...]) -> Iterator[Problem]:
        """What is wrong with this policy."""
        if self.policy not in ("zero", "neutral", "penalty"):
            yield Problem((*path, "policy"), "must be zero, neutral or penalty", self.policy)
        elif self.policy == "zero" and self.points != 0:
            yield Problem((*path, "points"), "the zero policy scores 0", self.points, "missing")
        elif self.policy == "neutral" and self.points < 0:
            yield Problem((*path, "points"), "a neutral value is ≥ 0", self.points, "missing")
        elif self.policy == "penalty" and self.points >= 0:
            yield Problem((*path, "points"), "a penalty is < 0", self.points, "missing")
        if hundredths(self.points) is None:
            yield Problem((*path, "points"), "at most 2 decimal places", self.points, "precision")

    def __repr__(self) -> str:
        if self.policy == "zero":
            return "Missing.zero()"
        return f"Missing.{self.policy}({_fmt(self.points)})"


# --------------------------------------------------------------------------- criterion


@attrs.frozen(repr=False)
class Criterion:
    """One scored attribute: ``field`` → first matching rule's points × ``weight``."""

    name: str
    field: str
    rules: tuple[Rule, ...] = attrs.field(converter=_rules)
    weight: Decimal = attrs.field(default=Decimal(1), converter=_dec)
    missing: Missing = attrs.field(factory=Missing.zero)
    otherwise: Decimal = attrs.field(default=Decimal(0), converter=_dec)
    measure: Literal["value", "count"] = "value"
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
        """True if a rule needs ``at=`` (a :class:`Decay`)."""
        return any(isinstance(r, Decay) for r in self.rules)

    def max_points(self) -> Decimal:
        """The most this criterion can add (weight × best outcome)."""
        best = max([self.otherwise, self.missing.points, *(r.points for r in self.rules)])
        return best * self.weight

    def problems(self, path: tuple[str | int, ...]) -> Iterator[Problem]:
        """Every problem with this criterion's definition."""
        if not self.name:
            yield Problem((*path, "name"), "must not be empty", self.name, "empty")
        if not self.field:
            yield Problem((*path, "field"), "must not be empty", self.field, "empty")
        if self.weight < 0:
            yield Problem((*path, "weight"), "must be ≥ 0", self.weight, "negative_weight")
        if hundredths(self.weight) is None:
            yield Problem((*path, "weight"), "at most 2 decimal places", self.weight, "precision")
        if hundredths(self.otherwise) is None:
            yield Problem((*path, "otherwise"), "at most 2 decimal places", self.otherwise)
        if self.measure not in ("value", "count"):
            yield Problem((*path, "measure"), "must be 'value' or 'count'", self.measure)
        yield from self.missing.problems((*path, "missing"))
        if not self.rules:
            yield Problem((*path, "rules"), "needs at least one rule", [], "empty")
        seen_values: dict[str, int] = {}
        ranges: list[tuple[int, Range]] = []
        for i, rule in enumerate(self.rules):
            where = (*path, "rules", i)
            if not isinstance(rule, Rule):
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
                    if _ranges_overlap(rule, other):
                        yield Problem(
                            where,
                            f"range {rule.label()} overlaps rule {j} ({other.label()})",
                            rule.to_dict(),
                            "overlap",
                        )
                ranges.append((i, rule))
            elif isinstance(rule, Decay) and rule.half_life <= timedelta(0):
                yield Problem((*where, "half_life"), "must be positive", rule.half_life)
        if self.measure == "count" and any(not isinstance(r, Range) for r in self.rules):
            yield Problem((*path, "rules"), "measure='count' takes range rules", None, "rule")
        if any(isinstance(r, Decay) for r in self.rules) and len(self.rules) != 1:
            yield Problem((*path, "rules"), "a decay rule stands alone", None, "rule")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (a :class:`Predicate` cannot be written as data: ``ValueError``)."""
        rules = []
        for r in self.rules:
            if isinstance(r, Predicate):
                raise ValueError(f"criterion {self.name!r}: predicate {r.name!r} is code only")
            rules.append(r.to_dict())
        out: dict[str, Any] = {
            "name": self.name,
            "field": self.field,
            "weight": str(self.weight),
            "rules": rules,
            "otherwise": str(self.otherwise),
            "missing": {"policy": self.missing.policy, "points": str(self.missing.points)},
            "measure": self.measure,
        }
        if self.description:
            out["description"] = self.description
        return out


def _ranges_overlap(a: Range, b: Range) -> bool:
    a_lo = -math.inf if a.low is None else a.low
    a_hi = math.inf if a.high is None else a.high
    b_lo = -math.inf if b.low is None else b.low
    b_hi = math.inf if b.high is None else b.high
    return a_lo < b_hi and b_lo < a_hi


# --------------------------------------------------------------------------- compiled form

_INT_TEXT = re.compile(r"-?[0-9]+")


class _BoolKey:
    """A lookup key for a boolean value (``True == 1`` would otherwise collide with the int)."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


TRUE_KEY: Any = _BoolKey(True)
FALSE_KEY: Any = _BoolKey(False)


def bool_key(value: Any) -> Any:
    """``TRUE_KEY``/``FALSE_KEY`` for a bool, else the value itself."""
    if value is True:
        return TRUE_KEY
    if value is False:
        return FALSE_KEY
    return value


def category_keys(text: str) -> list[Any]:
    """The values a category text matches: the text itself (and enum members with that value),
    ``True``/``False`` for ``"true"``/``"false"``, and the int for an integer text such as ``"3"``.
    Floats are never categories."""
    keys: list[Any] = [text]
    if text == "true":
        keys.append(TRUE_KEY)
    elif text == "false":
        keys.append(FALSE_KEY)
    elif _INT_TEXT.fullmatch(text):
        keys.append(int(text))
    return keys


class Getter(Protocol):
    """Reads one field of a lead (object or mapping); ``None`` when missing."""

    def __call__(self, lead: Any, /) -> Any: ...


def _money_amount(field: str, value: Any, currency: str | None) -> Any:
    """The amount of a money value (``Money`` or ``{"amount", "currency"}``) in ``currency``, or
    :class:`~pipeline_core.errors.CurrencyMismatchError`; a bare number is the amount itself."""
    if isinstance(value, Mapping):
        cur, amount = value.get("currency"), value.get("amount")
    else:
        cur, amount = getattr(value, "currency", None), getattr(value, "amount", value)
    if currency is not None and not is_missing(cur) and cur != currency and not is_missing(amount):
        from pipeline_core.money import currency_mismatch

        raise currency_mismatch(
            "scoring",
            field,
            (str(cur), currency),
            f"the model's {field} bands are in {currency}: convert the amount first with "
            f"pipeline_core.money.ExchangeRates.convert(money, '{currency}', on=<evaluation date>)",
        )
    if isinstance(amount, str):
        amount = None if not amount.strip() else _amount_text(field, amount)
    elif (
        isinstance(amount, int | float | Decimal)
        and not isinstance(amount, bool)
        and not is_missing(amount)
        and amount < 0
    ):
        # a money amount is never negative (Money refuses it): the same rule for a bare number
        raise ValidationError(
            "lead",
            [Problem((field,), "an amount of money is not negative", amount, "greater_than_equal")],
        )
    return amount


def _missing_as_none(v: Any) -> Any:
    """``None`` for every spelling of a missing value (see :func:`pipeline_core.facts.is_missing`)."""
    if v is None or v.__class__ is int or v.__class__ is bool:
        return v
    return None if is_missing(v) else v


def object_getter(
    field: str, measure: str, *, safe: bool = False, currency: str | None = None
) -> Getter:
    """A fast reader of ``field`` from a record-like object.

    A field of :class:`~pipeline_core.records.Lead` is read with ``operator.attrgetter`` (an object
    without it raises ``AttributeError``) unless ``safe``; other fields read as ``None`` if absent.
    ``safe`` readers (for objects that are not records) read NaN, NaT and blanks as ``None``.
    A money field is read as its amount in ``currency`` (see the module doc).
    """
    if field.startswith("custom."):
        key = field[7:]

        def get_custom(lead: Any) -> Any:
            custom = getattr(lead, "custom", None)
            return None if custom is None else custom.get(key)

        base: Getter = get_custom
    elif field in MONEY_FIELDS:

        def get_money(lead: Any) -> Any:
            m = getattr(lead, field, None)
            if m is None:
                return None
            if currency is not None and m.__class__ is Money and m.currency == currency:
                return m.amount
            return _missing_as_none(_money_amount(field, m, currency))

        base = get_money
    elif field in _LEAD_FIELDS and not safe:
        base = operator.attrgetter(field)  # C speed; see ScoreModel.score_units for the fallback
    else:

        def get_attr(lead: Any) -> Any:
            return _missing_as_none(getattr(lead, field, None))

        base = get_attr
    return _counting(base) if measure == "count" else base


def mapping_getter(field: str, measure: str, *, currency: str | None = None) -> Getter:
    """A reader of ``field`` from a plain mapping / frame row with the same field names.

    NaN, NaT, pandas' NA and blank strings read as ``None`` (missing); a money field is read as
    its amount in ``currency`` (see the module doc)."""
    money = field in MONEY_FIELDS
    alias = f"{field}_amount"
    custom_key = field[7:] if field.startswith("custom.") else None

    def get(row: Any) -> Any:
        if field in row:
            v = row[field]
        elif money and alias in row:
            v = row[alias]
        elif custom_key is not None:
            custom = row.get("custom")
            v = None if custom is None else custom.get(custom_key)
        else:
            return None
        if money and v is not None:
            if currency is not None and "currency" in row and not _has_currency(v):
                # a flat row: the amount in ``field``, its code in ``currency`` (frame_columns)
                v = {"amount": v, "currency": row["currency"]}
            v = _money_amount(field, v, currency)
        return _missing_as_none(v)

    return _counting(get) if measure == "count" else get


def _has_currency(value: Any) -> bool:
    return isinstance(value, Mapping) or hasattr(value, "currency")


def _amount_text(field: str, text: str) -> Decimal:
    """An amount given as text in a plain mapping; anything but ASCII digits is a
    :class:`~pipeline_core.errors.ValidationError` naming ``field``."""
    if not is_decimal_text(text):
        raise ValidationError(
            "lead",
            [
                Problem(
                    (field,),
                    "not an amount: expected ASCII digits such as '50000.00'",
                    text,
                    "decimal_parsing",
                )
            ],
        )
    return Decimal(text)


def _instant_value(field: str, value: Any) -> datetime:
    """A Decay criterion's value as an aware datetime (or ISO 8601 text); anything else is a
    :class:`~pipeline_core.errors.ValidationError` naming ``field``."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(
            "lead",
            [
                Problem(
                    (field,),
                    "a decaying criterion needs a timezone-aware date-time",
                    value,
                    "datetime_type",
                )
            ],
        )
    return value


def _counting(base: Getter) -> Getter:
    def count(lead: Any) -> Any:
        v = base(lead)
        return None if v is None else len(v)

    return count


@attrs.frozen
class Compiled:
    """A criterion compiled for speed.

    ``units(value, at)`` gives the contribution in integer units; ``explain(value, at)`` gives
    ``(units, label, missing)``. Both are built from the same tables.
    """

    criterion: Criterion
    get_obj: Getter
    get_safe: Getter
    get_map: Getter
    units: Callable[[Any, datetime | None], int]
    explain: Callable[[Any, datetime | None], tuple[int, str, bool]]
    missing_units: int


def compile_criterion(c: Criterion, *, currency: str | None = None) -> Compiled:
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

        def units_cat(v: Any, at: datetime | None) -> int:
            if v is None:
                return missing_u
            if v is True or v is False:
                v = TRUE_KEY if v else FALSE_KEY
            return lookup.get(v, other_u)

        def explain_cat(v: Any, at: datetime | None) -> tuple[int, str, bool]:
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

        def units_rng(v: Any, at: datetime | None) -> int:
            if v is None:
                return missing_u
            if v.__class__ is float:
                if v != v:  # NaN counts as missing
                    return missing_u
                return region_u[br(fbounds, v)]
            return region_u[br(bounds, v)]

        def explain_rng(v: Any, at: datetime | None) -> tuple[int, str, bool]:
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

        def decay_units(v: Any, at: datetime | None) -> int:
            if at is None:
                raise ValueError(f"criterion {c.name!r} decays with time: pass at=")
            ts = (
                v
                if v.__class__ is datetime and v.tzinfo is not None
                else _instant_value(c.field, v)
            )
            return round(full * decay.factor(ts, at))

        def units_dec(v: Any, at: datetime | None) -> int:
            return missing_u if v is None else decay_units(v, at)

        def explain_dec(v: Any, at: datetime | None) -> tuple[int, str, bool]:
            if v is None:
                return missing_u, missing_label, True
            return decay_units(v, at), decay.label(), False

        units, explain = units_dec, explain_dec
    else:
        table = [(r, u(r.points), r.label()) for r in rules]

        def units_gen(v: Any, at: datetime | None) -> int:
            if v is None:
                return missing_u
            for r, pts, _ in table:
                if r(v):
                    return pts
            return other_u

        def explain_gen(v: Any, at: datetime | None) -> tuple[int, str, bool]:
            if v is None:
                return missing_u, missing_label, True
            for r, pts, label in table:
                if r(v):
                    return pts, label, False
            return other_u, "no rule matched", False

        units, explain = units_gen, explain_gen

    return Compiled(
        criterion=c,
        get_obj=object_getter(c.field, c.measure, currency=currency),
        get_safe=object_getter(c.field, c.measure, safe=True, currency=currency),
        get_map=mapping_getter(c.field, c.measure, currency=currency),
        units=units,
        explain=explain,
        missing_units=missing_u,
    )
