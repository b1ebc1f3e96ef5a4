"""Field value types of records: annotated types with their pydantic validators and rules.

Instants (:data:`Timestamp`), ids, names and texts, tags, money (:data:`Amount`,
:data:`CurrencyCode`), probabilities, custom fields and JSON objects: each type says once what a
record field accepts, and pydantic applies it. The helpers that state one rule for the whole
library live beside them (:func:`iana_zone`, :func:`is_decimal_text`, :func:`is_currency_code`,
:func:`minor_units`, :func:`as_fixed_offset`, :func:`deep_freeze`). Records themselves are in
:mod:`pipeline_core._model`, which re-exports these names.
"""

from __future__ import annotations

import re
import typing
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
from pydantic import BeforeValidator, Field, PlainSerializer, Strict
from pydantic_core import PydanticCustomError, TzInfo

from pipeline_core._currencies import MINOR_UNITS
from pipeline_core._jsonvalue import json_value_problems
from pipeline_core.errors import Problem

__all__ = [
    "MAX_OFFSET",
    "MIN_OFFSET",
    "Amount",
    "CurrencyCode",
    "CustomFields",
    "FrozenDict",
    "Id",
    "JsonObject",
    "LongText",
    "Name",
    "Probability",
    "ShortText",
    "Tags",
    "Timestamp",
    "Version",
    "as_fixed_offset",
    "currency_problems",
    "deep_freeze",
    "iana_zone",
    "is_currency_code",
    "is_decimal_text",
    "minor_units",
]


# --------------------------------------------------------------------------- value types


class FrozenDict(dict[str, Any]):
    """A ``dict`` that cannot be changed after construction, so records holding one stay immutable
    and hashable. Used for custom fields."""

    __slots__ = ("_hash",)

    def _immutable(self, *args: Any, **kwargs: Any) -> typing.NoReturn:
        raise TypeError("FrozenDict cannot be changed; evolve the record instead")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _immutable
    __ior__ = _immutable

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash: int = hash(frozenset(self.items()))
            return self._hash

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


def deep_freeze(value: Any) -> Any:
    """JSON-like data made immutable: dicts become :class:`FrozenDict`, lists become tuples."""
    if isinstance(value, dict):
        return FrozenDict({k: deep_freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(deep_freeze(v) for v in value)
    return value


_ISO_DATETIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}", re.ASCII)


_BELOW_MICROSECOND: Final = re.compile(r"[.,][0-9]{7}", re.ASCII)


def _no_numbers_for_datetime(value: Any) -> Any:
    # pydantic's lax mode would read 1700000000, and also the string "1700000000" or "45663" (an
    # Excel serial date), as a Unix time in UTC: a silent guess we refuse. Only a datetime or an
    # ISO 8601 date-time string in ASCII digits is an instant.
    if type(value) is datetime:
        return value
    if isinstance(value, datetime):
        # A subclass (pandas.Timestamp) may carry nanoseconds that a datetime cannot hold.
        if getattr(value, "nanosecond", 0):
            raise PydanticCustomError(
                "datetime_precision",
                "instants are kept to the microsecond: this one has nanoseconds",
            )
        return datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second,
            value.microsecond, value.tzinfo, fold=value.fold,
        )  # fmt: skip
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        if _BELOW_MICROSECOND.search(value):
            raise PydanticCustomError(
                "datetime_precision",
                "instants are kept to the microsecond: at most 6 digits after the seconds "
                "(more would be cut off)",
            )
        return value
    raise PydanticCustomError(
        "datetime_type",
        "expected a timezone-aware datetime or an ISO 8601 string with an offset such as "
        "'2025-01-06T09:00:00+08:00', not a number or other text",
    )


MIN_OFFSET: Final = timedelta(hours=-12)
"""The most negative UTC offset a :data:`Timestamp` accepts (the real-world range, UTC-12:00)."""
MAX_OFFSET: Final = timedelta(hours=14)
"""The largest UTC offset a :data:`Timestamp` accepts (the real-world range, UTC+14:00)."""


def _real_offset(value: datetime) -> datetime:
    offset = value.utcoffset()
    assert offset is not None  # AwareDatetime ran first
    if offset.seconds % 60 or offset.microseconds:
        # ISO 8601 writes whole minutes: to_dict() would cut +08:05:43 (LMT) to +08:05.
        raise PydanticCustomError(
            "timezone_offset",
            "a UTC offset is a whole number of minutes, got {offset}",
            {"offset": str(offset)},
        )
    if not MIN_OFFSET <= offset <= MAX_OFFSET:
        raise PydanticCustomError(
            "timezone_offset",
            "UTC offsets run from -12:00 to +14:00 (the zones in use; PostgreSQL cannot store "
            "some beyond), got {offset}",
            {"offset": str(offset)},
        )
    if 1 < value.year < 9999:  # an offset of at most 14 hours cannot leave years 1-9999
        return value
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_range", "the instant is outside years 1-9999 in UTC"
        ) from None
    return value


_DECIMAL_TEXT: Final = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", re.ASCII)
_SIGNED_DECIMAL_TEXT: Final = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", re.ASCII)


def is_decimal_text(text: str, *, signed: bool = False) -> bool:
    """Whether ``text`` is a decimal number written the one accepted way: ASCII digits, an
    optional decimal point and exponent, a sign only if ``signed``. Python's ``Decimal`` reads far
    more (``"１２３"``, ``"1_000"``, ``" 12 "``, ``"NaN"``): those are not numbers here."""
    return bool((_SIGNED_DECIMAL_TEXT if signed else _DECIMAL_TEXT).fullmatch(text))


def _no_float_money(value: Any) -> Any:
    if isinstance(value, bool | float):
        raise PydanticCustomError(
            "decimal_type",
            "money must be a Decimal, an int or a decimal string such as '1999.00'; "
            "floats are refused because they cannot hold cents exactly",
        )
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        # Python's Decimal would read '１２３' (full-width), '1_000', ' 12 ' and '-0': not amounts.
        raise PydanticCustomError(
            "decimal_parsing",
            "an amount is written with ASCII digits and an optional decimal point, such as "
            "'1999.00' (no sign, spaces, underscores or full-width digits)",
        )
    if isinstance(value, Decimal) and value.is_signed():
        raise PydanticCustomError("decimal_sign", "an amount is never negative (also not -0)")
    return value


_INVISIBLE: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"})


def _printable_id(value: str) -> str:
    # Ids reach terminals, file names and diagrams: no control, format (zero-width, BOM, bidi)
    # or separator characters. Unassigned code points (newer Unicode) are let through.
    if not value.isprintable() and any(unicodedata.category(ch) in _INVISIBLE for ch in value):
        raise PydanticCustomError(
            "id_characters",
            "an id may not contain control or invisible characters (ESC, BEL, zero-width space, "
            "byte-order mark, line separators ...)",
        )
    return value


def is_currency_code(value: object) -> bool:
    """Whether ``value`` is an accepted ISO 4217 currency code (upper-case text such as ``"CNY"``;
    see :mod:`pipeline_core._currencies` for the dated list it follows). The one currency check:
    records, exchange rates and definitions that name a currency all call it."""
    return isinstance(value, str) and value in MINOR_UNITS


def currency_problems(
    code: str | None, path: tuple[str | int, ...] = ("currency",)
) -> list[Problem]:
    """The problem of a definition's optional ``currency`` (``[]`` when ``None`` or accepted by
    :func:`is_currency_code`): the one check pipelines, scoring models, segment policies and
    predictive models run."""
    if code is None or is_currency_code(code):
        return []
    return [Problem(path, "not an ISO 4217 currency code", code, "currency")]


def minor_units(currency: str) -> int:
    """Decimal places a currency's amounts may carry (``2`` for CNY, ``0`` for JPY, ``3`` for BHD;
    ISO 4217). ``KeyError`` for a code :func:`is_currency_code` refuses."""
    return MINOR_UNITS[currency]


def _known_currency(value: str) -> str:
    if not is_currency_code(value):
        raise PydanticCustomError(
            "currency",
            "unknown currency: expected an upper-case ISO 4217 code such as 'CNY', 'USD' or 'EUR'",
        )
    return value


_MACHINE_ZONES: Final = frozenset({"localtime", "posixrules", "Factory"})


def iana_zone(name: object) -> ZoneInfo:
    """The IANA zone called ``name`` (``Asia/Shanghai``), or ``ValueError``: also for the
    machine-dependent entries of a tz database (``localtime``, ``posixrules``, ``Factory``, the
    ``posix/`` and ``right/`` copies), whose meaning changes from one machine to the next. The one
    check for every zone name a record or a calendar takes."""
    if not isinstance(name, str) or name in _MACHINE_ZONES or name.startswith(("posix/", "right/")):
        raise ValueError("unknown IANA time zone; expected e.g. 'Asia/Shanghai'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown IANA time zone; expected e.g. 'Asia/Shanghai'") from None


def as_fixed_offset(value: datetime) -> datetime:
    """``value`` with its named zone replaced by the fixed UTC offset in force at that instant.

    In a :data:`Timestamp` this runs after the offset rule (whole minutes, -12:00..+14:00), so an
    offset with seconds (a named zone's local mean time) has been refused before it gets here."""
    # A timestamp is an instant plus the UTC offset it was observed with. A named zone
    # (ZoneInfo) becomes its fixed offset at that instant, so the ISO 8601 round trip is exact and
    # equality never depends on DST folds.
    tz = value.tzinfo
    if type(tz) is TzInfo:  # parsed from ISO 8601 text: whole minutes
        return value
    offset = value.utcoffset()
    assert offset is not None  # AwareDatetime ran first
    if type(tz) is timezone:
        return value
    return value.replace(tzinfo=timezone(offset), fold=0)


Timestamp = Annotated[
    pydantic.AwareDatetime,
    BeforeValidator(_no_numbers_for_datetime),
    pydantic.AfterValidator(_real_offset),
    pydantic.AfterValidator(as_fixed_offset),
]
"""A timezone-aware ``datetime`` kept with its UTC offset (named zones become fixed offsets).

Refused: naive datetimes; numbers and numeric strings (``"45663"``, ``"1736125200"`` are not read
as Excel or Unix times); text other than an ISO 8601 date-time in ASCII digits; more than 6
fractional digits or nanoseconds (``pandas.Timestamp``; other ``datetime`` subclasses become plain
``datetime``); UTC offsets that are not whole minutes (local mean time such as +08:05:43) or lie
outside -12:00..+14:00; instants whose UTC time falls outside years 1-9999."""

Id = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=r"^\S+$"),
    pydantic.AfterValidator(_printable_id),
]
"""A record id: 1-128 characters without white space, control or invisible characters
(any script is fine: ``线索-001``)."""

Name = Annotated[str, Field(min_length=1, max_length=300)]
"""A person's, company's or thing's name (any script, e.g. 北京某某科技有限公司)."""

ShortText = Annotated[str, Field(max_length=2_000)]
"""A short free text (a next step, a reason)."""

LongText = Annotated[str, Field(max_length=200_000)]
"""A long free text (notes, a needs description): up to 200,000 characters."""

Tag = Annotated[str, Field(min_length=1, max_length=100)]
"""One tag: 1-100 characters."""

Tags = Annotated[frozenset[Tag], PlainSerializer(sorted, return_type=list[str])]
"""A set of tags; serialized as a sorted list."""

CurrencyCode = Annotated[
    str,
    Strict(),
    pydantic.AfterValidator(_known_currency),
    pydantic.WithJsonSchema({"type": "string", "enum": sorted(MINOR_UNITS)}),
]
"""An ISO 4217 currency code such as ``"CNY"``."""

Amount = Annotated[
    Decimal,
    Field(ge=0, max_digits=22, allow_inf_nan=False),
    BeforeValidator(_no_float_money),
    pydantic.AfterValidator(_no_float_money),
    pydantic.WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 10**21},
                {"type": "string", "pattern": r"^[0-9]{1,21}(\.[0-9]{1,3})?$"},
            ]
        }
    ),
]
"""A money amount: ``Decimal``, never negative (``-0`` included), never a float; text only as
ASCII digits with an optional decimal point or exponent (``"1999.00"``, ``"1E+3"``)."""

Probability = Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False)]
"""A probability between 0 and 1."""

StrictInt = Annotated[int, Strict()]
"""An ``int`` as given (no text or float read as one)."""
StrictBool = Annotated[bool, Strict()]
"""A ``bool`` as given (no ``1`` or ``"yes"`` read as one)."""

CustomValue = (
    Annotated[str, Field(max_length=10_000)]
    | StrictInt
    | StrictBool
    | Annotated[float, Strict(), Field(allow_inf_nan=False)]
    | None
)
"""One custom field value: text (up to 10,000 characters), int, bool, finite float or ``None``."""


def _json_scalars(value: Any) -> Any:
    # pydantic would turn Decimal('1E+3') into 1000.0 and Decimal('-0') into -0.0: refused.
    if isinstance(value, Mapping):
        for v in value.values():
            if not (v is None or type(v) in (str, int, float, bool)):
                raise PydanticCustomError(
                    "custom_value",
                    "custom field values are text, int, float, true/false or null, got {type}",
                    {"type": type(v).__name__},
                )
    return value


CustomFields = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=100)], CustomValue],
    BeforeValidator(_json_scalars),
    pydantic.AfterValidator(FrozenDict),
]
"""Company-specific fields: names to JSON scalars (text, int, float, bool or null)."""

Version = Annotated[int, Strict(), Field(ge=1)]
"""A record version: an ``int`` from 1 (:meth:`~pipeline_core._model.Record.evolve` adds one)."""


def _json_object(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise PydanticCustomError("dict_type", "expected a JSON object (a dict with string keys)")
    problems = json_value_problems(value)
    if problems:
        p = problems[0]
        where = Problem(p.path, "", None).field
        raise PydanticCustomError(
            p.code,
            "{where}: {message}" if p.path else "{message}",
            {"where": where, "message": p.message},
        )
    return value


JsonObject = Annotated[
    dict[str, Any],
    BeforeValidator(_json_object),
    pydantic.AfterValidator(deep_freeze),
]
"""A JSON object: string keys; values ``None``, ``bool``, ``int``, finite ``float``, ``str``
(no NUL), lists and objects, nested at most 64 levels (:mod:`pipeline_core._jsonvalue`).
Frozen on the way in (objects become :class:`FrozenDict`, lists tuples)."""
