"""Moves: pure functions from one version of an opportunity to the next.

:func:`move` looks the edge up in the table the pipeline precomputed
(:meth:`~pipeline_core.stages.definition.Pipeline.edge`), runs its compiled guards and
builds the next :class:`~pipeline_core.records.Opportunity` and its
:class:`~pipeline_core.records.StageEvent` without re-validating values that are valid by
construction. When anything is wrong it raises and changes nothing (there is nothing to change:
records are immutable and nothing is stored here).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final

from pipeline_core._fastbuild import builder
from pipeline_core._model import field_defaults, field_names
from pipeline_core.errors import Problem, TransitionError, ValidationError
from pipeline_core.ids import IdFactory
from pipeline_core.records import Opportunity, StageEvent

if TYPE_CHECKING:
    from pipeline_core.stages.definition import Pipeline

__all__ = ["move", "unmet"]

_ID: Final = re.compile(r"\S{1,128}")
_MOVED: Final = ("stage", "stage_entered_at", "probability", "closed_at", "version")
_EVENT_ARGS: Final = (
    "id",
    "opportunity_id",
    "to_stage",
    "at",
    "by",
    "from_stage",
    "reason",
    "pipeline",
    "checks",
    "seq",
)


def _builders() -> tuple[Callable[..., Opportunity], Callable[..., StageEvent]]:
    """Generate the two record builders of the hot path from the records' own field lists.

    Like :func:`~pipeline_core._model.build_trusted` (no validation: every value is valid by
    construction), but with the move's arguments as parameters: one attribute store per field, no
    loop and no dictionary (see :mod:`pipeline_core._fastbuild`). Generated from the records' field
    lists (:func:`~pipeline_core._model.field_names`), so a field added to a record is copied too.
    """
    opp_fields = list(field_names(Opportunity))
    event_fields = field_names(StageEvent)
    missing = [f for f in _MOVED if f not in opp_fields]
    missing += [f for f in _EVENT_ARGS if f not in event_fields]
    if missing:  # pragma: no cover - a record changed shape without this module
        raise RuntimeError(f"stage machine out of date with the records: {missing}")
    clone = builder(
        Opportunity,
        ("src", "stage", "stage_entered_at", "probability", "closed_at"),
        [
            (
                name,
                "src.version + 1"
                if name == "version"
                else name
                if name in _MOVED
                else f"src.{name}",
            )
            for name in opp_fields
        ],
        name="clone",
    )
    event = builder(
        StageEvent,
        _EVENT_ARGS,
        [(name, name if name in _EVENT_ARGS else f"_defaults[{name!r}]") for name in event_fields],
        {"_defaults": field_defaults(StageEvent)},
        name="event",
    )
    return clone, event


_clone, _event = _builders()


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
    """Move ``opportunity`` to stage ``to``: the new opportunity (version + 1) and its event.

    Pure: nothing is read but the arguments (and the event id from ``ids``, default the
    pipeline's). Each guard of the edge runs exactly once; when any fails, the error's ``unmet``
    lists every failed guard's sentence, as that one run answered. The event's ``seq`` is the new
    opportunity's version (``opportunity.version + 1``), so the events of one deal are ordered
    even at one instant. ``closed_at`` is set on the first entry into a closed stage, kept on a
    move between closed stages and cleared by a reopen. Raises :class:`~pipeline_core.errors.TransitionError` naming from, to and every
    unmet condition when the move is not allowed, and :class:`~pipeline_core.errors.ValidationError`
    for a naive ``at``, an ``at`` before the opportunity entered its stage, or a bad
    ``by``/``reason``. Nothing changes when it raises: records are immutable.
    """
    src = opportunity.stage
    edge = pipeline.edge(src, to)
    owner = opportunity.pipeline
    if edge is None or (owner is not None and owner != pipeline.id):
        raise _refusal(pipeline, opportunity, to, unmet(pipeline, opportunity, to))
    failed: list[str] | None = None
    for test in edge.tests:  # each guard runs once per attempt: its answer is the one reported
        message = test(opportunity)
        if message is not None:
            if failed is None:
                failed = [message]
            else:
                failed.append(message)
    if failed is not None:
        raise _refusal(pipeline, opportunity, to, tuple(failed))
    if at.__class__ is not datetime or at.tzinfo not in _VALID_OFFSETS:
        at = _plain_at(at)  # read as a record's timestamp; a named zone or a subclass: normalised
    entered = opportunity.stage_entered_at
    if at < entered:
        raise ValidationError(
            "move",
            [
                Problem(
                    ("at",),
                    "a move cannot be earlier than the opportunity entered its stage "
                    f"({entered.isoformat()})",
                    at,
                    "before_stage_entered",
                )
            ],
        )
    if by.__class__ is not str or not ((by.isidentifier() and len(by) <= 128) or _ID.fullmatch(by)):
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
        # the close instant is the first entry into a closed stage (pipeline_core.facts):
        # a move between two closed stages (signed -> paid) keeps it
        closed_at = (
            at if edge.opens_close or opportunity.closed_at is None else opportunity.closed_at
        )
    elif edge.reopens:
        closed_at = None
    else:
        closed_at = opportunity.closed_at
    return (
        _clone(opportunity, to, at, edge.probability, closed_at),
        _event(
            (ids or pipeline.ids).new("event"),
            opportunity.id,
            to,
            at,
            by,
            src,
            reason,
            pipeline.id,
            edge.checks,
            opportunity.version + 1,  # seq: the version this move produces (see facts.event_order)
        ),
    )


def _plain_at(at: object) -> datetime:
    """``at`` as a plain ``datetime`` with a fixed UTC offset, as records keep their timestamps:
    read by the records' own rule (:func:`pipeline_core._model.timestamp`), so a move refuses
    what a record refuses (naive, an offset with seconds or beyond -12:00..+14:00, nanoseconds)."""
    from pipeline_core._model import timestamp

    plain = timestamp(at, "at", "move")
    if plain.tzinfo.__class__ is not timezone:  # pydantic's TzInfo: same offset, stdlib class
        plain = plain.replace(tzinfo=timezone(plain.utcoffset()))  # type: ignore[arg-type]
    return plain


_VALID_OFFSETS: frozenset[timezone] = frozenset(
    timezone(timedelta(minutes=m)) for m in range(-12 * 60, 14 * 60 + 1)
)
"""Every fixed offset a timestamp may carry (whole minutes, -12:00..+14:00; ``timezone`` compares
by offset): a move whose ``at`` carries one skips the full reading. Immutable, built at import."""


def unmet(pipeline: Pipeline, opportunity: Opportunity, to: str) -> tuple[str, ...]:
    """Every reason the move of ``opportunity`` to ``to`` is not allowed (empty when it is)."""
    reasons: list[str] = []
    src = opportunity.stage
    if opportunity.pipeline is not None and opportunity.pipeline != pipeline.id:
        reasons.append(
            f"the opportunity belongs to pipeline {opportunity.pipeline!r}, not {pipeline.id!r}"
        )
    if src not in pipeline:
        reasons.append(f"current stage {src!r} is not a stage of pipeline {pipeline.id!r}")
    if to not in pipeline:
        reasons.append(f"target stage {to!r} is not a stage of pipeline {pipeline.id!r}")
    if reasons:
        return tuple(reasons)
    edge = pipeline.edge(src, to)
    if edge is None:
        source = pipeline.stage(src)
        if to == src:
            reasons.append(f"the opportunity is already at {to!r}")
        elif source.is_closed and not pipeline.rules.reopen:
            reasons.append(
                f"stage {src!r} is an end ({source.kind}) and pipeline {pipeline.id!r} "
                "does not allow reopening"
            )
        else:
            allowed = ", ".join(repr(t) for t in pipeline.targets(src)) or "none"
            reasons.append(f"no transition from {src!r} to {to!r} (allowed: {allowed})")
        return tuple(reasons)
    for test in edge.tests:
        message = test(opportunity)
        if message is not None:
            reasons.append(message)
    return tuple(reasons)


def _refusal(
    pipeline: Pipeline, opportunity: Opportunity, to: str, reasons: tuple[str, ...]
) -> TransitionError:
    src = opportunity.stage
    lines = "; ".join(reasons)
    return TransitionError(
        f"cannot move opportunity {opportunity.id!r} from {src!r} to {to!r}: {lines}",
        from_stage=src,
        to_stage=to,
        unmet=reasons,
    )
