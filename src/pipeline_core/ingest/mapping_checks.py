"""The named checks of a sheet mapping beside :mod:`pipeline_core.ingest.mapping`: columns that
fill fields the record has with a fitting parse kind, required record fields a mapping never
fills, and salvaging a mapping's plain data past its schema problems so that its semantic checks
are listed with them."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from pipeline_core.errors import Problem
from pipeline_core.ingest.targets import CUSTOM_PREFIX, has_custom

if TYPE_CHECKING:
    from pipeline_core.ingest.mapping import SheetMapping

__all__ = ["KIND_FITS", "check_fields", "check_required", "overlaps", "salvage"]


def check_required(m: SheetMapping) -> Iterator[Problem]:
    """Each required field of the record (no default in its class) is filled by a column, a
    fallback or a default (plain or ``defaults_when``); else every row would be rejected, so
    the mapping is refused: a :class:`~pipeline_core.errors.Problem` at ``(field,)``, value
    ``None``, code ``"missing"``. ``id`` needs none when the mapping declares ``external_id``
    (the sync then makes the ids of new records and matches stored ones by that column)."""
    filled = {c.field for c in m.columns} | set(m.fallbacks) | set(m.defaults)
    for entry in m.defaults_when:
        filled.update(entry.defaults)
    for name, spec in m.fields.items():
        if not spec.required or name in filled:
            continue
        if name == "id" and m.external_id is not None:
            continue
        hint = ": map an id column or declare external_id" if name == "id" else ""
        yield Problem(
            (name,), f"required, no column or default{hint}", None, "missing", missing=True
        )


def salvage(data: Any, problems: Iterable[Problem]) -> Any:
    """A deep copy of plain mapping ``data`` without the parts ``problems`` (schema problems,
    paths into ``data``) point at: for each, the deepest key or list item of its path present in
    ``data`` is dropped. Building the result runs the semantic checks the schema problems kept
    from running. ``data`` itself is not changed."""
    out = copy.deepcopy(data)
    drops: list[tuple[Any, Any]] = []
    for problem in problems:
        cur: Any = out
        last: tuple[Any, Any] | None = None
        for key in problem.path:
            in_list = isinstance(cur, list) and isinstance(key, int) and 0 <= key < len(cur)
            if not (in_list or (isinstance(cur, dict) and key in cur)):
                break
            last = (cur, key)
            cur = cur[key]
        if last is not None and all(last[0] is not c or last[1] != k for c, k in drops):
            drops.append(last)
    # list items from the highest index down, so the others keep their place
    for container, key in sorted(drops, key=lambda d: -d[1] if isinstance(d[1], int) else 0):
        del container[key]
    return out


def overlaps(path: tuple[Any, ...], seen: Iterable[tuple[Any, ...]]) -> bool:
    """Whether ``path`` is one of ``seen``, inside one, or holds one (a problem there repeats
    or follows from one already listed)."""
    return any(path[: len(s)] == s or s[: len(path)] == path for s in seen)


KIND_FITS: Final[dict[str, frozenset[str]]] = {
    "text": frozenset({"text", "enum", "nested"}),
    "money": frozenset({"money"}),
    "instant": frozenset({"instant"}),
    "date": frozenset({"date"}),
    "list": frozenset({"list"}),
    "bool": frozenset({"bool"}),
    "int": frozenset({"int"}),
    "probability": frozenset({"probability"}),
    "enum": frozenset({"enum"}),
    "owner": frozenset({"owner", "text"}),
    "slug": frozenset({"text"}),
}


def check_fields(m: SheetMapping) -> Iterator[Problem]:
    """Every column fills a field the record has (or a custom field), once; its parse kind fits."""
    fields = m.fields
    custom = has_custom(m.record)
    seen_fields: dict[str, str] = {}
    seen_headers: set[str] = set()
    for column in m.columns:
        where = ("columns", column.header)
        if column.header in seen_headers:
            yield Problem(where, "the header is mapped twice", column.header, "duplicate_header")
        seen_headers.add(column.header)
        target = column.field
        if target.startswith(CUSTOM_PREFIX):
            if not custom:
                yield Problem(
                    (*where, "field"),
                    f"a {m.record} has no custom fields",
                    target,
                    "unknown_field",
                )
            elif not target[len(CUSTOM_PREFIX) :]:
                yield Problem(
                    (*where, "field"), "a custom field needs a name", target, "unknown_field"
                )
        elif target not in fields:
            yield Problem(
                (*where, "field"),
                f"a {m.record} has no such field; its fields are: {', '.join(fields)}",
                target,
                "unknown_field",
            )
            continue
        elif fields[target].kind == "nested":
            yield Problem(
                (*where, "field"), "this field is not filled from one cell", target, "nested_field"
            )
        if target in seen_fields:
            yield Problem(
                (*where, "field"),
                f"the field is already filled by column {seen_fields[target]!r}",
                target,
                "duplicate_field",
            )
        seen_fields[target] = column.header
        if column.parse is not None and not target.startswith(CUSTOM_PREFIX):
            natural = fields[target].kind
            if natural not in KIND_FITS[column.parse]:
                yield Problem(
                    (*where, "parse"),
                    f"{target} holds {natural} values, not {column.parse}",
                    column.parse,
                    "parse_kind",
                )
        if target.startswith(CUSTOM_PREFIX) and column.parse in ("money", "owner", "enum"):
            yield Problem(
                (*where, "parse"),
                "a custom field holds text, numbers, true/false, dates or lists",
                column.parse,
                "parse_kind",
            )
