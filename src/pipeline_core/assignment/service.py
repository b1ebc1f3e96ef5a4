"""Putting the team layer to work: intake (dedup, then routing) and writing plans to a store.

:func:`intake` checks a new lead against a :class:`~pipeline_core.identity.dedup.DedupIndex`
before routing it (Odoo does the same: dedup and merge before assignment). When the lead matches
an existing customer that already has an owner, it goes to that owner and is not routed, so two
reps never work the same customer; otherwise the :class:`~pipeline_core.assignment.routing.Router`
decides. Either way the decision explains itself.

:func:`commit` writes records' next versions and journal entries in one unit of work (all or
nothing); pass a :class:`~pipeline_core.access.store.ScopedStore` to have every write
checked against the actor's access policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final

import attrs

from pipeline_core._model import Record
from pipeline_core.assignment.routing import Router, RoutingDecision
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.identity.dedup import DedupIndex, Match
from pipeline_core.identity.merge import MergePlan
from pipeline_core.records import Account, Contact, JournalEntry, Lead, Opportunity, Team, User
from pipeline_core.storage.ports import Store, UnitOfWork

__all__ = ["IntakeResult", "apply_merge", "commit", "intake"]


@attrs.frozen
class IntakeResult:
    """A lead after intake: with its owner set (unless queued), the matches and the decision."""

    lead: Lead
    decision: RoutingDecision
    matches: tuple[Match, ...]

    @property
    def duplicate_of(self) -> str | None:
        """The existing record the lead was sent to the owner of, if any."""
        return (
            self.decision.rule[len("duplicate:") :]
            if self.decision.rule and self.decision.rule.startswith("duplicate:")
            else None
        )


def intake(
    lead: Lead,
    *,
    index: DedupIndex,
    router: Router,
    owner_of: Callable[[str], str | None],
    at: datetime | None = None,
    grade: str | None = None,
    min_score: float = 0.9,
    add_to_index: bool = True,
) -> IntakeResult:
    """Deduplicate, then route one new lead.

    ``owner_of`` gives the current owner of an indexed id (``None`` if unowned or in the pool).
    The strongest match with a score of at least ``min_score`` whose owner is known sends the
    lead to that owner (rule ``"duplicate:<id>"``); otherwise the router decides. The lead is
    added to ``index`` afterwards unless ``add_to_index`` is false.
    """
    when = at if at is not None else lead.created_at
    matches = tuple(index.find_lead(lead))
    decision: RoutingDecision | None = None
    for m in matches:
        if m.score < min_score:
            break
        owner = owner_of(m.existing_id)
        if owner is not None:
            decision = RoutingDecision(
                lead.id,
                owner,
                f"duplicate:{m.existing_id}",
                f"to {owner}: duplicate of {m.existing_id} ({m.reason})",
                when,
            )
            break
    if decision is None:
        decision = router.route(lead, at=at, grade=grade)
    routed = lead if decision.owner_id is None else lead.evolve(owner_id=decision.owner_id)
    if add_to_index:
        index.add_lead(routed)
    return IntakeResult(routed, decision, matches)


_COLLECTIONS: Final[dict[type[Record], str]] = {
    Lead: "leads",
    Opportunity: "opportunities",
    Account: "accounts",
    Contact: "contacts",
    User: "users",
    Team: "teams",
}
"""The repository of each versioned record kind a unit of work saves."""


def _save(uow: UnitOfWork, record: Record) -> None:
    collection = _COLLECTIONS.get(type(record))
    if collection is None:
        raise ValidationError(
            "commit",
            [Problem(("records",), "not a versioned record kind", type(record).__name__, "kind")],
        )
    getattr(uow, collection).save(record)


def commit(
    store: Store, records: Iterable[Record] = (), entries: Iterable[JournalEntry] = ()
) -> None:
    """Save each record's next version and append each journal entry, in one unit of work."""
    with store.unit_of_work() as uow:
        for record in records:
            _save(uow, record)
        for entry in entries:
            uow.journal.append(entry)


def apply_merge(store: Store, plan: MergePlan[Lead] | MergePlan[Opportunity]) -> None:
    """Write a :class:`~pipeline_core.identity.merge.MergePlan` (survivor, merged records, merge
    record and ``merged_into`` entries) in one unit of work."""
    commit(store, [plan.survivor, *plan.merged], plan.entries)
