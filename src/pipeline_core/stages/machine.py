"""Moves: pure functions from one version of an opportunity to the next.

:func:`move` looks the edge up in the table the pipeline precomputed, runs its compiled guards and
builds the next :class:`~pipeline_core.records.Opportunity` and its
:class:`~pipeline_core.records.StageEvent` without re-validating values that are valid by
construction. When anything is wrong it raises and changes nothing (there is nothing to change:
records are immutable and nothing is stored here).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Final

from pipeline_core.errors import Problem, TransitionError, ValidationError
from pipeline_core.ids import IdFactory
from pipeline_core.records import Opportunity, StageEvent

if TYPE_CHECKING:
    from pipeline_core.stages.definition import Pipeline

__all__ = ["move", "unmet"]

_ID: Final = re.compile(r"\S{1,128}")
_trusted_event = StageEvent._trusted


def move(
    pipeline: Pipeline,
    opportunity: Opportunity,
    to: str,
    *,
    at: datetime,
    by: str,
    reason: str | None = None,
    ids: IdFactory | None = None,
) -> tuple[Opportunity, StageEvent]:
    """Move ``opportunity`` to stage ``to`` of ``pipeline``; see :meth:`Pipeline.move`."""
    src = opportunity.stage
    row = pipeline._table.get(src)
    edge = None if row is None else row.get(to)
    owner = opportunity.pipeline
    if edge is None or (owner is not None and owner != pipeline.id):
        raise _refusal(pipeline, opportunity, to)
    for test in edge.tests:
        if test(opportunity) is not None:
            raise _refusal(pipeline, opportunity, to)
    entered = opportunity.stage_entered_at
    if at.__class__ is not datetime or at.utcoffset() is None or at < entered:
        _bad_at(at, entered)
    if by.__class__ is not str or not _ID.fullmatch(by):
        raise ValidationError(
            "move",
            [Problem(("by",), "expected a user id (1-128 non-space characters)", by, "bad_id")],
        )
    if reason is not None and (reason.__class__ is not str or len(reason) > 2_000):
        raise ValidationError(
            "move",
            [
                Problem(
                    ("reason",),
                    "a reason is a text of at most 2,000 characters",
                    reason,
                    "bad_reason",
                )
            ],
        )
    if edge.closes:
        closed_at = at
    elif edge.reopens:
        closed_at = None
    else:
        closed_at = opportunity.closed_at
    new = opportunity._evolve_trusted(
        stage=to, stage_entered_at=at, probability=edge.probability, closed_at=closed_at
    )
    event = _trusted_event(
        {
            "id": (ids or pipeline.ids).new("event"),
            "opportunity_id": opportunity.id,
            "to_stage": to,
            "at": at,
            "by": by,
            "from_stage": src,
            "reason": reason,
            "pipeline": pipeline.id,
            "checks": edge.checks,
        }
    )
    return new, event


def _bad_at(at: object, entered: datetime) -> None:
    from pipeline_core.clock import require_aware

    require_aware(at, "at")  # type: ignore[arg-type]
    if isinstance(at, datetime) and at >= entered:
        return  # an aware datetime subclass (e.g. a pandas Timestamp): fine
    raise ValidationError(
        "move",
        [
            Problem(
                ("at",),
                f"a move cannot be earlier than the opportunity entered its stage ({entered.isoformat()})",
                at,
                "before_stage_entered",
            )
        ],
    )


def unmet(pipeline: Pipeline, opportunity: Opportunity, to: str) -> tuple[str, ...]:
    """Every reason the move of ``opportunity`` to ``to`` is not allowed (empty when it is)."""
    reasons: list[str] = []
    src = opportunity.stage
    if opportunity.pipeline is not None and opportunity.pipeline != pipeline.id:
        reasons.append(
            f"the opportunity belongs to pipeline {opportunity.pipeline!r}, not {pipeline.id!r}"
        )
    known = pipeline._by_id
    if src not in known:
        reasons.append(f"current stage {src!r} is not a stage of pipeline {pipeline.id!r}")
    if to not in known:
        reasons.append(f"target stage {to!r} is not a stage of pipeline {pipeline.id!r}")
    if reasons:
        return tuple(reasons)
    edge = pipeline._table[src].get(to)
    if edge is None:
        if to == src:
            reasons.append(f"the opportunity is already at {to!r}")
        elif known[src].is_closed and not pipeline.rules.reopen:
            reasons.append(
                f"stage {src!r} is an end ({known[src].kind}) and pipeline {pipeline.id!r} "
                "does not allow reopening"
            )
        else:
            allowed = ", ".join(repr(t) for t in pipeline._table[src]) or "none"
            reasons.append(f"no transition from {src!r} to {to!r} (allowed: {allowed})")
        return tuple(reasons)
    for test in edge.tests:
        message = test(opportunity)
        if message is not None:
            reasons.append(message)
    return tuple(reasons)


def _refusal(pipeline: Pipeline, opportunity: Opportunity, to: str) -> TransitionError:
    reasons = unmet(pipeline, opportunity, to)
    src = opportunity.stage
    lines = "; ".join(reasons)
    return TransitionError(
        f"cannot move opportunity {opportunity.id!r} from {src!r} to {to!r}: {lines}",
        from_stage=src,
        to_stage=to,
        unmet=reasons,
    )
