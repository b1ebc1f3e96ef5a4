"""What sample company to generate: :class:`SampleConfig` and the :class:`StageSource` it reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import attrs

from pipeline_core._values import as_fixed_offset
from pipeline_core.clock import require_aware
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.records import (
    Money,
)

__all__ = ["SampleConfig", "StageSource"]


@runtime_checkable
class StageSource(Protocol):
    """What the generator needs of a pipeline: its id and its open, won and lost stage ids."""

    @property
    def id(self) -> str:
        """The pipeline id."""
        ...

    @property
    def open_stage_ids(self) -> tuple[str, ...]:
        """Open stages, in order."""
        ...

    @property
    def won_stage_ids(self) -> tuple[str, ...]:
        """Won stages (the first is used)."""
        ...

    @property
    def lost_stage_ids(self) -> tuple[str, ...]:
        """Lost stages (the first is used)."""
        ...


def _default_start() -> datetime:
    return datetime(2025, 1, 6, tzinfo=ZoneInfo("Asia/Shanghai"))


@attrs.frozen(kw_only=True)
class SampleConfig:
    """What company to generate. Every field has a sensible default; ``seed`` fixes everything.

    ``stage_ids`` are the open stages in order; ``won_stage``/``lost_stage`` the closing ones
    (use :meth:`for_pipeline` to take them from a pipeline). Events after ``start + days`` are not
    generated: opportunities still open then are reported at the stage they had reached.
    ``regression_rate`` is the chance, at each forward move, of first going back one stage
    (re-work), which makes repeated visits to a stage.
    """

    seed: int = 0
    n_leads: int = 1_000
    start: datetime = attrs.field(factory=_default_start)
    days: int = 90
    stage_ids: tuple[str, ...] = ("new", "qualified", "proposal", "negotiation")
    won_stage: str = "won"
    lost_stage: str = "lost"
    pipeline_id: str | None = None
    n_teams: int = 3
    reps_per_team: int = 4
    currency: str = "CNY"
    lead_conversion: float = 0.40
    win_bias: float = 0.0
    regression_rate: float = 0.0
    touch_rate: float = 0.95

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        try:
            require_aware(self.start, "start")
        except ValueError:
            problems.append(
                Problem(("start",), "a timezone-aware datetime is needed", self.start, "timezone")
            )
        checks: tuple[tuple[str, bool, str], ...] = (
            ("n_leads", self.n_leads >= 0, "must be >= 0"),
            ("days", self.days >= 1, "must be >= 1"),
            ("stage_ids", len(self.stage_ids) >= 1, "needs at least one open stage"),
            ("stage_ids", len(set(self.stage_ids)) == len(self.stage_ids), "has duplicates"),
            (
                "won_stage",
                self.won_stage not in self.stage_ids and self.won_stage != self.lost_stage,
                "must differ from the open stages and the lost stage",
            ),
            ("lost_stage", self.lost_stage not in self.stage_ids, "must differ from open stages"),
            ("n_teams", self.n_teams >= 1, "must be >= 1"),
            ("reps_per_team", self.reps_per_team >= 1, "must be >= 1"),
            ("lead_conversion", 0.0 <= self.lead_conversion <= 1.0, "must be within 0..1"),
            ("win_bias", -1.0 <= self.win_bias <= 1.0, "must be within -1..1"),
            ("regression_rate", 0.0 <= self.regression_rate < 1.0, "must be within 0..1"),
            ("touch_rate", 0.0 <= self.touch_rate <= 1.0, "must be within 0..1"),
        )
        for name, ok, message in checks:
            if not ok:
                problems.append(Problem((name,), message, getattr(self, name), "invalid"))
        try:
            Money.of(0, self.currency)
        except ValueError:
            problems.append(
                Problem(("currency",), "unknown ISO 4217 currency", self.currency, "currency")
            )
        if problems:
            raise ConfigError("SampleConfig", problems)

    @classmethod
    def for_pipeline(cls, pipeline: StageSource, **kwargs: Any) -> SampleConfig:
        """A config whose stages are those of ``pipeline`` (its first won and lost stage)."""
        return cls(
            stage_ids=tuple(pipeline.open_stage_ids),
            won_stage=pipeline.won_stage_ids[0],
            lost_stage=pipeline.lost_stage_ids[0],
            pipeline_id=pipeline.id,
            **kwargs,
        )

    @property
    def origin(self) -> datetime:
        """``start`` with a fixed UTC offset: every generated instant is ``origin + seconds``."""
        return as_fixed_offset(self.start)

    @property
    def end(self) -> datetime:
        """The horizon: nothing happens at or after this instant."""
        return self.origin + timedelta(days=self.days)
