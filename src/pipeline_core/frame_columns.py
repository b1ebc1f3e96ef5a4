"""The flat-frame column vocabulary: one set of column names for every frame of the library.

Frames read from a store (:mod:`pipeline_core.storage.frames`), frames the metrics take
(:mod:`pipeline_core.metrics`), frames the scorer takes (:mod:`pipeline_core.scoring.frames`) and
the column batches of the sample generator (:meth:`pipeline_core.samples.SampleCompany.columns`)
all name a column after the record field it holds, so a frame produced by one is read by the
others as it is. The rules:

- a plain field keeps its record name (``stage``, ``closed_at``, ``owner_id`` ...);
- a money field keeps its record name and holds the *amount* (a number), with its ISO 4217 code in
  ``currency`` (``expected_amount`` + ``currency``; ``budget`` + ``currency`` for leads);
- ``due_at`` is the due instant of the next step (``next_step.due_at``);
- ``merged_into`` is the survivor's id for a merged duplicate (``custom["merged_into"]``), null
  otherwise (see :func:`pipeline_core.facts.is_merged`);
- a stage event's ``seq`` is its :attr:`~pipeline_core.records.StageEvent.seq`, the tie-breaker of
  :func:`pipeline_core.facts.event_order`;
- timestamps are timezone-aware (UTC) datetimes.

Old names still read for one release (:data:`DEPRECATED_ALIASES`), with a
``DeprecationWarning``: ``amount`` for ``expected_amount`` (the metrics' old layout),
``next_due_at`` for ``due_at`` and ``budget_amount`` for ``budget`` (the sample generator's old
layout).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DEPRECATED_ALIASES",
    "EVENT_COLUMNS",
    "LEAD_COLUMNS",
    "OPPORTUNITY_COLUMNS",
]

EVENT_COLUMNS: Final[tuple[str, ...]] = (
    "id",
    "opportunity_id",
    "from_stage",
    "to_stage",
    "at",
    "seq",
    "by",
    "pipeline",
)
"""Columns of a stage-event frame (``from_stage`` null for the placement event)."""

OPPORTUNITY_COLUMNS: Final[tuple[str, ...]] = (
    "id",
    "name",
    "created_at",
    "owner_id",
    "team_id",
    "stage",
    "stage_entered_at",
    "pipeline",
    "lead_id",
    "account_id",
    "source",
    "expected_amount",
    "currency",
    "probability",
    "due_at",
    "closed_at",
    "lost_reason",
    "won_reason",
    "merged_into",
    "tags",
    "version",
)
"""Columns an opportunity frame may have (each frame gives those it can; ``tags`` is a list of
strings, sorted)."""

LEAD_COLUMNS: Final[tuple[str, ...]] = (
    "id",
    "created_at",
    "source",
    "company",
    "industry",
    "company_size",
    "region",
    "intent",
    "budget",
    "currency",
    "authority",
    "need",
    "timeline",
    "owner_id",
    "status",
    "opportunity_id",
)
"""Columns a lead frame may have (the BANT fields as the scorer reads them)."""

DEPRECATED_ALIASES: Final[dict[str, str]] = {
    "amount": "expected_amount",
    "next_due_at": "due_at",
    "budget_amount": "budget",
}
"""Old column name -> its name in the vocabulary; read for one release, with a
``DeprecationWarning``."""
