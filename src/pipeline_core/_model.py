"""The boundary between plain data and immutable records.

Records are lean ``attrs`` classes (slotted, frozen). Their field annotations carry pydantic
constraints (``Annotated[str, Field(max_length=200)]``), so each record is described once and pydantic
derives from it: a validator that turns plain data into the record, a serializer that turns the record
into JSON-compatible data, and a JSON Schema.

- ``Record.from_dict(data)`` validates plain data and returns the record.
- ``Record(...)`` (the constructor) validates too, so a naive datetime or a float amount can never get
  into a record, however it is built.
- ``record.to_dict()`` returns JSON-compatible data; ``from_dict(to_dict(r)) == r`` always.
- ``record.evolve(**changes)`` returns the changed record with ``version + 1``.

Internal hot paths (stage moves, the sample generator, storage reads of rows it wrote) build records
from values that are valid by construction with ``_trusted``, skipping validation.
"""

from __future__ import annotations

import re
import typing
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, NotRequired, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import pydantic
import pydantic_core
from pydantic import BeforeValidator, Field, GetCoreSchemaHandler, PlainSerializer, Strict
from pydantic_core import PydanticCustomError, TzInfo, core_schema
from typing_extensions import TypedDict

from pipeline_core._currencies import MINOR_UNITS
from pipeline_core._interrupts import reraise_interrupt
from pipeline_core.errors import Problem, ValidationError

__all__ = [
    "Amount",
    "CurrencyCode",
    "CustomFields",
    "FrozenDict",
    "Id",
    "JsonObject",
    "LongText",
    "Name",
    "Probability",
    "Record",
    "ShortText",
    "Tags",
    "Timestamp",
    "as_fixed_offset",
    "deep_freeze",
    "iana_zone",
    "is_currency_code",
    "is_decimal_text",
    "minor_units",
    "problems_from_pydantic",
    "record",
    "timestamp",
]

_REQUIRED: Final = object()


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


def timestamp(value: object, field: str, what: str) -> datetime:
    """``value`` read as a :data:`Timestamp` (aware, whole-minute offset in -12:00..+14:00, at most
    microseconds, kept with its fixed offset), or :class:`~pipeline_core.errors.ValidationError`
    naming ``field``: the one rule for instants given outside a record (a move's ``at``)."""
    try:
        return _TIMESTAMP.validate_python(value)
    except pydantic.ValidationError as exc:
        problems = [
            Problem((field, *p.path), p.message, p.value, p.code)
            for p in problems_from_pydantic(exc)
        ]
        raise ValidationError(what, problems) from None


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

_TIMESTAMP: Final = pydantic.TypeAdapter(Timestamp)

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
StrictBool = Annotated[bool, Strict()]

CustomValue = (
    Annotated[str, Field(max_length=10_000)]
    | StrictInt
    | StrictBool
    | Annotated[float, Strict(), Field(allow_inf_nan=False)]
    | None
)


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


def _json_object(value: Any) -> Any:
    from pipeline_core._jsonvalue import json_value_problems

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


# --------------------------------------------------------------------------- records


def problems_from_pydantic(exc: pydantic.ValidationError) -> list[Problem]:
    """pydantic's errors as the library's :class:`~pipeline_core.errors.Problem` s: the path
    without pydantic's internal steps, ``"unknown field"``, ``"required field is missing"`` and a
    plain explanation of a naive datetime; the one bridge for records and definitions."""
    problems = []
    for err in exc.errors(include_url=False):
        path = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        code = err["type"]
        message = err["msg"]
        missing = code == "missing"
        if code == "timezone_aware":
            message = (
                "a timezone is needed: got a naive datetime; pass an aware one such as "
                "'2025-01-06T09:00:00+08:00' or datetime(..., tzinfo=ZoneInfo('Asia/Shanghai'))"
            )
        elif code == "extra_forbidden":
            message = "unknown field"
        elif missing:
            message = "required field is missing"
        problems.append(
            Problem(path=path, message=message, value=err.get("input"), code=code, missing=missing)
        )
    return problems


_BYTES = (bytes, bytearray, memoryview)


_SCALARS: Final = frozenset({int, float, bool, type(None)})


_CLEAN_BUDGET: Final = 1_000_000


def _clean(data: Any) -> bool:
    # The fast pass (a few microseconds a record): no bytes, no NUL anywhere. A value that
    # contains itself (only Python callers can build one) would loop for ever: past a budget of
    # items the slow, depth-bounded pass decides.
    stack = [data]
    pop, push = stack.pop, stack.extend
    budget = _CLEAN_BUDGET
    while stack:
        budget -= 1
        if not budget:
            return False
        item = pop()
        t = type(item)
        if t is str:
            if "\x00" in item:
                return False
        elif t is dict or t is FrozenDict:
            push(item.values())
        elif t is list or t is tuple:
            push(item)
        elif t in _SCALARS:
            continue
        elif isinstance(item, _BYTES):
            return False
        elif isinstance(item, str):
            if "\x00" in item:
                return False
        elif isinstance(item, Mapping):
            push(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            push(item)
    return True


def _bytes_problems(data: Any) -> list[Problem]:
    """Bytes anywhere in the input (pydantic's lax mode would decode them into text silently)
    and NUL characters in text (PostgreSQL cannot store them: every adapter must hold the same
    values)."""
    if _clean(data):
        return []
    out: list[Problem] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    seen: set[int] = set()  # each container once: a value that contains itself ends
    while stack and len(out) < 20:
        item, path = stack.pop()
        if isinstance(item, Mapping | list | tuple):
            if id(item) in seen:
                continue
            seen.add(id(item))
        if isinstance(item, str):
            if "\x00" in item:
                out.append(Problem(path, "text may not contain NUL (U+0000)", item, "nul"))
        elif isinstance(item, _BYTES):
            out.append(Problem(path, "bytes are not text: decode them first", item, "bytes_type"))
        elif len(path) < 66 and isinstance(item, Mapping):
            stack.extend((v, (*path, str(k))) for k, v in item.items())
        elif len(path) < 66 and isinstance(item, list | tuple):
            stack.extend((v, (*path, i)) for i, v in enumerate(item))
    return out


class Record:
    """Base of every immutable record: validation, plain-data round trip, JSON Schema, ``evolve``.

    Subclasses are declared with the :func:`record` decorator. Entity records have a ``version``
    (starting at 1) that :meth:`evolve` increases by one; storage uses it for optimistic concurrency.
    Value records (:class:`~pipeline_core.records.Money`, ``NextStep``) have none.
    """

    __slots__ = ()
    __pc_fields__: ClassVar[tuple[tuple[str, Any], ...]]
    __pc_names__: ClassVar[frozenset[str]]
    __pc_optional__: ClassVar[frozenset[str]] = frozenset()
    __pc_invariants__: ClassVar[tuple[Callable[[Any], Iterable[Problem]], ...]] = ()

    # -- pydantic integration ---------------------------------------------------------------

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        inner = handler.generate_schema(_typed_dict_for(cls))
        names = tuple(name for name, _ in cls.__pc_fields__)

        def validate(value: Any, validator: core_schema.ValidatorFunctionWrapHandler) -> Any:
            if isinstance(value, cls):
                return value
            return cls._from_valid(validator(value))

        def serialize(value: Any) -> dict[str, Any]:
            return {name: getattr(value, name) for name in names}

        return core_schema.no_info_wrap_validator_function(
            validate,
            inner,
            serialization=core_schema.plain_serializer_function_ser_schema(
                serialize, return_schema=inner
            ),
        )

    @classmethod
    def _from_valid(cls, data: Mapping[str, Any]) -> Self:
        obj = cls._trusted(data)
        if cls.__pc_invariants__:
            problems = [p for check in cls.__pc_invariants__ for p in check(obj)]
            if problems:
                # Raised as pydantic's own error so that nested records get the full path.
                raise pydantic_core.ValidationError.from_exception_data(
                    cls.__name__,
                    [
                        {
                            "type": PydanticCustomError(
                                p.code, "{message}", {"message": p.message}
                            ),
                            "loc": p.path,
                            "input": p.value,
                        }
                        for p in problems
                    ],
                )
        return obj

    @classmethod
    def _trusted(cls, data: Mapping[str, Any]) -> Self:
        """Build without validation from values known to be valid (internal hot paths only).

        A missing required field raises ``KeyError``; missing optional fields take their default.
        """
        build = _TRUSTED.get(cls)
        if build is None:
            build = _TRUSTED[cls] = _trusted_builder(cls)
        return build(data)  # type: ignore[no-any-return]

    # -- public API ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Validate plain data (e.g. parsed JSON) and return the record.

        Raises :class:`~pipeline_core.errors.ValidationError` listing every bad or missing field,
        with its path and offending value. Unknown fields are refused, not dropped. An optional
        field given as a non-text "no value" (``NaN``, ``NaT``, pandas' ``NA``: what a pandas row
        gives for a blank cell, :func:`pipeline_core.facts.is_missing`) is ``None``; text is kept
        as written (a blank text is not changed here).
        """
        if isinstance(data, Mapping):
            data = _missing_as_none(data, cls.__pc_optional__)
        problems = _bytes_problems(data)
        if problems:
            raise ValidationError(cls.__name__, problems)
        try:
            return _adapter(cls).validate_python(data)  # type: ignore[no-any-return]
        except pydantic.ValidationError as exc:
            raise ValidationError(cls.__name__, problems_from_pydantic(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible plain data: datetimes as ISO 8601 strings, amounts as decimal strings."""
        try:
            return _adapter(type(self)).dump_python(self, mode="json")  # type: ignore[no-any-return]
        except pydantic_core.PydanticSerializationError as exc:
            reraise_interrupt(exc)  # Ctrl-C during serialisation comes through as itself
            raise

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of this record's plain-data form."""
        return _adapter(cls).json_schema()

    def evolve(self, **changes: Any) -> Self:
        """A validated copy with ``changes`` applied and ``version`` increased by one."""
        if "version" in changes:
            raise ValidationError(
                type(self).__name__,
                [
                    Problem(
                        ("version",),
                        "is managed by evolve(); do not pass it",
                        changes["version"],
                        "version_managed",
                    )
                ],
            )
        values = {name: getattr(self, name) for name, _ in self.__pc_fields__}
        unknown = sorted(set(changes) - self.__pc_names__)
        if unknown:
            raise ValidationError(
                type(self).__name__,
                [
                    Problem((name,), "unknown field", changes[name], "extra_forbidden")
                    for name in unknown
                ],
            )
        values.update(changes)
        if "version" in self.__pc_names__:
            values["version"] = typing.cast(Any, self).version + 1
        return type(self)(**values)

    def __attrs_post_init__(self) -> None:
        # The constructor is a boundary too: validate everything, keep the normalised values.
        data = {name: getattr(self, name) for name, _ in self.__pc_fields__}
        given = _missing_as_none(data, self.__pc_optional__)
        problems = _bytes_problems(given)
        if problems:
            raise ValidationError(type(self).__name__, problems)
        try:
            valid = _adapter_dict(type(self)).validate_python(given)
        except pydantic.ValidationError as exc:
            raise ValidationError(type(self).__name__, problems_from_pydantic(exc)) from None
        setter = object.__setattr__
        for name, value in valid.items():
            setter(self, name, value)
        problems = [p for check in self.__pc_invariants__ for p in check(self)]
        if problems:
            raise ValidationError(type(self).__name__, problems)


_R = typing.TypeVar("_R", bound=type[Record])


@typing.dataclass_transform(
    kw_only_default=True, frozen_default=True, field_specifiers=(attrs.field,)
)
def record(cls: _R) -> _R:
    """Declare an immutable record: slotted frozen ``attrs`` class, keyword-only, validated."""
    new_cls: Any = attrs.frozen(kw_only=True, slots=True, eq=True)(cls)
    hints = typing.get_type_hints(new_cls, include_extras=True)
    fields = []
    for f in attrs.fields(new_cls):
        if f.default is attrs.NOTHING:
            fields.append((f.name, _REQUIRED))
        elif isinstance(f.default, attrs.Factory):  # type: ignore[arg-type,unused-ignore]
            raise TypeError(f"{new_cls.__name__}.{f.name}: use immutable defaults, not factories")
        else:
            fields.append((f.name, f.default))
        if f.name not in hints:
            raise TypeError(f"{new_cls.__name__}.{f.name} has no annotation")
    new_cls.__pc_fields__ = tuple(fields)
    new_cls.__pc_names__ = frozenset(name for name, _ in fields)
    new_cls.__pc_optional__ = frozenset(name for name, default in fields if default is None)
    return typing.cast(_R, new_cls)


def _missing_as_none(data: Mapping[str, Any], optional: frozenset[str]) -> Mapping[str, Any]:
    """``data`` with every optional field that holds a non-text missing value (``NaN``, ``NaT``,
    ``NA``; see :func:`pipeline_core.facts.is_missing`) set to ``None``; ``data`` itself when there
    is none. Text is never changed: a blank text stays what it is (kept or refused by the field)."""
    from pipeline_core.facts import is_missing

    found = [
        k
        for k, v in data.items()
        if v is not None
        and k in optional
        and (v.__class__ in _MAYBE_MISSING or v.__class__.__name__ in _MISSING_TYPES)
        and is_missing(v)
    ]
    if not found:
        return data
    return {**data, **dict.fromkeys(found)}


_MAYBE_MISSING: Final = frozenset({float, Decimal})
_MISSING_TYPES: Final = frozenset({"NAType", "NaTType", "float64", "float32", "datetime64"})
_TYPED_DICTS: dict[type[Record], Any] = {}
_ADAPTERS: dict[type[Record], pydantic.TypeAdapter[Any]] = {}
_DICT_ADAPTERS: dict[type[Record], pydantic.TypeAdapter[Any]] = {}


def _typed_dict_for(cls: type[Record]) -> Any:
    cached = _TYPED_DICTS.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls, include_extras=True)
    annotations: dict[str, Any] = {}
    for name, default in cls.__pc_fields__:
        hint = hints[name]
        annotations[name] = hint if default is _REQUIRED else NotRequired[hint]
    td: Any = typing.cast(Any, TypedDict)(cls.__name__, annotations)
    td.__pydantic_config__ = pydantic.ConfigDict(extra="forbid", title=cls.__name__)
    td.__doc__ = cls.__doc__
    _TYPED_DICTS[cls] = td
    return td


def _adapter(cls: type[Record]) -> pydantic.TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = pydantic.TypeAdapter(cls)
    return adapter


def _adapter_dict(cls: type[Record]) -> pydantic.TypeAdapter[Any]:
    adapter = _DICT_ADAPTERS.get(cls)
    if adapter is None:
        adapter = _DICT_ADAPTERS[cls] = pydantic.TypeAdapter(_typed_dict_for(cls))
    return adapter


def minor_units(currency: str) -> int:
    """Decimal places a currency's amounts may carry (``2`` for CNY, ``0`` for JPY, ``3`` for BHD;
    ISO 4217). ``KeyError`` for a code :func:`is_currency_code` refuses."""
    return MINOR_UNITS[currency]


_TRUSTED: dict[type[Any], Callable[[Mapping[str, Any]], Any]] = {}


def _trusted_builder(cls: type[Any]) -> Callable[[Mapping[str, Any]], Any]:
    """``build(data)`` for ``Record._trusted``: one store per field (see ``_fastbuild``)."""
    from pipeline_core._fastbuild import builder

    namespace: dict[str, Any] = {}
    values = []
    for i, (name, default) in enumerate(cls.__pc_fields__):
        if default is _REQUIRED:
            values.append((name, f"data[{name!r}]"))
        else:
            namespace[f"_d{i}"] = default
            values.append((name, f"get({name!r}, _d{i})"))
    return builder(cls, ("data",), values, namespace, prologue=("get = data.get",))
