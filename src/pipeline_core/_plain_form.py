"""A definition built in code and its plain form: :func:`write_plain` (what ``obj.to_dict()``
returns), the plain form of field values, and :func:`check_fields` (the constrained fields of a
value built in code checked against their plain schema). The layout, reading (``from_dict``) and
the schema are in :mod:`pipeline_core._definition`."""

from __future__ import annotations

import enum
import functools
import typing
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, NotRequired

import attrs
import pydantic

from pipeline_core._definition import building_from_plain, is_definition, layout_of
from pipeline_core.errors import Problem

__all__ = ["check_fields", "encode_value", "is_default", "write_plain"]

_TD: Final = pydantic.TypeAdapter(timedelta)


def write_plain(obj: Any) -> dict[str, Any]:
    """The plain form of a definition (what :func:`from_plain` reads back to an equal value)."""
    layout = layout_of(type(obj))
    out: dict[str, Any] = {}
    if layout.tag is not None:
        out[layout.tag[0]] = layout.tag[1]
    for f in layout.fields:
        value = getattr(obj, f.name)
        if f.spec.dump == "never":
            continue
        if f.spec.dump == "default" and not f.required and is_default(f.default, value):
            continue
        out[f.key] = f.spec.encode(value) if f.spec.encode else encode_value(value)
    return out


def is_default(default: Any, value: Any) -> bool:
    """Whether a field's ``value`` equals its ``default`` (an ``attrs`` default or factory; a
    factory that takes the instance never counts as equal), so the plain form leaves it out."""
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type,unused-ignore]
        if default.takes_self:
            return False
        default = default.factory()
    if value is None:
        return default is None
    try:
        if isinstance(value, tuple | list | Mapping | frozenset) and not value:
            return isinstance(default, tuple | list | Mapping | frozenset) and not default
        return type(value) is type(default) and bool(value == default)
    except Exception:
        return False


def encode_value(value: Any) -> Any:
    """The plain form of a field value: definitions as their plain form, enums as their value,
    durations as ISO 8601 (``PT48H``), decimals as text, instants as ISO 8601, containers item by
    item."""
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, enum.Enum):
            return value.value
        return value
    if is_definition(value):
        return write_plain(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, timedelta):
        return _TD.dump_python(value, mode="json")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [encode_value(v) for v in value]
    return value


def _make_field_adapters(cls: type[Any]) -> tuple[tuple[Any, pydantic.TypeAdapter[Any]], ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in layout_of(cls).fields:
        if f.spec.schema is None and not _constrained(hints[f.name]):
            continue  # no constraint beyond the type
        schema = typing.cast(Any, layout_of(cls).typed_dict).__annotations__[f.key]
        if typing.get_origin(schema) is NotRequired:
            schema = typing.get_args(schema)[0]
        out.append((f, pydantic.TypeAdapter(schema)))
    return tuple(out)


def _constrained(hint: Any) -> bool:
    """Whether a type carries constraints (``Annotated`` anywhere in it)."""
    if typing.get_origin(hint) is typing.Annotated:
        return True
    return any(_constrained(arg) for arg in typing.get_args(hint))


_field_adapters = typing.cast(
    Callable[[type[Any]], tuple[tuple[Any, pydantic.TypeAdapter[Any]], ...]],
    functools.cache(_make_field_adapters),
)


def check_fields(value: Any) -> Iterator[Problem]:
    """A :data:`Check`: the constrained fields of a definition built in code (those with a
    ``schema=`` or an ``Annotated`` type) against the schema of their plain form, so a value
    built in code is refused where its plain form would be (``weight=0`` where ``ge=1``).

    Nothing to do while :func:`from_plain` builds the value: its plain form was just validated
    whole (each definition is validated once).
    """
    if building_from_plain():
        return
    from pipeline_core._model import problems_from_pydantic

    for f, adapter in _field_adapters(type(value)):
        field_value = getattr(value, f.name)
        plain_value = f.spec.encode(field_value) if f.spec.encode else encode_value(field_value)
        try:
            adapter.validate_python(plain_value)
        except pydantic.ValidationError as exc:
            for p in problems_from_pydantic(exc):
                yield Problem((f.key, *p.path), p.message, p.value, p.code, p.missing)
