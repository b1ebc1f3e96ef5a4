"""Readers: how one field of a lead is read, from a record, an object, a mapping or a frame row.

A reader (:class:`Getter`) takes a lead and gives the value of one field, ``None`` when it is
missing (any spelling of "no value", :func:`pipeline_core.facts.is_missing`: ``None``, ``NaN``,
``NaT``, pandas' ``NA``, a blank text). Field names are those of
:class:`~pipeline_core.records.Lead`; ``custom.<key>`` reads a custom field.

Money fields (:data:`MONEY_FIELDS`) are read as their amount in the model's currency: a ``Money``
(or ``{"amount": ..., "currency": ...}``, or a flat row's amount with its code in the ``currency``
column, :mod:`pipeline_core.frame_columns`) in another currency raises
:class:`~pipeline_core.errors.CurrencyMismatchError` naming the field and both currencies; a bare
number or decimal string, or a ``<field>_amount`` column, is read as the model's currency; no
currency reads every amount as it is.

Category texts match values of other types by :func:`category_keys` (``"true"`` a ``True``,
``"3"`` the int 3).
"""

from __future__ import annotations

import contextlib
import operator
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Protocol

from pipeline_core._values import is_decimal_text
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.facts import is_missing
from pipeline_core.records import Lead, Money

__all__ = [
    "FALSE_KEY",
    "MONEY_FIELDS",
    "TRUE_KEY",
    "Getter",
    "bool_key",
    "category_keys",
    "instant_value",
    "mapping_getter",
    "object_getter",
]

MONEY_FIELDS: Final = frozenset({"budget", "expected_amount"})
"""Fields read as a money amount."""

_LEAD_FIELDS: Final = Lead.__pc_names__

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


def instant_value(field: str, value: Any) -> datetime:
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
