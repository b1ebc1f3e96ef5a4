"""The value classes of a pipeline definition: stage kinds, stages, their actions, edges and rules.

Each is declared once, as an immutable ``attrs`` class registered with
:func:`pipeline_core._definition.definition`: its plain-data form (``from_dict`` / ``to_dict``)
and JSON Schema are derived from the declaration. They are not checked on their own: a
:class:`~pipeline_core.stages.definition.Pipeline` checks every value it holds when it is built
(:mod:`pipeline_core.stages.checks`), so a problem is reported with its place in the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, TypeAlias

import attrs
import pydantic
from pydantic import WithJsonSchema

from pipeline_core._definition import definition, plain, to_plain
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.records import Role
from pipeline_core.stages.guards import Check, Condition, EntryGuard, describe_guard

__all__ = [
    "FORECAST_CATEGORIES",
    "STAGE_ID",
    "ForecastCategory",
    "Stage",
    "StageAction",
    "StageKind",
    "Transition",
    "TransitionRules",
]

ForecastCategory: TypeAlias = Literal["pipeline", "best_case", "commit", "closed", "omitted"]
"""Forecast categories (Salesforce's names): where a deal at this stage counts in a forecast."""

FORECAST_CATEGORIES: Final[tuple[str, ...]] = (
    "pipeline",
    "best_case",
    "commit",
    "closed",
    "omitted",
)

STAGE_ID: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
"""What a stage (and pipeline) id is: 1-64 letters, digits, ``_``, ``-`` or ``.``, not starting
with ``-`` or ``.``."""


class StageKind(StrEnum):
    """Whether a stage is still open, or an end: won or lost."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


# --------------------------------------------------------------------------- plain-form schemas


def _no_bool_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    if isinstance(value, str):  # pydantic would read "0.5" (and "nan"): a number is not text
        raise ValueError("expected a number, not text")
    return value


_Probability = Annotated[
    float,
    pydantic.BeforeValidator(_no_bool_number),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1}),
]
StageIdSchema = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": STAGE_ID.pattern, "maxLength": 64})
]
"""The plain-form schema of a stage or pipeline id (checked by :data:`STAGE_ID` when built)."""
_Days = Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1})]


def _or_default(value: Any) -> Any:
    """A plain ``null`` means "the default of the stage's kind"."""
    return attrs.NOTHING if value is None else value


# --------------------------------------------------------------------------- the values


@definition("stage action")
@attrs.frozen
class StageAction:
    """A standard action (SOP step) of a stage, with its time limit.

    ``within`` is counted from the moment the opportunity entered the stage (``None``: no limit;
    plain form: an ISO 8601 duration such as ``"PT48H"``, or seconds); ``business_time`` says
    whether it counts working time of a business calendar (the SLA engine decides which
    calendar) or plain elapsed time.
    """

    id: str
    label: str
    within: timedelta | None = None
    business_time: bool = False
    label_zh: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``within`` as ISO 8601 duration, e.g. ``"PT48H"``), defaults left out."""
        return to_plain(self)


_DEFAULT_PROBABILITY: Final = {StageKind.OPEN: 0.1, StageKind.WON: 1.0, StageKind.LOST: 0.0}
_DEFAULT_FORECAST: Final = {
    StageKind.OPEN: "pipeline",
    StageKind.WON: "closed",
    StageKind.LOST: "omitted",
}


def _to_kind(value: StageKind | str) -> StageKind | str:
    try:
        return StageKind(value)
    except ValueError:
        return value  # reported when the pipeline is built


def _to_role(value: Role | str | None) -> Role | str | None:
    if value is None:
        return None
    try:
        return Role(value)
    except ValueError:
        return value  # reported when the pipeline is built


def _to_actions(value: Iterable[StageAction]) -> tuple[StageAction, ...]:
    return tuple(value)


def _to_names(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@definition("stage")
@attrs.frozen
class Stage:
    """One stage of a pipeline.

    ``probability`` is the default win probability of a deal at this stage (0-1; defaults: open
    0.1, won 1.0, lost 0.0); ``forecast_category`` one of :data:`FORECAST_CATEGORIES` (defaults:
    open ``pipeline``, won ``closed``, lost ``omitted``); ``role`` the role responsible for deals at
    this stage; ``actions`` its SOP with time limits; ``required_fields`` the opportunity fields that
    must be present to *enter* it (e.g. ``("expected_amount",)`` before a quote); ``rotting_days``
    how many days without a move make a deal here stale. The plain form always writes ``kind``,
    ``probability`` and ``forecast_category``.
    """

    id: str = attrs.field(metadata=plain(schema=StageIdSchema))
    label: str
    label_zh: str | None = None
    kind: StageKind = attrs.field(
        default=StageKind.OPEN, converter=_to_kind, metadata=plain(dump="always")
    )
    probability: float = attrs.field(
        metadata=plain(schema=_Probability | None, dump="always", decode=_or_default)
    )
    forecast_category: str = attrs.field(
        metadata=plain(schema=ForecastCategory | None, dump="always", decode=_or_default)
    )
    role: Role | None = attrs.field(default=None, converter=_to_role)
    actions: tuple[StageAction, ...] = attrs.field(default=(), converter=_to_actions)
    required_fields: tuple[str, ...] = attrs.field(default=(), converter=_to_names)
    rotting_days: int | None = attrs.field(default=None, metadata=plain(schema=_Days | None))

    @probability.default
    def _probability_default(self) -> float:
        return _DEFAULT_PROBABILITY.get(self.kind, 0.0)

    @forecast_category.default
    def _forecast_default(self) -> str:
        return _DEFAULT_FORECAST.get(self.kind, "pipeline")

    @property
    def is_open(self) -> bool:
        """True for an open stage."""
        return self.kind is StageKind.OPEN

    @property
    def is_closed(self) -> bool:
        """True for a won or lost stage (an end)."""
        return self.kind is not StageKind.OPEN

    def to_dict(self) -> dict[str, Any]:
        """Plain data, leaving out defaults (``kind``, ``probability`` and
        ``forecast_category`` are always written)."""
        return to_plain(self)


def to_guards(value: Iterable[EntryGuard] | EntryGuard) -> tuple[EntryGuard, ...]:
    """One guard or several as a tuple (the converter of every guard list of a pipeline)."""
    if isinstance(value, Condition | Check) or callable(value):
        return (value,)
    return tuple(value)


NOT_SERIALIZABLE: Final = "a Python callable guard cannot be written as plain data; use a condition"
"""Why a callable guard has no plain form."""


def guards_plain(guards: Iterable[EntryGuard]) -> list[dict[str, Any]]:
    """The plain form of a guard list; :class:`ConfigError` (``not_serializable``) naming every
    guard that is a Python callable (it has no plain form: use a :class:`Condition`)."""
    guards = tuple(guards)
    problems = [
        Problem((i,), NOT_SERIALIZABLE, describe_guard(g), "not_serializable")
        for i, g in enumerate(guards)
        if not isinstance(g, Condition)
    ]
    if problems:
        raise ConfigError("guards", problems)
    return [to_plain(g) for g in guards]


@definition("transition")
@attrs.frozen
class Transition:
    """An explicit edge ``source -> target``, with guards that must all hold to take it.

    Plain form: ``{"from": ..., "to": ..., "guards": [condition, ...]}``; a callable guard has
    none (``to_dict`` raises :class:`ConfigError`).
    """

    source: str = attrs.field(metadata=plain(alias="from"))
    target: str = attrs.field(metadata=plain(alias="to"))
    guards: tuple[EntryGuard, ...] = attrs.field(
        default=(),
        converter=to_guards,
        metadata=plain(like=tuple[Condition, ...], encode=guards_plain),
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain data ``{"from": ..., "to": ..., "guards": [...]}``; callables cannot be dumped."""
        return to_plain(self)


_ALWAYS: Final = plain(dump="always")


@definition("transition rules")
@attrs.frozen
class TransitionRules:
    """Common shapes of transitions, switched on by options instead of listed edge by edge.

    - ``forward``: each open stage to the next one; the last open stage to every won stage.
    - ``skip_forward``: each open stage to every later open stage and to every won stage.
    - ``lose_from_open``: every open stage to every lost stage.
    - ``win_from_open``: every open stage to every won stage.
    - ``regression``: each open stage back to every earlier open stage.
    - ``reopen``: every lost stage back to every open stage; also allows explicit edges out of
      won and lost stages. Without it, ended opportunities stay ended.

    The plain form writes every option by name.
    """

    forward: bool = attrs.field(default=True, metadata=_ALWAYS)
    skip_forward: bool = attrs.field(default=False, metadata=_ALWAYS)
    lose_from_open: bool = attrs.field(default=True, metadata=_ALWAYS)
    win_from_open: bool = attrs.field(default=False, metadata=_ALWAYS)
    regression: bool = attrs.field(default=False, metadata=_ALWAYS)
    reopen: bool = attrs.field(default=False, metadata=_ALWAYS)

    def to_dict(self) -> dict[str, bool]:
        """Plain data: every option by name."""
        return to_plain(self)
