"""Which records decide access to a record without an owner of its own: parents, subjects, links.

A contact is decided through its account, a stage event through its opportunity, an activity
through its lead/opportunity/account, an SLA outcome or a journal entry through its subject (whose
kind the record declares: :func:`subject_collection`). Shared by the access guard
(:mod:`pipeline_core.access.guard`) and the audit (:mod:`pipeline_core.access.audit`).
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline_core._model import Record
from pipeline_core.records import (
    REFERENCES,
    SUBJECT_KINDS,
    Activity,
    Contact,
    JournalEntry,
    SlaOutcome,
    StageEvent,
)

__all__ = [
    "EXPORTABLE",
    "PARENTS",
    "SUBJECT_COLLECTIONS",
    "UNKNOWN_KIND",
    "links",
    "reference_collection",
    "subject_collection",
]

SUBJECT_COLLECTIONS: tuple[str, ...] = ("leads", "opportunities", "accounts", "contacts")
"""The customer collections: the records that have an owner of their own."""
UNKNOWN_KIND = ""
"""A declared subject kind this library does not know (only all-scope actors see its records)."""

# Reference fields that decide access to a record without an owner of its own ("parents"); the
# other entries of REFERENCES towards SUBJECT_COLLECTIONS are links, checked when written.
PARENTS: dict[type[Record], tuple[str, ...]] = {
    Contact: ("account_id",),
    StageEvent: ("opportunity_id",),
    Activity: ("lead_id", "opportunity_id", "account_id"),
    SlaOutcome: ("subject_id",),
    JournalEntry: ("subject_id",),
}
"""Per record kind without an owner, the reference fields naming the records that decide access."""

EXPORTABLE: tuple[str, ...] = (
    "leads",
    "opportunities",
    "accounts",
    "contacts",
    "activities",
    "stage_events",
    "sla_outcomes",
    "journal",
)
"""Every collection with records of customers (what a scoped store exports and the audit reads)."""


def subject_collection(record: Record) -> str | None:
    """The collection the subject of an SLA outcome or journal entry is looked up in.

    An outcome's ``subject_kind`` and a journal entry's ``payload["subject_kind"]`` (or the
    ``payload["record_kind"]`` of an ownership transfer) name it through
    :data:`~pipeline_core.records.SUBJECT_KINDS`; ``""`` for a declared kind this library does
    not know; ``None`` for a journal entry that declares none (every kind holding the id counts).
    """
    if isinstance(record, SlaOutcome):
        return SUBJECT_KINDS.get(record.subject_kind, UNKNOWN_KIND)
    if isinstance(record, JournalEntry):
        declared = record.payload.get("subject_kind", record.payload.get("record_kind"))
        if declared is None:
            return None
        return SUBJECT_KINDS.get(str(declared), UNKNOWN_KIND)
    return None


def reference_collection(record: Record, field: str) -> str | None:
    """The collection ``record.field`` points to (:data:`~pipeline_core.records.REFERENCES`),
    ``None`` if the field is no reference or points to an undeclared subject kind."""
    target = REFERENCES.get((type(record).__name__, field))
    if target == "subject_kind":
        found = subject_collection(record)
        return found if found else None
    return target


def links(record: Record) -> Iterator[tuple[str, str, str]]:
    """``(field, collection, id)`` of each *link* of ``record``: its references towards customer
    records that are not parents (parents decide access; links are checked when written)."""
    parents = PARENTS.get(type(record), ())
    name = type(record).__name__
    for (kind, field), target in REFERENCES.items():
        if kind != name or field in parents or target not in SUBJECT_COLLECTIONS:
            continue
        value = getattr(record, field, None)
        if isinstance(value, str):
            yield field, target, value
