"""The record lifecycle: lead -> opportunity -> (won) -> post-sale (contract, delivery, service).

:func:`convert` turns a qualified lead into an opportunity at a pipeline's first stage, keeping the
link both ways (``opportunity.lead_id`` and ``lead.opportunity_id``). :func:`open_post_sale`
opens the post-sale pipeline (``domain.md`` §1: customer -> contract -> service / revisit) for a
won opportunity as a new opportunity whose ``parent_id`` is the won one. Both are pure: they return
new records and the stage event that places the new opportunity; storing them is the caller's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import attrs

from pipeline_core.clock import require_aware
from pipeline_core.errors import Problem, TransitionError, ValidationError
from pipeline_core.facts import is_won_stage
from pipeline_core.ids import IdFactory
from pipeline_core.records import Lead, LeadStatus, Opportunity, StageEvent
from pipeline_core.stages.definition import Pipeline

__all__ = ["Conversion", "Opened", "convert", "open_post_sale"]

_NAME_MAX = 300


@attrs.frozen
class Conversion:
    """What :func:`convert` returns: the new opportunity, its first stage event and the updated
    lead. Unpacks as a tuple: ``opp, event, lead = convert(...)``."""

    opportunity: Opportunity
    event: StageEvent
    lead: Lead

    def __iter__(self) -> Iterator[Any]:
        return iter((self.opportunity, self.event, self.lead))


@attrs.frozen
class Opened:
    """What :func:`open_post_sale` returns: the new opportunity and its first stage event.
    Unpacks as a tuple: ``opp, event = open_post_sale(...)``."""

    opportunity: Opportunity
    event: StageEvent

    def __iter__(self) -> Iterator[Any]:
        return iter((self.opportunity, self.event))


def _check_at(at: datetime, not_before: datetime, what: str) -> None:
    require_aware(at, "at")
    if at < not_before:
        raise ValidationError(
            "at",
            [
                Problem(
                    ("at",),
                    f"cannot be before the {what} ({not_before.isoformat()})",
                    at,
                    "before_start",
                )
            ],
        )


def _place(
    pipeline: Pipeline,
    values: dict[str, Any],
    *,
    at: datetime,
    by: str,
    reason: str,
    ids: IdFactory,
) -> tuple[Opportunity, StageEvent]:
    first = pipeline.first
    values.update(
        stage=first.id,
        stage_entered_at=at,
        created_at=at,
        pipeline=pipeline.id,
        probability=first.probability,
    )
    opp = Opportunity(**values)
    unmet = pipeline.entry_unmet(opp, first.id)
    if unmet:
        raise TransitionError(
            f"cannot place the new opportunity at {first.id!r}: {'; '.join(unmet)}",
            from_stage=None,
            to_stage=first.id,
            unmet=unmet,
        )
    event = StageEvent(
        id=ids.new("event"),
        opportunity_id=opp.id,
        to_stage=first.id,
        at=at,
        by=by,
        from_stage=None,
        reason=reason,
        pipeline=pipeline.id,
        checks=pipeline.entry_checks(first.id),
        seq=opp.version,  # the placement: the first version (facts.event_order)
    )
    return opp, event


def convert(
    lead: Lead,
    pipeline: Pipeline,
    *,
    at: datetime,
    by: str,
    ids: IdFactory | None = None,
    name: str | None = None,
    owner_id: str | None = None,
) -> Conversion:
    """Turn ``lead`` into an opportunity at ``pipeline``'s first stage.

    The opportunity carries the lead's source, needs, intent, expected amount, owner (``owner_id``,
    else the lead's owner, else ``by``), account, contact, tags and custom fields, and links back
    with ``lead_id``. Its name is ``name``, else the lead's company or contact name, else
    ``"Lead <id>"``. The lead comes back with status ``converted``, ``opportunity_id`` set and
    ``version + 1``. A lead already converted or disqualified raises
    :class:`~pipeline_core.errors.TransitionError`, as does a first stage whose required fields
    the lead cannot fill; ``at`` before the lead was created raises ``ValidationError``.
    """
    _check_at(at, lead.created_at, "lead's creation")
    if lead.status in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED):
        extra = f" to opportunity {lead.opportunity_id!r}" if lead.opportunity_id else ""
        raise TransitionError(
            f"lead {lead.id!r} is {lead.status.value}{extra}; only an open lead can be converted",
            from_stage=None,
            to_stage=pipeline.first.id,
            unmet=(f"lead status is {lead.status.value}",),
        )
    ids = ids or pipeline.ids
    label = name or lead.company or lead.contact_name or f"Lead {lead.id}"
    values: dict[str, Any] = {
        "id": ids.new("opportunity"),
        "name": label[:_NAME_MAX],
        "owner_id": owner_id or lead.owner_id or by,
        "lead_id": lead.id,
        "account_id": lead.account_id,
        "contact_id": lead.contact_id,
        "source": lead.source,
        "needs": lead.needs,
        "intent": lead.intent,
        "expected_amount": lead.expected_amount,
        "tags": lead.tags,
        "custom": lead.custom,
    }
    opp, event = _place(
        pipeline, values, at=at, by=by, reason=f"converted from lead {lead.id}", ids=ids
    )
    new_lead = lead.evolve(status=LeadStatus.CONVERTED, opportunity_id=opp.id)
    return Conversion(opp, event, new_lead)


def open_post_sale(
    opportunity: Opportunity,
    source: Pipeline,
    *,
    at: datetime,
    by: str,
    pipeline: Pipeline | None = None,
    ids: IdFactory | None = None,
    name: str | None = None,
) -> Opened:
    """Open the post-sale pipeline for an opportunity won in ``source``.

    Returns a new opportunity at the first stage of ``pipeline`` (default: the ``"post_sale"``
    template: contract -> delivery -> service / revisit) with ``parent_id`` = the won
    opportunity's id, carrying its owner, team, account, contact, lead, source, amount and tags.
    Raises :class:`~pipeline_core.errors.TransitionError` if the opportunity is not at a won stage
    of ``source``.
    """
    if pipeline is None:
        from pipeline_core.stages.templates import get

        pipeline = get("post_sale")
    reasons = []
    if opportunity.pipeline is not None and opportunity.pipeline != source.id:
        reasons.append(
            f"the opportunity belongs to pipeline {opportunity.pipeline!r}, not {source.id!r}"
        )
    elif not is_won_stage(opportunity.stage, source):
        reasons.append(
            f"stage {opportunity.stage!r} is not a won stage of {source.id!r} "
            f"(won stages: {', '.join(source.won_stage_ids)})"
        )
    if reasons:
        raise TransitionError(
            f"cannot open {pipeline.id!r} for opportunity {opportunity.id!r}: {'; '.join(reasons)}",
            from_stage=opportunity.stage,
            to_stage=pipeline.first.id,
            unmet=reasons,
        )
    _check_at(at, opportunity.stage_entered_at, "win")
    ids = ids or pipeline.ids
    label = name or f"{opportunity.name} - {pipeline.name}"
    values: dict[str, Any] = {
        "id": ids.new("opportunity"),
        "name": label[:_NAME_MAX],
        "owner_id": opportunity.owner_id,
        "team_id": opportunity.team_id,
        "lead_id": opportunity.lead_id,
        "account_id": opportunity.account_id,
        "contact_id": opportunity.contact_id,
        "source": opportunity.source,
        "needs": opportunity.needs,
        "expected_amount": opportunity.expected_amount,
        "parent_id": opportunity.id,
        "tags": opportunity.tags,
        "custom": opportunity.custom,
    }
    opp, event = _place(
        pipeline, values, at=at, by=by, reason=f"opened after win of {opportunity.id}", ids=ids
    )
    return Opened(opp, event)
