"""The record fields a sheet can fill: each record kind's class and, per field, what a cell must
become (its parse kind, enum values, whether it is required): derived from the record classes."""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final, Literal

import attrs

from pipeline_core.records import Account, Activity, Contact, Lead, Money, Opportunity, User

__all__ = [
    "CUSTOM_PREFIX",
    "OWNER_FIELDS",
    "RECORD_KINDS",
    "FieldSpec",
    "ParseKind",
    "RecordKind",
    "has_custom",
    "target_fields",
]

RecordKind = Literal["lead", "opportunity", "account", "contact", "activity", "user"]
"""The kinds of record a mapping fills."""

RECORD_KINDS: Final[dict[str, type[Any]]] = {
    "lead": Lead,
    "opportunity": Opportunity,
    "account": Account,
    "contact": Contact,
    "activity": Activity,
    "user": User,
}
"""Each record kind and its record class."""

ParseKind = Literal[
    "text",
    "money",
    "instant",
    "date",
    "list",
    "bool",
    "int",
    "probability",
    "enum",
    "owner",
    "slug",
]
"""How a column's cells are read: ``text`` as written (stripped); ``money`` with
:func:`~pipeline_core.ingest.parsers.parse_money`; ``instant`` / ``date`` with
:func:`~pipeline_core.ingest.parsers.parse_instant` / ``parse_date``; ``list`` with
``split_list``; ``bool``, ``int``, ``probability``; ``enum`` one of the field's values (after
aliases); ``owner`` a user matched by id, name or e-mail (see :class:`Owners`); ``slug`` an
id made from a name with :func:`~pipeline_core.ingest.parsers.slug` (``Moses Frase`` →
``moses-frase``), for a text field."""

OWNER_FIELDS: Final = frozenset({"owner_id", "manager_id"})
CUSTOM_PREFIX: Final = "custom."


@attrs.frozen
class FieldSpec:
    """What a record field holds, as far as reading a cell goes: ``kind`` (the natural
    :data:`ParseKind`, ``"nested"`` for a value no single cell fills), ``allowed`` (an enum's
    values, else ``None``), ``required`` (no default in the record class) and ``optional``
    (``None`` is a value)."""

    name: str
    kind: str
    allowed: frozenset[str] | None = None
    required: bool = False
    optional: bool = False


def _unwrap(hint: Any) -> tuple[Any, bool]:
    optional = False
    while True:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is typing.Annotated:
            hint = args[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            optional = optional or len(members) < len(args)
            if len(members) != 1:
                return hint, optional
            hint = members[0]
        else:
            return hint, optional


def _spec(name: str, hint: Any, required: bool) -> FieldSpec:
    base, optional = _unwrap(hint)
    origin = typing.get_origin(base)
    allowed = None
    if name in OWNER_FIELDS:
        kind = "owner"
    elif origin in (tuple, frozenset, set, list) or base in (tuple, frozenset):
        kind = "list"
    elif isinstance(base, type) and issubclass(base, enum.Enum):
        kind, allowed = "enum", frozenset(str(m.value) for m in base)
    elif base is Money:
        kind = "money"
    elif (isinstance(base, type) and issubclass(base, datetime)) or "Datetime" in str(base):
        kind = "instant"
    elif base is date:
        kind = "date"
    elif base is bool:
        kind = "bool"
    elif base is int:
        kind = "int"
    elif base is float:
        kind = "probability"
    elif base is str:
        kind = "text"
    else:
        kind = "nested"
    return FieldSpec(name, kind, allowed, required, optional)


@functools.cache
def target_fields(record: str) -> Mapping[str, FieldSpec]:
    """The fields a mapping can fill in a record of kind ``record`` (``"lead"`` ...), by name
    (``version`` and the ``custom`` mapping itself left out: ``custom.<name>`` targets fill that).
    Computed once per kind; read-only."""
    cls = RECORD_KINDS[record]
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for f in attrs.fields(cls):
        if f.name in ("version", "custom"):
            continue
        out[f.name] = _spec(f.name, hints[f.name], f.default is attrs.NOTHING)
    return types.MappingProxyType(out)


def has_custom(record: str) -> bool:
    """Whether a record of kind ``record`` has ``custom`` fields (so ``custom.<name>`` columns
    are allowed). ``KeyError`` for an unknown kind."""
    return any(f.name == "custom" for f in attrs.fields(RECORD_KINDS[record]))
