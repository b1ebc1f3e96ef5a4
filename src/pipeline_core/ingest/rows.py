"""The row contract between reading+mapping a sheet and syncing it into a store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from pipeline_core.errors import Problem
from pipeline_core.facts import is_missing

if TYPE_CHECKING:
    from pipeline_core.ingest.mapping import SheetMapping

__all__ = ["DefaultSources", "MappedRow", "default_sources", "defaulted_fields", "defaulted_in"]


@attrs.frozen
class MappedRow:
    """One data row of a source file after mapping.

    ``row``: the row number a person sees in the file (the header is row 1, the first data row 2;
    for a data frame, the 0-based frame index + 2); ``data``: the record's fields as plain values
    under the library's field names (``None`` when the row was rejected while mapping);
    ``problems``: what is wrong with the row (each :class:`~pipeline_core.errors.Problem` names the
    source column in its path, the value and the reason); ``key``: the value of the mapping's
    external-id column, when it declares one (the sync matches stored records by it);
    ``defaulted``: the fields (``custom.<name>`` for a custom field) whose value came from a
    declared default (``[defaults]``, ``[[defaults_when]]``, ``"@import"``), not from a cell of
    the row: the sync uses them only when it adds a record and never changes a stored record's
    value with them (a re-run with a later ``as_of`` leaves the record unchanged).
    """

    row: int
    data: Mapping[str, Any] | None
    problems: tuple[Problem, ...] = ()
    key: str | None = None
    defaulted: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        """True when the row mapped without problems."""
        return self.data is not None and not self.problems


def defaulted_fields(
    mapping: SheetMapping, cells: Mapping[str, Any], data: Mapping[str, Any]
) -> frozenset[str]:
    """The fields of a mapped row's ``data`` that a declared default filled (see
    :attr:`MappedRow.defaulted`): each field with a default (``defaults`` or ``defaults_when``)
    present in ``data`` (``custom.<name>`` in ``data["custom"]``) whose own column and fallback
    columns are all blank in ``cells`` (missing, white space, or one of ``mapping.missing``)."""
    return defaulted_in(default_sources(mapping), frozenset(mapping.missing), cells, data)


DefaultSources = tuple[tuple[str, str | None, tuple[str, ...]], ...]
"""Per defaulted field of a mapping: (field name, custom-field name or ``None``, the headers of
its own column and fallback columns), from :func:`default_sources`."""


def default_sources(mapping: SheetMapping) -> DefaultSources:
    """The fields a declared default may fill, with the columns that would fill them instead:
    computed once per mapping (see :func:`defaulted_in`)."""
    names = dict.fromkeys(mapping.defaults)
    for entry in mapping.defaults_when:
        names.update(dict.fromkeys(entry.defaults))
    out = []
    for name in names:
        headers = [c.header for c in mapping.columns if c.field == name]
        headers.extend(mapping.fallbacks.get(name, ()))
        custom = name[len("custom.") :] if name.startswith("custom.") else None
        out.append((name, custom, tuple(headers)))
    return tuple(out)


def defaulted_in(
    sources: DefaultSources,
    missing: frozenset[str],
    cells: Mapping[str, Any],
    data: Mapping[str, Any],
) -> frozenset[str]:
    """:func:`defaulted_fields` for a mapping's precomputed :func:`default_sources` (the one
    rule; the mapping applier calls it once per row)."""
    if not sources:
        return _NONE
    custom = data.get("custom")
    out = []
    for name, custom_name, headers in sources:
        if custom_name is not None:
            if not isinstance(custom, Mapping) or custom_name not in custom:
                continue
        elif name not in data:
            continue
        if all(_blank(cells.get(h), missing) for h in headers):
            out.append(name)
    return frozenset(out) if out else _NONE


_NONE: frozenset[str] = frozenset()


def _blank(value: Any, missing: frozenset[str]) -> bool:
    if type(value) is str:
        text = value.strip()
        return not text or text in missing
    if isinstance(value, str):
        return not value.strip() or value.strip() in missing
    return value is None or is_missing(value)
