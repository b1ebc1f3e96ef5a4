"""Merging duplicates: one survivor, nothing lost, provenance for everything, one owner.

:func:`plan_merge` takes two or more leads (or two or more opportunities) that are the same
customer and returns a :class:`MergePlan`:

- the **survivor** is the earliest record (``created_at``, then id) unless ``survivor_id`` says
  otherwise; first come, first served, so the rep who had the customer first keeps it;
- the survivor's empty fields are filled from the other records (earliest first); its tags are
  the union of all tags; custom fields are merged with the survivor's values winning;
- every other record gets its next version **owned by the survivor's owner** (so two reps never
  work the same customer), tagged ``"merged"``, with ``custom["merged_into"]`` = the survivor id;
  a merged lead is also ``disqualified`` with reason ``"merged into <id>"``; a merged open
  opportunity is also **closed** (``closed_at`` = the merge instant, its stage left as it was): it
  leaves ``store.opportunities.open()``, and :func:`pipeline_core.facts.is_merged` /
  :func:`~pipeline_core.facts.deal_status` (``"merged"``) keep it out of every metric;
- activities and stage events are append-only and are **not** rewritten: the merge record lists
  every one of them with the record it came from, and :func:`merged_subjects` gives all ids whose
  history belongs to the survivor;
- a :class:`~pipeline_core.records.JournalEntry` of kind ``"merge"`` on the survivor (the merge
  record, with the provenance of every filled field, every tag, every activity and event) and one
  of kind ``"merged_into"`` on each other record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from pipeline_core import facts as _facts
from pipeline_core._model import field_names
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.ids import IdFactory
from pipeline_core.records import Activity, JournalEntry, Lead, LeadStatus, Opportunity, StageEvent

__all__ = [
    "MERGE",
    "MERGED_INTO",
    "MERGED_TAG",
    "MergePlan",
    "merged_subjects",
    "plan_merge",
]

MERGE = "merge"
"""Journal kind of the merge record (on the survivor)."""
MERGED_INTO = "merged_into"
"""Journal kind written on each merged (non-surviving) record."""
MERGED_TAG = _facts.MERGED_TAG
"""Tag put on merged (non-surviving) records (:data:`pipeline_core.facts.MERGED_TAG`)."""

_KEEP = frozenset(
    {
        "id",
        "version",
        "created_at",
        "owner_id",
        "tags",
        "custom",
        "status",
        "stage",
        "stage_entered_at",
        "pipeline",
        "closed_at",
        "disqualified_reason",
        "lost_reason",
        "won_reason",
        "opportunity_id",
    }
)

M = TypeVar("M", Lead, Opportunity)


@attrs.frozen
class MergePlan(Generic[M]):
    """What a merge writes: the survivor's next version, the merged records' next versions, and
    the journal entries. ``provenance`` is the merge record's payload."""

    survivor: M
    merged: tuple[M, ...]
    entries: tuple[JournalEntry, ...]
    provenance: Mapping[str, Any]
    displaced_owners: tuple[str, ...]


def _empty(value: Any) -> bool:
    return value is None or value == () or value == ""


def plan_merge(
    records: Sequence[M],
    *,
    at: datetime,
    by: str,
    ids: IdFactory,
    activities: Iterable[Activity] = (),
    events: Iterable[StageEvent] = (),
    reason: str | None = None,
    survivor_id: str | None = None,
) -> MergePlan[M]:
    """Plan the merge of ``records`` (all leads or all opportunities) into one survivor.

    ``activities`` and ``events`` are those of the records (others are ignored); they are listed
    in the merge record with the record they belong to. Raises
    :class:`~pipeline_core.errors.ValidationError` listing every problem (fewer than two records,
    mixed kinds, repeated ids, unknown ``survivor_id``, naive ``at``).
    """
    problems: list[Problem] = []
    if len(records) < 2:
        problems.append(
            Problem(("records",), "a merge needs at least two records", len(records), "too_few")
        )
    kinds = {type(r) for r in records}
    if len(kinds) > 1:
        problems.append(
            Problem(
                ("records",),
                "cannot merge different kinds",
                sorted(k.__name__ for k in kinds),
                "mixed_kinds",
            )
        )
    seen: set[str] = set()
    for i, r in enumerate(records):
        if r.id in seen:
            problems.append(Problem(("records", i, "id"), "repeated record", r.id, "duplicate"))
        seen.add(r.id)
    if survivor_id is not None and survivor_id not in seen:
        problems.append(
            Problem(("survivor_id",), "is not one of the records", survivor_id, "unknown")
        )
    if at.tzinfo is None or at.utcoffset() is None:
        problems.append(Problem(("at",), "must be timezone-aware", at, "timezone_aware"))
    if problems:
        raise ValidationError("merge", problems)

    ordered = sorted(records, key=lambda r: (r.created_at, r.id))
    survivor = next(r for r in ordered if r.id == survivor_id) if survivor_id else ordered[0]
    others: list[M] = [r for r in ordered if r.id != survivor.id]
    all_ids = [survivor.id] + [r.id for r in others]

    fields: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for name in field_names(type(survivor)):
        if name in _KEEP or not _empty(getattr(survivor, name)):
            continue
        for other in others:
            value = getattr(other, name)
            if not _empty(value):
                changes[name] = value
                fields[name] = other.id
                break
    everyone: list[M] = [survivor]
    everyone.extend(others)
    tag_sources: dict[str, list[str]] = {}
    for r in everyone:
        for tag in sorted(r.tags):
            tag_sources.setdefault(tag, []).append(r.id)
    tags = frozenset(tag_sources)
    if tags != survivor.tags:
        changes["tags"] = tags
    custom = {}
    custom_sources: dict[str, str] = {}
    for r in reversed(others):
        for k, v in r.custom.items():
            custom[k] = v
            custom_sources[k] = r.id
    for k in custom:
        if k in survivor.custom:
            custom_sources.pop(k)
    custom.update(survivor.custom)
    if custom != dict(survivor.custom):
        changes["custom"] = custom
    new_survivor = survivor.evolve(**changes) if changes else survivor.evolve()

    owner = survivor.owner_id
    displaced = sorted(
        {r.owner_id for r in others if r.owner_id is not None and r.owner_id != owner}
    )
    merged: list[M] = []
    for r in others:
        upd: dict[str, Any] = {
            "tags": r.tags | {MERGED_TAG},
            "custom": {**r.custom, "merged_into": survivor.id},
        }
        if owner is not None:
            upd["owner_id"] = owner
        if isinstance(r, Lead):
            upd["status"] = LeadStatus.DISQUALIFIED
            upd["disqualified_reason"] = f"merged into {survivor.id}"
        elif r.closed_at is None:
            # closed, with merged_into as its reason: out of the open list and of every metric
            # (facts.deal_status == "merged"); its stage is left as it was
            upd["closed_at"] = max(at, r.stage_entered_at, r.created_at)
        merged.append(r.evolve(**upd))

    member = set(all_ids)
    acts = {
        a.id: subject
        for a in sorted(activities, key=lambda a: (a.at, a.id))
        for subject in (a.lead_id, a.opportunity_id, a.account_id)
        if subject in member
    }
    evs = {
        e.id: e.opportunity_id
        for e in sorted(events, key=lambda e: (_facts.event_order(e), e.id))
        if e.opportunity_id in member
    }
    provenance: dict[str, Any] = {
        "record_kind": type(survivor).__name__.lower(),
        "survivor": survivor.id,
        "merged": [r.id for r in others],
        "fields": fields,
        "tags": tag_sources,
        "custom": custom_sources,
        "activities": acts,
        "events": evs,
        "owners": {r.id: r.owner_id for r in everyone},
        "owner": owner,
        "displaced_owners": displaced,
    }

    def entry(kind: str, subject_id: str, payload: dict[str, Any]) -> JournalEntry:
        return JournalEntry(
            id=ids.new("journal"),
            kind=kind,
            subject_id=subject_id,
            at=at,
            by=by,
            reason=reason,
            payload=payload,
        )

    entries = [entry(MERGE, survivor.id, provenance)]
    entries.extend(
        entry(MERGED_INTO, r.id, {"survivor": survivor.id, "previous_owner": r.owner_id})
        for r in others
    )
    return MergePlan(new_survivor, tuple(merged), tuple(entries), provenance, tuple(displaced))


def merged_subjects(survivor_id: str, entries: Iterable[JournalEntry]) -> list[str]:
    """The survivor's id and every id merged into it (transitively), in merge order: the
    subjects whose activities and stage events make up the survivor's history."""
    children: dict[str, list[str]] = {}
    for e in sorted(entries, key=lambda e: (e.at, e.id)):
        if e.kind == MERGE:
            children.setdefault(e.subject_id, []).extend(
                str(x) for x in e.payload.get("merged", ())
            )
    out: list[str] = []
    stack = [survivor_id]
    while stack:
        sid = stack.pop(0)
        if sid in out:
            continue
        out.append(sid)
        stack.extend(children.get(sid, ()))
    return out
