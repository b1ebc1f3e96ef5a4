"""The pipeline definition: an immutable :class:`Pipeline` of stages, transitions and guards.

A :class:`Pipeline` is an immutable value. Building one runs the named checks of
:mod:`pipeline_core.stages.checks` and raises :class:`~pipeline_core.errors.ConfigError` listing
*every* problem (duplicate ids, no won or lost stage, unreachable stages, stages that cannot reach
an end, edges to unknown stages, guards on unknown fields, probabilities out of range, exits from
final stages when reopening is off ...). It then compiles its edge table
(:mod:`pipeline_core.stages.compiled`), so a move is a couple of dictionary look-ups and the guard
calls. Its plain-data form and JSON Schema are derived from the declaration
(:mod:`pipeline_core._definition`); the value classes it holds live in
:mod:`pipeline_core.stages.values` (re-exported here).

Per-opportunity state is not held here: it is the stored
:class:`~pipeline_core.records.Opportunity` (its ``stage`` and ``version``); :meth:`Pipeline.move`
is a pure function from one version to the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import attrs
import pydantic

from pipeline_core._definition import (
    definition,
    from_plain,
    plain,
    raise_problems,
    schema_of,
    to_plain,
)
from pipeline_core._deprecation import moved
from pipeline_core.ids import IdFactory, UuidIds
from pipeline_core.stages import machine as _machine
from pipeline_core.stages.checks import CHECKS, check_plain
from pipeline_core.stages.compiled import Compiled, Edge, compile_pipeline
from pipeline_core.stages.guards import Condition, EntryGuard
from pipeline_core.stages.values import FORECAST_CATEGORIES as FORECAST_CATEGORIES
from pipeline_core.stages.values import ForecastCategory as ForecastCategory
from pipeline_core.stages.values import Stage as Stage
from pipeline_core.stages.values import StageAction as StageAction
from pipeline_core.stages.values import StageIdSchema, guards_plain, to_guards
from pipeline_core.stages.values import StageKind as StageKind
from pipeline_core.stages.values import Transition as Transition
from pipeline_core.stages.values import TransitionRules as TransitionRules

if TYPE_CHECKING:
    from pipeline_core.records import Opportunity

__all__ = ["Pipeline"]

__getattr__ = moved(
    __name__,
    {
        "ActionSpec": "pipeline_core.stages.values:StageAction",
        "ConditionSpec": "pipeline_core.stages.guards:Condition",
        "PipelineSpec": "pipeline_core.stages.definition:Pipeline",
        "RulesSpec": "pipeline_core.stages.values:TransitionRules",
        "StageSpec": "pipeline_core.stages.values:Stage",
        "TransitionSpec": "pipeline_core.stages.values:Transition",
    },
)
"""The pydantic ``*Spec`` twins are gone: the plain form is derived from the value classes."""


def _to_stages(value: Iterable[Stage]) -> tuple[Stage, ...]:
    return tuple(value)


def _to_transitions(value: Iterable[Transition]) -> tuple[Transition, ...]:
    return tuple(value)


def _to_entry_guards(
    value: Mapping[str, Iterable[EntryGuard]] | tuple[tuple[str, tuple[EntryGuard, ...]], ...],
) -> tuple[tuple[str, tuple[EntryGuard, ...]], ...]:
    if isinstance(value, tuple):
        return value
    return tuple((k, to_guards(v)) for k, v in value.items())


def _entry_guards_plain(
    value: tuple[tuple[str, tuple[EntryGuard, ...]], ...],
) -> dict[str, list[dict[str, Any]]]:
    return {k: guards_plain(v) for k, v in value}


# --------------------------------------------------------------------------- the pipeline


@definition("pipeline")
@attrs.frozen(eq=False)
class Pipeline:
    """An immutable, validated stage pipeline.

    >>> p = Pipeline(
    ...     id="simple", name="Simple",
    ...     stages=[Stage("new", "New"), Stage("quote", "Quote", required_fields=["expected_amount"]),
    ...             Stage("won", "Won", kind="won"), Stage("lost", "Lost", kind="lost")],
    ... )
    >>> p.open_stage_ids, p.first.id, p.rank("won"), p.rank("lost")
    (('new', 'quote'), 'new', 2, -1)

    ``stages`` are in funnel order. ``transitions`` are explicit edges (their guards add to those of
    generated edges); ``rules`` switch on the common shapes (see :class:`TransitionRules`);
    ``entry_guards`` maps a stage id to guards checked on *every* move into that stage (in addition
    to the stage's ``required_fields``). ``start`` is the first stage (default: the first open
    stage). ``ids`` makes event ids (default :class:`~pipeline_core.ids.UuidIds`); a move may pass
    its own. ``currency`` (ISO 4217) is the currency of bare money thresholds in guards
    (``expected_amount >= 10000`` in a CNY pipeline is ``>= 10000 CNY``: an amount in another
    currency never meets it).
    """

    id: str = attrs.field(metadata=plain(schema=StageIdSchema))
    name: str
    name_zh: str | None = attrs.field(default=None, kw_only=True)
    start: str | None = attrs.field(default=None, kw_only=True)
    currency: str | None = attrs.field(
        default=None,
        kw_only=True,
        metadata=plain(schema=Annotated[str, pydantic.Field(min_length=3, max_length=3)] | None),
    )
    stages: tuple[Stage, ...] = attrs.field(converter=_to_stages)
    transitions: tuple[Transition, ...] = attrs.field(
        default=(), converter=_to_transitions, kw_only=True
    )
    rules: TransitionRules = attrs.field(
        factory=TransitionRules, kw_only=True, metadata=plain(dump="always")
    )
    entry_guards: tuple[tuple[str, tuple[EntryGuard, ...]], ...] = attrs.field(
        default=(),
        converter=_to_entry_guards,
        kw_only=True,
        metadata=plain(like=dict[str, tuple[Condition, ...]], encode=_entry_guards_plain),
    )
    ids: IdFactory = attrs.field(
        factory=UuidIds, kw_only=True, repr=False, metadata=plain(dump="never")
    )

    _compiled: Compiled = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        raise_problems(f"pipeline {self.id!r}", self, CHECKS)
        object.__setattr__(self, "_compiled", compile_pipeline(self))

    # -- look-ups -------------------------------------------------------------------------------

    def stage(self, stage_id: str) -> Stage:
        """The stage with this id; :class:`~pipeline_core.errors.NotFoundError` if there is none."""
        try:
            return self._compiled.by_id[stage_id]
        except KeyError:
            from pipeline_core.errors import NotFoundError

            raise NotFoundError("stage", stage_id) from None

    def __contains__(self, stage_id: object) -> bool:
        return stage_id in self._compiled.by_id

    @property
    def first(self) -> Stage:
        """The start stage: where a converted lead's opportunity begins."""
        return self._compiled.first

    @property
    def stage_ids(self) -> tuple[str, ...]:
        """Every stage id, in funnel order."""
        return tuple(s.id for s in self.stages)

    @property
    def open_stage_ids(self) -> tuple[str, ...]:
        """The open stages' ids, in funnel order."""
        return tuple(s.id for s in self.stages if s.kind is StageKind.OPEN)

    @property
    def won_stage_ids(self) -> tuple[str, ...]:
        """The won stages' ids."""
        return tuple(s.id for s in self.stages if s.kind is StageKind.WON)

    @property
    def lost_stage_ids(self) -> tuple[str, ...]:
        """The lost stages' ids."""
        return tuple(s.id for s in self.stages if s.kind is StageKind.LOST)

    def rank(self, stage_id: str) -> int:
        """Funnel order: position among open stages; won stages after all open ones; lost ``-1``."""
        try:
            return self._compiled.rank[stage_id]
        except KeyError:
            from pipeline_core.errors import NotFoundError

            raise NotFoundError("stage", stage_id) from None

    def targets(self, stage_id: str) -> tuple[str, ...]:
        """The stages reachable from ``stage_id`` in one move (guards not evaluated)."""
        self.stage(stage_id)
        return tuple(self._compiled.table.get(stage_id, {}))

    def edge(self, source: str, target: str) -> Edge | None:
        """The compiled edge ``source -> target`` (its guards, their names, what entering the
        target changes), or ``None`` when there is no such move (an unknown stage included).
        A dictionary look-up: :func:`~pipeline_core.stages.machine.move` calls it on every move."""
        row = self._compiled.table.get(source)
        return None if row is None else row.get(target)

    @property
    def edges(self) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """Every edge as ``(source, target, guard names)``, explicit and generated, in stage order."""
        return tuple(
            (e.source, e.target, e.checks)
            for row in self._compiled.table.values()
            for e in row.values()
        )

    def is_final(self, stage_id: str) -> bool:
        """True if ``stage_id`` is a won or lost stage."""
        return self.stage(stage_id).is_closed

    # -- moves ----------------------------------------------------------------------------------

    move = _machine.move
    """Move an opportunity to another stage: see :func:`pipeline_core.stages.machine.move`.

    ``pipeline.move(opportunity, to, *, at, by, reason=None, ids=None)`` returns the new
    opportunity (version + 1) and the :class:`~pipeline_core.records.StageEvent` recording the
    move, or raises :class:`~pipeline_core.errors.TransitionError` naming every unmet condition.
    """

    def unmet(self, opportunity: Opportunity, to: str) -> tuple[str, ...]:
        """Every reason the move to ``to`` is not allowed now (empty when it is)."""
        from pipeline_core.stages.machine import unmet

        return unmet(self, opportunity, to)

    def entry_unmet(self, opportunity: Opportunity, stage_id: str) -> tuple[str, ...]:
        """What ``opportunity`` lacks to *enter* ``stage_id`` directly (its required fields and
        entry guards; edge guards are not included). Used when an opportunity is created at a
        stage rather than moved there."""
        tests, _ = self._compiled.entry[self.stage(stage_id).id]
        return tuple(m for m in (t(opportunity) for t in tests) if m is not None)

    def entry_checks(self, stage_id: str) -> tuple[str, ...]:
        """The names of the conditions checked to enter ``stage_id`` directly."""
        return self._compiled.entry[self.stage(stage_id).id][1]

    def available(self, opportunity: Opportunity) -> tuple[str, ...]:
        """The stages ``opportunity`` may move to now (all guards hold)."""
        return tuple(
            t
            for t in self._compiled.table.get(opportunity.stage, {})
            if not self.unmet(opportunity, t)
        )

    # -- plain data -------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, ids: IdFactory | None = None) -> Pipeline:
        """Build from plain data (parsed JSON or YAML); :class:`ConfigError` lists every problem
        (data nested deeper than 64 levels is refused first, naming the key). ``ids`` makes the
        pipeline's event ids (default :class:`~pipeline_core.ids.UuidIds`)."""
        return from_plain(cls, data, **({} if ids is None else {"ids": ids}))

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` reads back to an equal pipeline (``stages`` and
        ``rules`` always written, other defaults left out).

        Raises :class:`ConfigError` naming every guard that is a Python callable (it has no
        plain-data form).
        """
        raise_problems("pipeline", self, [check_plain])
        return to_plain(self)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of a pipeline's plain-data form."""
        return schema_of(cls)

    # -- equality: the definition, not the id factory ----------------------------------------------

    def _key(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.name,
            self.name_zh,
            self.start,
            self.stages,
            self.transitions,
            self.rules,
            self.entry_guards,
            self.currency,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pipeline):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.id, self.stages))

    # -- diagrams -------------------------------------------------------------------------------

    def to_mermaid(self) -> str:
        """A Mermaid ``stateDiagram-v2`` of the stages and every allowed move."""
        from pipeline_core.stages.diagram import to_mermaid

        return to_mermaid(self)

    def to_dot(self) -> str:
        """A Graphviz DOT digraph of the stages and every allowed move."""
        from pipeline_core.stages.diagram import to_dot

        return to_dot(self)
