"""Records: the boundary between plain data and immutable, validated ``attrs`` values.

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
from values that are valid by construction with :func:`build_trusted`, skipping validation; code
outside this module reads a record class's fields with :func:`field_names`.

The field value types (:data:`Timestamp`, :data:`Amount`, :data:`Id` ...) are declared in
:mod:`pipeline_core._values` and re-exported here.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Final, NotRequired, Self

import attrs
import pydantic
import pydantic_core
from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema
from typing_extensions import TypedDict

from pipeline_core._fastbuild import reader
from pipeline_core._interrupts import reraise_interrupt
from pipeline_core._jsonvalue import leaf_problems
from pipeline_core._values import FrozenDict, Timestamp
from pipeline_core.errors import Problem, ValidationError

__all__ = [
    "Record",
    "build_trusted",
    "field_defaults",
    "field_names",
    "problems_from_pydantic",
    "record",
    "record_adapter",
    "timestamp",
]

_REQUIRED: Final = object()


# --------------------------------------------------------------------------- records

_TIMESTAMP: Final = pydantic.TypeAdapter(Timestamp)


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

_LEAVES: Final = frozenset({datetime, date, time, timedelta, Decimal})
"""Exact types ``_clean`` need not look into (neither text, bytes nor containers); records are
leaves too (checked by ``isinstance``: their values were checked when they were built)."""


def _plain_and_clean(data: dict[str, Any], names: frozenset[str] | None = None) -> bool:
    """``True`` only when neither :func:`_missing_as_none` nor :func:`_bytes_problems` could find
    anything in ``data`` (then ``from_dict`` skips both): each value is text without NUL, a value
    of a class that holds no missing value, bytes or NUL (``None``, ``int``, ``bool``, instants,
    dates, records), or a list, tuple, frozenset or dict of such. ``False`` decides nothing: the two
    checks run. ``names``: the record's field names; when given, every key must be one (a
    set check in C; else each key must be text without NUL)."""
    safe = _SAFE_CLASSES
    if not (names.issuperset(data) if names is not None else _clean_keys(data)):
        return False
    for item in data.values():
        t = type(item)
        if t is str:
            if "\x00" in item:
                return False
        elif t in safe:
            continue
        elif t is tuple or t is list or t is dict or t is FrozenDict or t is frozenset:
            if (t is dict or t is FrozenDict) and not _clean_keys(item):
                return False
            for inner in item.values() if t is dict or t is FrozenDict else item:
                u = type(inner)
                if u is str:
                    if "\x00" in inner:
                        return False
                elif u not in safe:
                    return False
        elif isinstance(item, Record) and len(safe) < _RECORD_CLASSES_LIMIT:
            safe.add(t)  # a record's values were checked when it was built
        else:
            return False
    return True


_SAFE_CLASSES: set[type] = {type(None), int, bool, datetime, date, time, timedelta}
"""Classes none of whose values is a missing value, bytes or holds NUL: the plain leaves and
the record classes met by :func:`_plain_and_clean` (learnt)."""

_RECORD_CLASSES_LIMIT: Final = 1_000
"""At most this many classes are learnt into ``_SAFE_CLASSES``."""


def _clean_keys(mapping: Mapping[Any, Any]) -> bool:
    """Every key of ``mapping`` is text (exactly ``str``) without NUL."""
    keys = mapping.keys()
    return not keys or (set(map(type, keys)) == _STR_ONLY and "\x00" not in "".join(keys))


_STR_ONLY: Final = {str}


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
            push(item.keys())  # a key is text too (a custom field's name)
        elif t is list or t is tuple:
            push(item)
        elif t in _SCALARS or t in _LEAVES or isinstance(item, Record):
            continue
        elif isinstance(item, _BYTES):
            return False
        elif isinstance(item, str):
            if "\x00" in item:
                return False
        elif isinstance(item, Mapping):
            push(item.values())
            push(item.keys())
        elif isinstance(item, list | tuple | set | frozenset):
            push(item)
    return True


def _bytes_problems(data: Any) -> list[Problem]:
    """Bytes anywhere in the input (pydantic's lax mode would decode them into text silently)
    and NUL characters in text (PostgreSQL cannot store them: every adapter must hold the same
    values)."""
    if _clean(data):
        return []
    return leaf_problems(data, _bytes_or_nul)


def _bytes_or_nul(item: Any, path: tuple[str | int, ...]) -> Problem | None:
    if isinstance(item, str):
        if "\x00" in item:
            return Problem(path, "text may not contain NUL (U+0000)", item, "nul")
    elif isinstance(item, _BYTES):
        return Problem(path, "bytes are not text: decode them first", item, "bytes_type")
    return None


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

        build = _trusted_builder(cls)
        invariants = cls.__pc_invariants__

        def validate(value: Any, validator: core_schema.ValidatorFunctionWrapHandler) -> Any:
            if isinstance(value, cls):
                return value
            obj = build(validator(value))
            if invariants:
                cls._check_invariants(obj)
            return obj

        # One dict display reads every field (generated from the field list).
        serialize = reader(names, name="serialize")

        return core_schema.no_info_wrap_validator_function(
            validate,
            inner,
            serialization=core_schema.plain_serializer_function_ser_schema(
                serialize, return_schema=inner
            ),
        )

    @classmethod
    def _check_invariants(cls, obj: Self) -> None:
        """Raise pydantic's ``ValidationError`` listing the problems the class's invariants
        find in ``obj`` (none: nothing)."""
        problems = [p for check in cls.__pc_invariants__ for p in check(obj)]
        if problems:
            # Raised as pydantic's own error so that nested records get the full path.
            raise pydantic_core.ValidationError.from_exception_data(
                cls.__name__,
                [
                    {
                        "type": PydanticCustomError(p.code, "{message}", {"message": p.message}),
                        "loc": p.path,
                        "input": p.value,
                    }
                    for p in problems
                ],
            )

    @classmethod
    def _trusted(cls, data: Mapping[str, Any]) -> Self:
        """Build without validation from values known to be valid (internal hot paths only).

        A missing required field raises ``KeyError``; missing optional fields take their default.
        """
        return _trusted_builder(cls)(data)  # type: ignore[no-any-return]

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
        if type(data) is not dict or not _plain_and_clean(data, cls.__pc_names__):
            if isinstance(data, Mapping):
                data = _missing_as_none(data, cls.__pc_optional__)
            problems = _bytes_problems(data)
            if problems:
                raise ValidationError(cls.__name__, problems)
        try:
            return record_adapter(cls).validator.validate_python(data)  # type: ignore[no-any-return]
        except pydantic.ValidationError as exc:
            raise ValidationError(cls.__name__, problems_from_pydantic(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible plain data: datetimes as ISO 8601 strings, amounts as decimal strings."""
        try:
            return record_adapter(type(self)).serializer.to_python(self, mode="json")  # type: ignore[no-any-return]
        except pydantic_core.PydanticSerializationError as exc:
            reraise_interrupt(exc)  # Ctrl-C during serialisation comes through as itself
            raise

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of this record's plain-data form."""
        return record_adapter(cls).json_schema()

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
    # Fast path (the common case): every value's class is known to hold no missing value, one
    # C-level set check. The known classes are learnt below, at most _PLAIN_LIMIT of them.
    if set(map(type, data.values())) <= _PLAIN_CLASSES:
        return data
    if len(_PLAIN_CLASSES) < _PLAIN_LIMIT:
        _PLAIN_CLASSES.update(
            c
            for v in data.values()
            if (c := v.__class__) is type(v)
            and c not in _MAYBE_MISSING
            and c.__name__ not in _MISSING_TYPES
        )
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
_PLAIN_CLASSES: set[type] = {str, int, bool, type(None)}
"""Classes none of whose values is a missing value (learnt by ``_missing_as_none``)."""
_PLAIN_LIMIT: Final = 1_000
_MISSING_TYPES: Final = frozenset({"NAType", "NaTType", "float64", "float32", "datetime64"})


def _make_typed_dict(cls: type[Record]) -> Any:
    hints = typing.get_type_hints(cls, include_extras=True)
    annotations: dict[str, Any] = {}
    for name, default in cls.__pc_fields__:
        hint = hints[name]
        annotations[name] = hint if default is _REQUIRED else NotRequired[hint]
    td: Any = typing.cast(Any, TypedDict)(cls.__name__, annotations)
    td.__pydantic_config__ = pydantic.ConfigDict(extra="forbid", title=cls.__name__)
    td.__doc__ = cls.__doc__
    return td


def _make_record_adapter(cls: type[Record]) -> pydantic.TypeAdapter[Any]:
    """The pydantic adapter of the record class ``cls`` (built once per class): plain data or
    JSON text to the record (validated, invariants checked) and back. Storage reads and writes
    documents with it."""
    return pydantic.TypeAdapter(cls)


def _make_dict_adapter(cls: type[Record]) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(_typed_dict_for(cls))


def _make_trusted_builder(cls: type[Any]) -> Callable[[Mapping[str, Any]], Any]:
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


# Memoised per record class (classes are hashable; the casts keep the signatures for mypy, whose
# stubs do not see a class as ``Hashable``).
_typed_dict_for = typing.cast(Callable[[type[Record]], Any], functools.cache(_make_typed_dict))
record_adapter = typing.cast(
    Callable[[type[Record]], pydantic.TypeAdapter[Any]], functools.cache(_make_record_adapter)
)
_adapter_dict = typing.cast(
    Callable[[type[Record]], pydantic.TypeAdapter[Any]], functools.cache(_make_dict_adapter)
)
_trusted_builder = typing.cast(
    Callable[[type[Any]], Callable[[Mapping[str, Any]], Any]],
    functools.cache(_make_trusted_builder),
)

_T = typing.TypeVar("_T", bound=Record)


def build_trusted(cls: type[_T], data: Mapping[str, Any]) -> _T:
    """Build a ``cls`` record from ``data`` WITHOUT validation (internal hot paths only: the sample
    generator, stage moves, masking, storage reads of rows it wrote).

    ``data`` maps field names to values already valid by construction; a missing required field
    raises ``KeyError``, a missing optional field takes its default. Anything from outside the
    library goes through ``cls.from_dict`` instead.
    """
    return _trusted_builder(cls)(data)  # type: ignore[no-any-return]


def field_names(cls: type[Record]) -> tuple[str, ...]:
    """The field names of a record class, in declaration order (the ``attrs`` fields)."""
    return tuple(name for name, _ in cls.__pc_fields__)


def field_defaults(cls: type[Record]) -> dict[str, Any]:
    """The defaults of a record class's optional fields, by field name (required fields absent)."""
    return {name: default for name, default in cls.__pc_fields__ if default is not _REQUIRED}
