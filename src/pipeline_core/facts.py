"""The shared facts: one function for each fact that several capabilities need.

Stages, SLA, metrics, segments, scoring and forecasts all ask the same questions of a deal: is it
closed, won or lost; when did it close; in which order did its events happen; is this value
missing. Each question is answered here, once, and every capability calls these functions rather
than deciding on its own (a ``lost_reason`` or ``won_reason`` is a note, never the outcome).

- **Closed, won, lost** are decided by the *kind of the stage* a deal is in (``open``, ``won`` or
  ``lost``, :class:`pipeline_core.stages.StageKind`), read from the pipeline that defines it.
- **The close instant** is the first entry into a closed stage: a move between two closed stages
  (``signed`` → ``paid``) does not move it; a reopen clears it, and the next close sets it again.
  :func:`close_instant` derives it from a stage history; :func:`win_instant` is the close instant
  of a deal whose current stage is won.
- **A merged duplicate** (:func:`is_merged`) is not a deal of its own: it is neither open pipeline
  nor won or lost, and every metric leaves it out (:func:`deal_status` says ``"merged"``).
- **Event order** is ``(instant at full precision, sequence)`` (:func:`event_order`): never a
  random id, never an instant floored to the second.
- **Missing values**: ``None``, ``NaN``, ``NaT``, pandas' ``NA`` and a blank cell all mean
  missing (:func:`is_missing`).
- **Backfilled history** (:func:`backfilled_until`): a record imported as a backfill carries the
  import instant; its deadlines before that instant raise no SLA alerts.

The module is pure and imports only the records: a pipeline is anything with ``won_stage_ids`` and
``lost_stage_ids`` (:class:`StageKinds`), so the domain core stays below the stage definitions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal, Protocol, runtime_checkable

from pipeline_core.errors import Problem, ValidationError
from pipeline_core.records import Lead, Opportunity, StageEvent

__all__ = [
    "BACKFILL_KEY",
    "MERGED_TAG",
    "DealStatus",
    "StageKinds",
    "backfilled_until",
    "close_instant",
    "closed_periods",
    "deal_status",
    "event_order",
    "is_closed_stage",
    "is_lost_stage",
    "is_merged",
    "is_missing",
    "is_won_stage",
    "merged_into",
    "sorted_events",
    "stage_kind",
    "win_instant",
]

StageKindName = Literal["open", "won", "lost"]
DealStatus = Literal["open", "won", "lost", "merged"]
"""What a deal is for every count: open pipeline, won, lost, or a merged duplicate (counted in
none of them)."""

MERGED_TAG: Final = "merged"
"""The tag a merge puts on every record it folds into a survivor (see
:mod:`pipeline_core.assignment.merge`)."""


BACKFILL_KEY: Final = "backfilled_until"
"""The custom field in which a sync with ``backfill=True`` (:func:`pipeline_core.ingest.sync`)
marks the records it adds: the import instant as ISO 8601 text with its offset."""


@runtime_checkable
class StageKinds(Protocol):
    """What the facts need from a pipeline: the ids of its won and of its lost stages.

    :class:`pipeline_core.stages.Pipeline` and :class:`pipeline_core.metrics.StageOrder` both have
    them; every stage id in neither is an open stage.
    """

    @property
    def won_stage_ids(self) -> Sequence[str]:
        """The won (closed, successful) stage ids."""
        ...

    @property
    def lost_stage_ids(self) -> Sequence[str]:
        """The lost (closed, unsuccessful) stage ids."""
        ...


def stage_kind(stage: str, stages: StageKinds) -> StageKindName:
    """The kind of ``stage`` in ``stages``: ``"won"``, ``"lost"`` or ``"open"``.

    >>> from pipeline_core.stages import templates
    >>> p = templates.get("small_team")
    >>> stage_kind("won", p), stage_kind("lost", p), stage_kind("first_contact", p)
    ('won', 'lost', 'open')
    """
    if stage in stages.won_stage_ids:
        return "won"
    if stage in stages.lost_stage_ids:
        return "lost"
    return "open"


def is_won_stage(stage: str, stages: StageKinds) -> bool:
    """True when ``stage`` is a won stage of ``stages``."""
    return stage in stages.won_stage_ids


def is_lost_stage(stage: str, stages: StageKinds) -> bool:
    """True when ``stage`` is a lost stage of ``stages``."""
    return stage in stages.lost_stage_ids


def is_closed_stage(stage: str, stages: StageKinds) -> bool:
    """True when ``stage`` is a won or a lost stage of ``stages`` (an end)."""
    return stage in stages.won_stage_ids or stage in stages.lost_stage_ids


def is_merged(record: Opportunity | Lead) -> bool:
    """True when ``record`` is a duplicate folded into another record by a merge (tag
    :data:`MERGED_TAG`, or ``custom["merged_into"]`` holding a value: a missing one, see
    :func:`is_missing`, is no merge)."""
    return MERGED_TAG in record.tags or not is_missing(record.custom.get("merged_into"))


def merged_into(record: Opportunity | Lead) -> str | None:
    """The flat-frame ``merged_into`` cell of ``record``: the survivor's id, or
    :data:`MERGED_TAG` for a duplicate whose survivor is not recorded, ``None`` for any record
    that :func:`is_merged` does not call merged. Stores and metrics both write this cell, so a
    frame leaves out exactly the records :func:`is_merged` leaves out."""
    if not is_merged(record):
        return None
    into = record.custom.get("merged_into")
    return MERGED_TAG if is_missing(into) else str(into)


def deal_status(opportunity: Opportunity, stages: StageKinds) -> DealStatus:
    """What ``opportunity`` counts as: ``"merged"`` for a merged duplicate, else the kind of its
    stage (``"open"``, ``"won"``, ``"lost"``). ``won_reason``/``lost_reason`` are not read.

    >>> from datetime import UTC, datetime
    >>> from pipeline_core.records import Opportunity
    >>> from pipeline_core.stages import templates
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> o = Opportunity(id="o", name="A", created_at=t, owner_id="u", stage="lost",
    ...                 stage_entered_at=t, closed_at=t)
    >>> deal_status(o, templates.get("small_team"))
    'lost'
    """
    if is_merged(opportunity):
        return "merged"
    return stage_kind(opportunity.stage, stages)


def event_order(event: StageEvent) -> tuple[datetime, int]:
    """The sort key of a stage event: its instant at full precision, then its ``seq``.

    Two events of one deal at the same instant keep the order in which they were made: ``seq`` is
    the version of the opportunity the event produced (the placement by ``convert``/``create``
    has the first version, each move one more, see :func:`pipeline_core.stages.machine.move`),
    so it grows with every event of a deal and the move needs no other state to know it; every
    store keeps it. Never a random id. Events stored before ``seq`` existed have ``seq == 0``.
    """
    return (event.at, event.seq)


def sorted_events(events: Iterable[StageEvent]) -> list[StageEvent]:
    """``events`` in :func:`event_order` (a new list; stable for equal keys)."""
    return sorted(events, key=event_order)


def close_instant(events: Iterable[StageEvent], stages: StageKinds) -> datetime | None:
    """When the deal of ``events`` closed, or ``None`` while it is open.

    The instant of the first entry into a closed stage since the deal was last open: a move from a
    won stage to another won stage (``signed`` → ``paid``) or from won to lost keeps it; a reopen
    (a move back to an open stage) clears it. Events are read in :func:`event_order`.
    """
    closed: datetime | None = None
    for event in sorted_events(events):
        if is_closed_stage(event.to_stage, stages):
            if closed is None:
                closed = event.at
        else:
            closed = None
    return closed


def closed_periods(
    events: Iterable[StageEvent], stages: StageKinds
) -> list[tuple[datetime, datetime | None]]:
    """The periods during which the deal of ``events`` was closed, as ``(close, reopen)`` in
    :func:`event_order`; the last ``reopen`` is ``None`` while the deal is closed (its close is
    then :func:`close_instant`). A period starts at the first entry into a closed stage since the
    deal was last open (won → lost keeps it) and ends at the move back to an open stage."""
    out: list[tuple[datetime, datetime | None]] = []
    closed: datetime | None = None
    for event in sorted_events(events):
        if is_closed_stage(event.to_stage, stages):
            if closed is None:
                closed = event.at
        elif closed is not None:
            out.append((closed, event.at))
            closed = None
    if closed is not None:
        out.append((closed, None))
    return out


def win_instant(events: Iterable[StageEvent], stages: StageKinds) -> datetime | None:
    """When the deal of ``events`` was won: its :func:`close_instant` when its current stage (the
    last event's) is won, else ``None``. ``won_reason`` is not read."""
    ordered = sorted_events(events)
    if not ordered or not is_won_stage(ordered[-1].to_stage, stages):
        return None
    return close_instant(ordered, stages)


def is_missing(value: object) -> bool:
    """True for every spelling of "no value": ``None``, a float or ``Decimal`` NaN, pandas'
    ``NaT`` and ``NA``, numpy's ``NaT``, and a blank (empty or all-space) string.

    >>> [is_missing(v) for v in (None, float("nan"), "", "  ", 0, "0", "NA")]
    [True, True, True, True, False, False, False]

    The text ``"NA"`` is a value: only a parser that is asked to read it as missing does so.
    """
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Decimal):
        return value.is_nan()
    if type(value).__name__ in ("NAType", "NaTType"):
        return True
    try:
        return bool(value != value)  # numpy NaN / NaT and other self-unequal scalars
    except (TypeError, ValueError):  # arrays and values without a truth value
        return False


def backfilled_until(record: Any) -> datetime | None:
    """The instant up to which ``record`` (a lead, opportunity, account or contact: anything with
    ``custom`` fields) is imported history, or ``None`` when it is not a backfill.

    Read from ``custom[BACKFILL_KEY]`` (:data:`BACKFILL_KEY`), which an import with
    ``backfill=True`` sets to its instant. The SLA engine raises no reminder, breach or
    escalation for a deadline before it: those deadlines passed before the record was in the
    system. A missing value (:func:`is_missing`) is no mark; a mark that is not an ISO 8601
    instant with an offset raises :class:`~pipeline_core.errors.ValidationError` (never read as
    "no mark").

    >>> from pipeline_core.records import Account
    >>> a = Account(id="a1", name="ACME", created_at="2024-01-02T09:00:00+08:00",
    ...             custom={"backfilled_until": "2025-03-01T00:00:00+08:00"})
    >>> backfilled_until(a).isoformat()
    '2025-03-01T00:00:00+08:00'
    """
    custom = getattr(record, "custom", None)
    if not custom:
        return None
    mark = custom.get(BACKFILL_KEY)
    if is_missing(mark):
        return None
    instant = None
    if isinstance(mark, str):
        try:
            instant = datetime.fromisoformat(mark)
        except ValueError:
            instant = None
    if instant is None or instant.tzinfo is None or instant.utcoffset() is None:
        raise ValidationError(
            type(record).__name__,
            [
                Problem(
                    ("custom", BACKFILL_KEY),
                    "expected an ISO 8601 instant with an offset, such as "
                    "'2025-03-01T00:00:00+08:00'",
                    mark,
                    "backfill_mark",
                )
            ],
        )
    return instant
