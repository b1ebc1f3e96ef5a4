"""Ownership handover: transfer a record with a reason, full history and a handover summary.

Every record has exactly one owner at a time (``domain.md`` §2). :func:`transfer` gives the next
version of the record with the new owner and a :class:`~pipeline_core.records.JournalEntry` of kind
``"transfer"`` whose payload holds the old and new owner and the :class:`Handover` summary, so the
summary travels with the record's history: the last contacts, the open next steps and the open
reminders. :func:`ownership_history` reads the chain of owners back from the journal.

Open next steps are the record's own ``next_step`` plus the ``next_action`` of its latest
activity (an action agreed earlier is superseded by any later contact). Reminders come from the
caller (e.g. the SLA agenda) as :class:`HandoverReminder` values; those due at or after the transfer time,
or overdue but not done, are all listed: the caller passes only the open ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

import attrs

from pipeline_core._deprecation import moved, renamed_params
from pipeline_core.clock import require_aware
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.ids import IdFactory
from pipeline_core.records import Account, Activity, JournalEntry, Lead, NextStep, Opportunity

__all__ = [
    "TRANSFER",
    "Handover",
    "HandoverReminder",
    "Owned",
    "handover_summary",
    "owner_change",
    "ownership_history",
    "transfer",
]

TRANSFER = "transfer"
"""Journal kind of an ownership transfer."""

Owned = TypeVar("Owned", Lead, Opportunity, Account)


@attrs.frozen
class HandoverReminder:
    """An open reminder handed over with a record (what, when it is due, about which record).

    Not :class:`pipeline_core.sla.Reminder` (an SLA obligation's reminder): this is any open
    reminder the caller wants the new owner to see, listed in :attr:`Handover.open_reminders`.
    """

    what: str
    due_at: datetime
    subject_id: str | None = None


@attrs.frozen
class Handover:
    """What a new owner needs: the last contacts, the open next steps, the open reminders."""

    last_contacts: tuple[Activity, ...]
    open_next_steps: tuple[NextStep, ...]
    open_reminders: tuple[HandoverReminder, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible data (stored in the transfer's journal payload)."""
        return {
            "last_contacts": [
                {
                    "id": a.id,
                    "kind": a.kind.value,
                    "at": a.at.isoformat(),
                    "by": a.owner_id,
                    "outcome": None if a.outcome is None else a.outcome.value,
                    "replied": a.replied,
                    "notes": a.notes[:500],
                }
                for a in self.last_contacts
            ],
            "open_next_steps": [
                {"action": s.action, "due_at": s.due_at.isoformat()} for s in self.open_next_steps
            ],
            "open_reminders": [
                {"what": r.what, "due_at": r.due_at.isoformat(), "subject_id": r.subject_id}
                for r in self.open_reminders
            ],
        }


def _about(activity: Activity, record_id: str) -> bool:
    return record_id in (activity.lead_id, activity.opportunity_id, activity.account_id)


@renamed_params(at="as_of")
def handover_summary(
    record: Lead | Opportunity | Account,
    activities: Iterable[Activity],
    *,
    as_of: datetime,
    reminders: Iterable[HandoverReminder] = (),
    last: int = 5,
) -> Handover:
    """Summarise a record for its next owner as of ``as_of`` (activities after it are ignored;
    the old keyword ``at=`` is deprecated).

    ``last_contacts``: the ``last`` most recent activities about the record, newest first (ties by
    id). ``open_next_steps``: the record's ``next_step`` and the latest activity's next action.
    ``open_reminders``: the given reminders, by due time.
    """
    require_aware(as_of, "as_of")
    mine = sorted(
        (a for a in activities if _about(a, record.id) and a.at <= as_of),
        key=lambda a: (a.at, a.id),
        reverse=True,
    )
    steps: list[NextStep] = []
    own = getattr(record, "next_step", None)
    if isinstance(own, NextStep):
        steps.append(own)
    if mine and mine[0].next_action is not None and mine[0].next_action not in steps:
        steps.append(mine[0].next_action)
    steps.sort(key=lambda s: (s.due_at, s.action))
    return Handover(
        last_contacts=tuple(mine[: max(0, last)]),
        open_next_steps=tuple(steps),
        open_reminders=tuple(sorted(reminders, key=lambda r: (r.due_at, r.what))),
    )


def transfer(
    record: Owned,
    to_owner: str,
    *,
    at: datetime,
    by: str,
    reason: str,
    ids: IdFactory,
    activities: Iterable[Activity] = (),
    reminders: Iterable[HandoverReminder] = (),
    team_id: str | None = None,
) -> tuple[Owned, JournalEntry, Handover]:
    """Hand ``record`` to ``to_owner``: returns its next version, the journal entry, the summary.

    ``reason`` is required. For an opportunity, ``team_id`` (if given) moves it to the new
    owner's team too. Raises :class:`~pipeline_core.errors.ValidationError` listing every problem
    (empty reason, same owner, naive ``at``). Nothing is stored: write both with one unit of work
    (:func:`pipeline_core.assignment.service.apply_transfer`).
    """
    problems = []
    if not reason or not reason.strip():
        problems.append(Problem(("reason",), "a transfer needs a reason", reason, "missing_reason"))
    if to_owner == record.owner_id:
        problems.append(Problem(("to_owner",), "is already the owner", to_owner, "same_owner"))
    if not to_owner:
        problems.append(Problem(("to_owner",), "must be a user id", to_owner, "invalid"))
    if at.tzinfo is None or at.utcoffset() is None:
        problems.append(Problem(("at",), "must be timezone-aware", at, "timezone_aware"))
    if problems:
        raise ValidationError("transfer", problems)
    summary = handover_summary(record, activities, as_of=at, reminders=reminders)
    changes: dict[str, Any] = {"owner_id": to_owner}
    if team_id is not None and isinstance(record, Opportunity):
        changes["team_id"] = team_id
    new = record.evolve(**changes)
    details: dict[str, Any] = {
        "record_kind": type(record).__name__.lower(),
        "handover": summary.to_dict(),
    }
    if "team_id" in changes:
        details["team"] = {"from": getattr(record, "team_id", None), "to": team_id}
    entry = owner_change(TRANSFER, record, new, at=at, by=by, reason=reason, ids=ids, **details)
    return new, entry, summary


def owner_change(
    kind: str,
    record: Lead | Opportunity | Account,
    new: Lead | Opportunity | Account,
    *,
    at: datetime,
    by: str,
    reason: str | None,
    ids: IdFactory,
    **details: Any,
) -> JournalEntry:
    """The journal entry of a change of owner from ``record`` to its next version ``new``: kind
    ``kind`` (``"transfer"``, ``"pool_release"``, ``"pool_claim"``), payload ``from`` (the old
    owner), ``to`` (the new one), ``version`` (``new``'s) and the ``details`` given (JSON data)."""
    return JournalEntry(
        id=ids.new("journal"),
        kind=kind,
        subject_id=record.id,
        at=at,
        by=by,
        reason=reason,
        payload={"from": record.owner_id, "to": new.owner_id, "version": new.version, **details},
    )


def ownership_history(
    entries: Iterable[JournalEntry], subject_id: str
) -> list[tuple[datetime, str | None, str, str | None]]:
    """The owners of ``subject_id`` over time from its transfer entries, oldest first:
    ``(at, from_owner, to_owner, reason)``."""
    out = [
        (e.at, e.payload.get("from"), str(e.payload.get("to")), e.reason)
        for e in entries
        if e.kind == TRANSFER and e.subject_id == subject_id
    ]
    out.sort(key=lambda t: t[0])
    return out


__getattr__ = moved(__name__, {"Reminder": "pipeline_core.assignment.ownership:HandoverReminder"})
