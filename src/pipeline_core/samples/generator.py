"""The sample-data generator: see :mod:`pipeline_core.samples` for what it models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from pipeline_core._model import build_trusted
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.frame_columns import EVENT_COLUMNS, LEAD_COLUMNS, OPPORTUNITY_COLUMNS
from pipeline_core.records import (
    Account,
    Activity,
    Contact,
    Lead,
    Opportunity,
    StageEvent,
    Team,
    User,
)
from pipeline_core.samples.config import SampleConfig, StageSource
from pipeline_core.samples.simulation import Simulation, Story

__all__ = ["COLUMN_KINDS", "SampleCompany", "SampleConfig", "StageSource", "generate"]


COLUMN_KINDS: Final = ("leads", "opportunities", "stage_events", "activities")
"""The kinds :meth:`SampleCompany.columns` can stream."""


class SampleCompany:
    """A generated company: its people, and streams of its leads, deals, events and activities.

    Each stream regenerates the same stories from the seed, so streams are consistent with each
    other and nothing is held in memory between calls.
    """

    def __init__(self, config: SampleConfig) -> None:
        self.config = config
        self._simulation = Simulation(config)
        self.teams: list[Team] = self._simulation.teams
        self.users: list[User] = self._simulation.users

    # -- streams of records ------------------------------------------------------------------

    def leads(self) -> Iterator[Lead]:
        """Every lead, in creation order, as of the horizon."""
        for story in self._simulation.stories():
            yield build_trusted(Lead, story.lead)

    def contacts(self) -> Iterator[Contact]:
        """One contact per lead (the person who enquired)."""
        for story in self._simulation.stories():
            yield build_trusted(Contact, story.contact)

    def accounts(self) -> Iterator[Account]:
        """One account per converted lead (the customer company)."""
        for story in self._simulation.stories():
            if story.account is not None:
                yield build_trusted(Account, story.account)

    def opportunities(self) -> Iterator[Opportunity]:
        """Every opportunity, in the state it had reached at the horizon."""
        for story in self._simulation.stories():
            if story.opportunity is not None:
                yield build_trusted(Opportunity, story.opportunity)

    def stage_events(self) -> Iterator[StageEvent]:
        """Every stage move (the first places the opportunity at its first stage), per deal in order."""
        pipeline = self.config.pipeline_id
        for story in self._simulation.stories():
            if story.opportunity is None:
                continue
            opp_id = story.opportunity["id"]
            for k, (src, dst, at, by) in enumerate(story.events):
                yield build_trusted(
                    StageEvent,
                    {
                        "id": f"{opp_id}-ev{k:02d}",
                        "opportunity_id": opp_id,
                        "from_stage": src,
                        "to_stage": dst,
                        "at": at,
                        "by": by,
                        "pipeline": pipeline,
                        "reason": None,
                        "checks": (),
                        "seq": k + 1,  # the opportunity version it produced (facts.event_order)
                    },
                )

    def activities(self) -> Iterator[Activity]:
        """Every follow-up activity, per lead in time order."""
        for story in self._simulation.stories():
            yield from self._simulation.activity_records(story)

    # -- column batches for dataframes ---------------------------------------------------------

    def columns(self, kind: str, batch_size: int = 100_000) -> Iterator[dict[str, list[Any]]]:
        """Stream ``kind`` (one of :data:`COLUMN_KINDS`) as column batches of up to ``batch_size``.

        Flat layout: the library's one frame vocabulary (:mod:`pipeline_core.frame_columns`): a
        money field under its record name as a number (``budget``, ``expected_amount``; int, whole
        units) and ``currency``; the next step's due instant as ``due_at``; an event's ``seq``;
        timestamps as aware datetimes; tags as a ``;``-joined string. ``leads`` adds the hidden ``quality`` (0-1) that
        drove the simulation, for checking models against the truth.
        """
        if kind not in COLUMN_KINDS:
            raise ConfigError(
                "columns",
                [Problem(("kind",), f"expected one of {', '.join(COLUMN_KINDS)}", kind, "unknown")],
            )
        if batch_size < 1:
            raise ConfigError(
                "columns", [Problem(("batch_size",), "must be >= 1", batch_size, "invalid")]
            )
        project = _PROJECTIONS[kind]
        names = _COLUMNS[kind]
        batch: dict[str, list[Any]] = {name: [] for name in names}
        size = 0
        for story in self._simulation.stories():
            for row in project(self, story):
                for name, value in zip(names, row, strict=True):
                    batch[name].append(value)
                size += 1
                if size == batch_size:
                    yield batch
                    batch = {name: [] for name in names}
                    size = 0
        if size:
            yield batch

    # -- the simulation ---------------------------------------------------------------------------


# --------------------------------------------------------------------------- column projections

_NOT_GENERATED: Final = frozenset({"pipeline", "account_id", "probability", "merged_into", "tags"})
"""Vocabulary columns the generator's batches leave out (the generated records do not set them)."""

_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "leads": (*LEAD_COLUMNS, "variant", "quality"),
    "opportunities": tuple(c for c in OPPORTUNITY_COLUMNS if c not in _NOT_GENERATED),
    "stage_events": tuple(c for c in EVENT_COLUMNS if c not in _NOT_GENERATED),
    "activities": (
        "id",
        "kind",
        "at",
        "owner_id",
        "lead_id",
        "opportunity_id",
        "outcome",
        "replied",
        "variant",
    ),
}


def _lead_rows(company: SampleCompany, story: Story) -> Iterator[tuple[Any, ...]]:
    d = story.lead
    budget = d["budget"]
    yield (
        d["id"],
        d["created_at"],
        d["source"],
        d["company"],
        d["industry"],
        d["company_size"],
        d["region"],
        _value(d["intent"]),
        int(budget.amount) if budget else None,
        company.config.currency,
        _value(d["authority"]),
        _value(d["need"]),
        _value(d["timeline"]),
        d["owner_id"],
        d["status"].value,
        d["opportunity_id"],
        "B" if "variant:B" in d["tags"] else "A",
        d["custom"]["quality"],
    )


def _opportunity_rows(company: SampleCompany, story: Story) -> Iterator[tuple[Any, ...]]:
    d = story.opportunity
    if d is None:
        return
    nxt = d["next_step"]
    yield (
        d["id"],
        d["name"],
        d["created_at"],
        d["owner_id"],
        d["team_id"],
        d["stage"],
        d["stage_entered_at"],
        d["lead_id"],
        d["source"],
        int(d["expected_amount"].amount),
        company.config.currency,
        nxt.due_at if nxt else None,
        d["closed_at"],
        d["lost_reason"],
        d["won_reason"],
        d["version"],
    )


def _event_rows(company: SampleCompany, story: Story) -> Iterator[tuple[Any, ...]]:
    if story.opportunity is None:
        return
    opp_id = story.opportunity["id"]
    for k, (src, dst, at, by) in enumerate(story.events):
        yield (f"{opp_id}-ev{k:02d}", opp_id, src, dst, at, k + 1, by)


def _activity_rows(company: SampleCompany, story: Story) -> Iterator[tuple[Any, ...]]:
    for a in company._simulation.activity_records(story):
        yield (
            a.id,
            a.kind.value,
            a.at,
            a.owner_id,
            a.lead_id,
            a.opportunity_id,
            a.outcome.value if a.outcome else None,
            a.replied,
            a.variant,
        )


def _value(member: Any) -> Any:
    return None if member is None else member.value


_PROJECTIONS: Final[dict[str, Callable[[SampleCompany, Story], Iterator[tuple[Any, ...]]]]] = {
    "leads": _lead_rows,
    "opportunities": _opportunity_rows,
    "stage_events": _event_rows,
    "activities": _activity_rows,
}


def generate(config: SampleConfig | None = None) -> SampleCompany:
    """A generated company for ``config`` (defaults: 1,000 leads over 90 days from 2025-01-06)."""
    return SampleCompany(config or SampleConfig())
