"""Guards: the conditions an opportunity must meet to make a move.

A guard is either

- a declarative :class:`Condition` on one field of the opportunity, usable from JSON or YAML::

      {"field": "expected_amount", "op": "present"}
      {"field": "expected_amount", "op": "ge", "value": {"amount": "10000", "currency": "CNY"}}
      {"field": "custom.region_approved", "op": "eq", "value": true}

- or a plain Python callable taking the :class:`~pipeline_core.records.Opportunity`. It passes
  when it returns a true value. A callable may also act as a *validator*: raising ``ValueError``
  (or any :class:`~pipeline_core.errors.PipelineCoreError`) fails the guard, and the exception's
  message says why. Wrap a callable in :class:`Check` to give it a readable name.

Guards are compiled once, when a pipeline is built, into small functions that return ``None`` when
the guard holds and a sentence saying what is unmet when it does not.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final, Literal, TypeAlias, get_args

import attrs
import pydantic

from pipeline_core._definition import definition, from_plain, plain, to_plain
from pipeline_core._deprecation import moved
from pipeline_core._values import is_decimal_text
from pipeline_core.errors import PipelineCoreError, Problem
from pipeline_core.records import Money, Opportunity

__all__ = [
    "OPERATORS",
    "Check",
    "Condition",
    "ConditionValue",
    "EntryGuard",
    "GuardTest",
    "Operator",
    "compile_guard",
    "describe_guard",
    "guard_field_problems",
]

Operator: TypeAlias = Literal[
    "present", "absent", "eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"
]
"""Operators of a :class:`Condition`."""

OPERATORS: Final[tuple[str, ...]] = get_args(Operator)

_UNARY: Final = frozenset({"present", "absent"})
_ORDERED: Final = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}
_SYMBOL: Final = {
    "eq": "==",
    "ne": "!=",
    "gt": ">",
    "ge": ">=",
    "lt": "<",
    "le": "<=",
    "in": "in",
    "not_in": "not in",
}

GuardTest: TypeAlias = Callable[[Opportunity], str | None]
"""A compiled guard: ``None`` when it holds, else a sentence saying what is unmet."""


ConditionValue: TypeAlias = (
    str
    | int
    | float
    | bool
    | dict[str, str]
    | list[str | int | float | bool | dict[str, str]]
    | None
)
"""What a condition compares with, in plain data (a mapping is a money threshold
``{"amount": "10000", "currency": "CNY"}``; a list is for ``in`` / ``not_in``)."""


def _money_value(value: Any) -> Any:
    """A ``{"amount", "currency"}`` mapping as :class:`Money` (left as it is when invalid: the
    pipeline's validation then names the field)."""
    if isinstance(value, Mapping) and set(value) == {"amount", "currency"}:
        try:
            return Money.from_dict(value)
        except PipelineCoreError:
            return value
    return value


def _value_from_plain(value: Any) -> Any:
    """A plain list as a tuple; a ``{"amount", "currency"}`` mapping (alone or in a list) as
    :class:`Money`."""
    if isinstance(value, list):
        return tuple(_money_value(v) for v in value)
    return _money_value(value)


def _value_to_plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [v.to_dict() if isinstance(v, Money) else v for v in value]
    return value.to_dict() if isinstance(value, Money) else value


@definition("condition")
@attrs.frozen
class Condition:
    """A declarative condition on one field of an opportunity.

    ``field`` is an :class:`~pipeline_core.records.Opportunity` field name (``"needs"``,
    ``"expected_amount"``) or ``"custom.<name>"`` for a company-specific field. ``op`` is one of
    :data:`OPERATORS`: ``present`` / ``absent`` (not ``None`` and not empty), the comparisons
    ``eq ne gt ge lt le`` against ``value``, or ``in`` / ``not_in`` a list in ``value``.
    A money field compares with a :class:`~pipeline_core.records.Money` threshold
    (``{"field": "expected_amount", "op": "ge", "value": {"amount": "10000", "currency": "CNY"}}``):
    an amount in another currency never meets it — the guard is unmet with a reason naming both
    currencies (record the amount in the threshold's currency, converted with
    :meth:`pipeline_core.money.ExchangeRates.convert`). A bare number is in the pipeline's
    ``currency`` (``Pipeline(currency="CNY")``); in a pipeline without one it compares the amount
    alone, whatever its currency: state the currency whenever deals may come in several.
    A date field compares with an ISO date string. ``message`` replaces the default explanation.

    Its plain form (``from_dict`` / ``to_dict``, JSON Schema) is derived from these fields
    (``op`` always written, ``value`` and ``message`` when set); its checks are
    :func:`guard_field_problems`, run by the pipeline holding it (they need the pipeline's
    currency and the opportunity's fields).
    """

    field: str = attrs.field(metadata=plain(schema=Annotated[str, pydantic.Field(min_length=1)]))
    op: str = attrs.field(default="present", metadata=plain(schema=Operator, dump="always"))
    value: Any = attrs.field(
        default=None,
        metadata=plain(schema=ConditionValue, decode=_value_from_plain, encode=_value_to_plain),
    )
    message: str | None = None

    def describe(self) -> str:
        """A short readable name, e.g. ``"expected_amount present"`` or ``"probability >= 0.5"``."""
        if self.op in _UNARY:
            return f"{self.field} {self.op}"
        return f"{self.field} {_SYMBOL.get(self.op, self.op)} {self.value!r}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"field": ..., "op": ..., "value": ..., "message": ...}`` (unset keys left out)."""
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        """Build from plain data; checked when the pipeline holding it is built. Not a mapping,
        nested too deeply, an unknown key or operator, a value of the wrong type or no ``field``:
        :class:`~pipeline_core.errors.ConfigError` listing every problem."""
        return from_plain(cls, data)


@attrs.frozen
class Check:
    """A Python callable used as a guard, with a readable ``name`` and an optional ``message``.

    ``fn(opportunity)`` passes when it returns a true value. If it raises ``ValueError`` (a
    *validator*), the guard fails and the exception's text is the reason.
    """

    fn: Callable[[Opportunity], object]
    name: str
    message: str | None = None

    def __repr__(self) -> str:
        return f"Check({self.name!r})"


EntryGuard: TypeAlias = Condition | Check | Callable[[Opportunity], object]
"""Anything accepted as an entry guard of a stage: a :class:`Condition`, a :class:`Check` or a
plain callable (was ``Guard``, the name of :class:`pipeline_core.access.guard.Guard` too)."""

__getattr__ = moved(__name__, {"Guard": "pipeline_core.stages.guards:EntryGuard"})


def describe_guard(guard: EntryGuard) -> str:
    """The readable name of a guard (recorded in a stage event's ``checks``)."""
    if isinstance(guard, Condition):
        return guard.describe()
    if isinstance(guard, Check):
        return guard.name
    return getattr(guard, "__name__", None) or repr(guard)


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, tuple | frozenset | dict | list):
        return len(value) == 0
    return False


def _field_kind(name: str) -> str:
    """``"money"``, ``"date"``, ``"datetime"``, ``"custom"`` or ``"plain"``."""
    if name.startswith("custom."):
        return "custom"
    if name == "expected_amount":
        return "money"
    if name == "expected_close":
        return "date"
    if name in {"created_at", "stage_entered_at", "closed_at"}:
        return "datetime"
    return "plain"


_FIELDS: Final = Opportunity.__pc_names__
_SCALARS: Final = frozenset(
    {
        "created_at",
        "stage_entered_at",
        "intent",
        "expected_amount",
        "probability",
        "expected_close",
        "next_step",
        "closed_at",
        "version",
    }
)


def guard_field_problems(
    guard: EntryGuard,
    path: tuple[str | int, ...],
    *,
    known: frozenset[str] = _FIELDS,
    currency: str | None = None,
) -> list[Problem]:
    """Every problem with a guard's definition (unknown field or operator, unusable value; a
    bare money threshold with more decimals than ``currency`` has)."""
    if isinstance(guard, Check):
        if not callable(guard.fn):
            return [Problem((*path, "fn"), "must be callable", guard.fn, "not_callable")]
        return []
    if not isinstance(guard, Condition):
        if callable(guard):
            return []
        return [Problem(path, "a guard is a condition mapping or a callable", guard, "guard_type")]
    problems: list[Problem] = []
    field = guard.field
    if not isinstance(field, str) or not (
        field in known or (field.startswith("custom.") and len(field) > len("custom."))
    ):
        problems.append(
            Problem(
                (*path, "field"),
                "unknown field: expected an Opportunity field or 'custom.<name>'",
                field,
                "unknown_field",
            )
        )
    if guard.op not in OPERATORS:
        problems.append(
            Problem(
                (*path, "op"),
                f"unknown operator: expected one of {', '.join(OPERATORS)}",
                guard.op,
                "unknown_operator",
            )
        )
        return problems
    if problems:
        return problems
    try:
        _in_currency(_coerce(guard), guard, currency)
    except (ValueError, TypeError, InvalidOperation) as exc:
        problems.append(Problem((*path, "value"), str(exc), guard.value, "bad_value"))
    return problems


def _coerce_one(kind: str, value: Any) -> Any:
    if isinstance(value, bool) and kind != "custom" and kind != "plain":
        raise ValueError("a boolean cannot be compared with this field")
    if kind == "money":
        if isinstance(value, Money):
            return value
        if isinstance(value, Mapping):
            return Money.from_dict(value)
        if isinstance(value, float):
            value = repr(value)
        if not isinstance(value, int | str | Decimal):
            raise TypeError("compare a money field with a number or a decimal string")
        if isinstance(value, str) and not is_decimal_text(value, signed=True):
            raise ValueError(
                "a decimal string is ASCII digits with an optional point, e.g. '5000.00'"
            )
        return Decimal(value)
    if kind == "date":
        if not isinstance(value, str | date):
            raise TypeError("compare a date field with an ISO date string such as '2025-06-30'")
        return date.fromisoformat(value) if isinstance(value, str) else value
    if kind == "datetime":
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValueError("compare a time field with an ISO datetime that has an offset")
        return value
    return value


def _coerce(guard: Condition) -> Any:
    op = guard.op
    kind = _field_kind(guard.field)
    if op in _UNARY:
        if guard.value is not None:
            raise ValueError(f"operator {op!r} takes no value")
        return None
    if op in ("in", "not_in"):
        if not isinstance(guard.value, tuple | list | frozenset | set):
            raise TypeError(f"operator {op!r} needs a list of values")
        values = frozenset(_coerce_one(kind, v) for v in guard.value)
        if kind == "money" and 0 < sum(isinstance(v, Money) for v in values) < len(values):
            raise ValueError("give every amount of the list with its currency, or none")
        return values
    if guard.value is None:
        raise ValueError(f"operator {op!r} needs a value")
    if isinstance(guard.value, list | tuple) or (isinstance(guard.value, dict) and kind != "money"):
        raise TypeError(f"operator {op!r} compares with a single value")
    return _coerce_one(kind, guard.value)


def _getter(field: str) -> Callable[[Opportunity], Any]:
    kind = _field_kind(field)
    if kind == "custom":
        key = field[len("custom.") :]
        return lambda opp: opp.custom.get(key)
    get = operator.attrgetter(field)
    if kind == "money":

        def money_amount(opp: Opportunity) -> Any:
            value = get(opp)
            return value.amount if isinstance(value, Money) else value

        return money_amount
    return get


def _in_currency(target: Any, cond: Condition, currency: str | None) -> Any:
    """A bare money threshold (or list of them) as :class:`Money` in ``currency``, when given."""
    if currency is None or _field_kind(cond.field) != "money":
        return target
    if isinstance(target, Decimal):
        return Money.of(target, currency)
    if isinstance(target, frozenset):
        return frozenset(Money.of(v, currency) if isinstance(v, Decimal) else v for v in target)
    return target


def compile_guard(guard: EntryGuard, *, currency: str | None = None) -> GuardTest:
    """Compile a valid guard (see :func:`guard_field_problems`) into a :data:`GuardTest`;
    a bare money threshold is in ``currency`` (the pipeline's), when given."""
    if isinstance(guard, Condition):
        return _compile_condition(guard, currency)
    if isinstance(guard, Check):
        return _compile_callable(guard.fn, guard.name, guard.message)
    return _compile_callable(guard, describe_guard(guard), None)


def _compile_callable(
    fn: Callable[[Opportunity], object], name: str, message: str | None
) -> GuardTest:
    def test(opp: Opportunity) -> str | None:
        try:
            ok = fn(opp)
        except (ValueError, PipelineCoreError) as exc:
            return f"{name}: {exc}"
        if ok:
            return None
        return message or f"{name} is not met"

    return test


def _compile_condition(cond: Condition, currency: str | None = None) -> GuardTest:
    field, op = cond.field, cond.op
    get = _getter(field)
    target = _in_currency(_coerce(cond), cond, currency)
    custom = cond.message
    if isinstance(target, Money):
        return _compile_money(cond, target)
    if op == "present":
        msg = custom or f"{field} must be present"
        if field in _SCALARS:  # never an empty string or container: only None is "absent"

            def present_scalar(opp: Opportunity) -> str | None:
                return msg if get(opp) is None else None

            return present_scalar

        def present(opp: Opportunity) -> str | None:
            value = get(opp)
            if value is None or (value.__class__ is str and not value.strip()):
                return msg
            if isinstance(value, tuple | frozenset | dict) and not value:
                return msg
            return None

        return present
    if op == "absent":
        msg = custom or f"{field} must be empty"
        return lambda opp: msg if not _is_empty(get(opp)) else None
    missing = custom or f"{field} is missing, so '{cond.describe()}' cannot hold"
    if op in ("in", "not_in"):
        want = op == "in"
        if any(isinstance(v, Money) for v in target):  # Money equality: amount and currency
            get = operator.attrgetter(field)

        def member(opp: Opportunity) -> str | None:
            value = get(opp)
            if value is None:
                return missing
            try:
                inside = value in target
            except TypeError:
                inside = False
            if inside is want:
                return None
            return (
                custom or f"{field} must be {_SYMBOL[op]} {sorted(map(str, target))} (is {value!r})"
            )

        return member
    if op in ("eq", "ne"):
        want_eq = op == "eq"

        def equal(opp: Opportunity) -> str | None:
            value = get(opp)
            if (value == target) is want_eq:
                return None
            return custom or f"{field} must be {_SYMBOL[op]} {cond.value!r} (is {value!r})"

        return equal
    compare = _ORDERED[op]

    def ordered(opp: Opportunity) -> str | None:
        value = get(opp)
        if value is None:
            return missing
        try:
            ok = compare(value, target)
        except TypeError:
            ok = False
        if ok:
            return None
        return custom or f"{field} must be {_SYMBOL[op]} {cond.value!r} (is {value!r})"

    return ordered


def _compile_money(cond: Condition, target: Money) -> GuardTest:
    """A comparison of a money field with a :class:`Money` threshold: same currency only."""
    field, op, custom = cond.field, cond.op, cond.message
    get = operator.attrgetter(field)
    missing = custom or f"{field} is missing, so '{field} {_SYMBOL[op]} {target}' cannot hold"
    compare = _ORDERED.get(op) or (operator.eq if op == "eq" else operator.ne)

    def money(opp: Opportunity) -> str | None:
        value = get(opp)
        if value is None:
            return None if op == "ne" else missing
        if value.currency != target.currency:
            return (
                f"{field} is {value}, in another currency than {target}: amounts in different "
                f"currencies are not compared (record {field} in {target.currency}, converted "
                f"with pipeline_core.money.ExchangeRates.convert)"
            )
        if compare(value.amount, target.amount):
            return None
        return custom or f"{field} must be {_SYMBOL[op]} {target} (is {value})"

    return money
