"""Stored values the current input rules refuse: listed, never dropped or changed.

Records written before a rule was tightened (numeric strings read as instants, ``-0`` amounts,
ids with control or invisible characters, UTC offsets beyond -12:00..+14:00, payloads that are not
JSON values ...) stay in a store as they were. :func:`check_store` reads every stored document
*raw* (without building records), validates it against today's rules and returns a
:class:`CheckReport` of :class:`Finding` s (kind, id, field, value, reason). Nothing is changed.

The check is a list of **auditors**: callables ``auditor(store) -> Iterable[Finding]``.
:data:`DEFAULT_AUDITORS` holds :func:`stored_values`; other checks (e.g. an access audit) are
plugged in by passing them: ``check_store(store, auditors=(*DEFAULT_AUDITORS, my_audit))``.

The command line runs it as ``pipeline-core check`` (exit code 3 when anything is found).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

import attrs

from pipeline_core._jsonvalue import text_too_deep
from pipeline_core.errors import MAX_PROBLEMS, ValidationError, short_repr
from pipeline_core.storage._base import TABLES, TABLES_BY_KIND, Table
from pipeline_core.storage.ports import Store

__all__ = [
    "DEFAULT_AUDITORS",
    "Auditor",
    "CheckReport",
    "Finding",
    "check_store",
    "raw_documents",
    "stored_values",
]


@attrs.frozen
class Finding:
    """One stored value a rule refuses: the record's ``kind`` and ``id``, the ``field`` (dotted
    path), the ``value`` as stored (shown up to 200 characters), the ``reason`` and a stable
    ``code`` (e.g. ``"datetime_type"``, ``"id_characters"``); ``auditor`` names the check."""

    kind: str
    id: str
    field: str
    value: Any
    reason: str
    code: str = "invalid"
    auditor: str = "stored_values"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output (the value as its short ``repr`` unless it is a JSON
        scalar)."""
        value = self.value
        if not (value is None or isinstance(value, bool | int | float | str)):
            value = short_repr(value)
        elif isinstance(value, str) and len(value) > 200:
            value = value[:200] + "..."
        return {
            "kind": self.kind,
            "id": self.id,
            "field": self.field,
            "value": value,
            "reason": self.reason,
            "code": self.code,
            "auditor": self.auditor,
        }

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.id!r}, {self.field}: {self.reason} (got {short_repr(self.value)})"
        )


Auditor = Callable[[Store], Iterable[Finding]]
"""A check over a whole store: yields a :class:`Finding` per refused value."""


@attrs.frozen
class CheckReport:
    """What :func:`check_store` found: ``findings`` keeps the first 1,000, ``total`` counts all,
    ``by_kind`` counts per record kind. ``ok`` is true when nothing was found."""

    findings: tuple[Finding, ...]
    total: int
    by_kind: dict[str, int]
    records: int

    @property
    def ok(self) -> bool:
        """Whether the store holds nothing the current rules refuse."""
        return self.total == 0


def raw_documents(store: Store, table: Table) -> Iterator[tuple[str, Any]]:
    """``(id, document)`` for every stored record of ``table``, in id order, as stored: parsed
    JSON (a dict) for SQL stores, ``to_dict()`` for the in-memory store (its records were
    validated when added). A document nested too deeply to parse is given as its text."""
    for id, doc in store.backend.documents(table):
        yield id, _parse(doc)


def _parse(doc: Any) -> Any:
    if isinstance(doc, bytes | bytearray | memoryview):
        doc = bytes(doc).decode("utf-8", errors="replace")
    if isinstance(doc, str):
        if text_too_deep(doc)[0]:
            return doc
        try:
            return json.loads(doc)
        except ValueError:
            return doc
    return doc


def stored_values(store: Store, kinds: Sequence[str] | None = None) -> Iterator[Finding]:
    """The default auditor: every stored document validated against today's record rules."""
    tables = TABLES if kinds is None else [TABLES_BY_KIND[k] for k in kinds]
    for table in tables:
        for id, doc in raw_documents(store, table):
            if not isinstance(doc, dict):
                yield Finding(table.kind, str(id), "<document>", doc, "not a JSON object", "json")
                continue
            try:
                table.cls.from_dict(doc)
            except ValidationError as exc:
                for p in exc.problems:
                    yield Finding(table.kind, str(id), p.field, p.value, p.message, p.code)


DEFAULT_AUDITORS: Final[tuple[Auditor, ...]] = (stored_values,)
"""The checks ``pipeline-core check`` runs by default."""


def check_store(store: Store, auditors: Iterable[Auditor] = DEFAULT_AUDITORS) -> CheckReport:
    """Run every auditor over ``store`` and collect what they find (first 1,000 kept, all
    counted). Reads only; nothing in the store is changed."""
    kept: list[Finding] = []
    by_kind: Counter[str] = Counter()
    total = 0
    for auditor in auditors:
        for finding in auditor(store):
            total += 1
            by_kind[finding.kind] += 1
            if len(kept) < MAX_PROBLEMS:
                kept.append(finding)
    records = sum(store.collection(t.kind).count() for t in TABLES)
    return CheckReport(tuple(kept), total, dict(by_kind), records)
