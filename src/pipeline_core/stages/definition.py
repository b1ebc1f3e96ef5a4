"""The pipeline definition: stages, transitions and guards, validated once when built.

A :class:`Pipeline` is an immutable value. Building one checks everything and raises
:class:`~pipeline_core.errors.ConfigError` listing *every* problem (duplicate ids, no won or lost
stage, unreachable stages, stages that cannot reach an end, edges to unknown stages, guards on
unknown fields, probabilities out of range, exits from final stages when reopening is off ...).
At build time it also precomputes the edge table and compiled guard list of every edge, so a move
is a couple of dictionary look-ups and the guard calls.

Per-opportunity state is not held here: it is the stored
:class:`~pipeline_core.records.Opportunity` (its ``stage`` and ``version``); :meth:`Pipeline.move`
is a pure function from one version to the next.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeAlias

import attrs
import pydantic
from pydantic import ConfigDict, Field, WithJsonSchema

from pipeline_core._currencies import MINOR_UNITS
from pipeline_core._jsonvalue import check_definition
from pipeline_core._model import problems_from_pydantic
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.ids import IdFactory, UuidIds
from pipeline_core.records import Role
from pipeline_core.stages import machine as _machine
from pipeline_core.stages.guards import (
    Check,
    Condition,
    Guard,
    GuardTest,
    compile_guard,
    describe_guard,
    guard_field_problems,
)

if TYPE_CHECKING:
    from pipeline_core.records import Opportunity

__all__ = [
    "FORECAST_CATEGORIES",
    "ForecastCategory",
    "Pipeline",
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

_STAGE_ID: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
_ID: Final = re.compile(r"^\S{1,128}$")


class StageKind(StrEnum):
    """Whether a stage is still open, or an end: won or lost."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


@attrs.frozen
class StageAction:
    """A standard action (SOP step) of a stage, with its time limit.

    ``within`` is counted from the moment the opportunity entered the stage (``None``: no limit);
    ``business_time`` says whether it counts working time of a business calendar (the SLA engine
    decides which calendar) or plain elapsed time.
    """

    id: str
    label: str
    within: timedelta | None = None
    business_time: bool = False
    label_zh: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``within`` as ISO 8601 duration, e.g. ``"PT48H"``)."""
        out: dict[str, Any] = {"id": self.id, "label": self.label}
        if self.label_zh is not None:
            out["label_zh"] = self.label_zh
        if self.within is not None:
            out["within"] = _TIMEDELTA.dump_python(self.within, mode="json")
        if self.business_time:
            out["business_time"] = True
        return out


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


@attrs.frozen
class Stage:
    """One stage of a pipeline.

    ``probability`` is the default win probability of a deal at this stage (0-1; defaults: open
    0.1, won 1.0, lost 0.0); ``forecast_category`` one of :data:`FORECAST_CATEGORIES` (defaults:
    open ``pipeline``, won ``closed``, lost ``omitted``); ``role`` the role responsible for deals at
    this stage; ``actions`` its SOP with time limits; ``required_fields`` the opportunity fields that
    must be present to *enter* it (e.g. ``("expected_amount",)`` before a quote); ``rotting_days``
    how many days without a move make a deal here stale.
    """

    id: str
    label: str
    label_zh: str | None = None
    kind: StageKind = attrs.field(default=StageKind.OPEN, converter=_to_kind)
    probability: float = attrs.field()
    forecast_category: str = attrs.field()
    role: Role | None = attrs.field(default=None, converter=_to_role)
    actions: tuple[StageAction, ...] = attrs.field(default=(), converter=_to_actions)
    required_fields: tuple[str, ...] = attrs.field(default=(), converter=_to_names)
    rotting_days: int | None = None

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
        """Plain data, leaving out defaults."""
        out: dict[str, Any] = {"id": self.id, "label": self.label}
        if self.label_zh is not None:
            out["label_zh"] = self.label_zh
        out["kind"] = str(self.kind)
        out["probability"] = self.probability
        out["forecast_category"] = self.forecast_category
        if self.role is not None:
            out["role"] = str(self.role)
        if self.actions:
            out["actions"] = [a.to_dict() for a in self.actions]
        if self.required_fields:
            out["required_fields"] = list(self.required_fields)
        if self.rotting_days is not None:
            out["rotting_days"] = self.rotting_days
        return out


def _to_guards(value: Iterable[Guard]) -> tuple[Guard, ...]:
    if isinstance(value, Condition | Check) or callable(value):
        return (value,)
    return tuple(value)


@attrs.frozen
class Transition:
    """An explicit edge ``source -> target``, with guards that must all hold to take it."""

    source: str
    target: str
    guards: tuple[Guard, ...] = attrs.field(default=(), converter=_to_guards)

    def to_dict(self) -> dict[str, Any]:
        """Plain data ``{"from": ..., "to": ..., "guards": [...]}``; callables cannot be dumped."""
        out: dict[str, Any] = {"from": self.source, "to": self.target}
        if self.guards:
            out["guards"] = [
                _guard_to_dict(g, f"{self.source} -> {self.target}") for g in self.guards
            ]
        return out


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
    """

    forward: bool = True
    skip_forward: bool = False
    lose_from_open: bool = True
    win_from_open: bool = False
    regression: bool = False
    reopen: bool = False

    def to_dict(self) -> dict[str, bool]:
        """Plain data: every option by name."""
        return {
            "forward": self.forward,
            "skip_forward": self.skip_forward,
            "lose_from_open": self.lose_from_open,
            "win_from_open": self.win_from_open,
            "regression": self.regression,
            "reopen": self.reopen,
        }


def _guard_to_dict(guard: Guard, where: str) -> dict[str, Any]:
    if isinstance(guard, Condition):
        return guard.to_dict()
    raise ConfigError(
        "pipeline",
        [
            Problem(
                (where,),
                "a Python callable guard cannot be written as plain data; use a condition",
                describe_guard(guard),
                "not_serializable",
            )
        ],
    )


# --------------------------------------------------------------------------- compiled edges


class _Edge:
    """A precomputed edge: compiled guards, their names, and what entering the target changes."""

    __slots__ = (
        "checks",
        "closes",
        "kind",
        "opens_close",
        "probability",
        "reopens",
        "source",
        "target",
        "tests",
    )

    def __init__(
        self,
        source: Stage,
        target: Stage,
        tests: tuple[GuardTest, ...],
        checks: tuple[str, ...],
    ) -> None:
        self.source = source.id
        self.target = target.id
        self.tests = tests
        self.checks = checks
        self.probability = target.probability
        self.kind = target.kind
        self.closes = target.kind is not StageKind.OPEN
        self.reopens = source.kind is not StageKind.OPEN and target.kind is StageKind.OPEN
        # an open -> closed move: the first entry into a closed stage, which sets closed_at
        self.opens_close = source.kind is StageKind.OPEN and self.closes


# --------------------------------------------------------------------------- plain-data schema


def _no_bool_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    if isinstance(value, str):  # pydantic would read "0.5" (and "nan"): a number is not text
        raise ValueError("expected a number, not text")
    return value


_Prob = Annotated[
    float,
    pydantic.BeforeValidator(_no_bool_number),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1}),
]
_StageIdSchema = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": _STAGE_ID.pattern, "maxLength": 64})
]


class _Spec(pydantic.BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConditionSpec(_Spec):
    """A guard condition in plain data."""

    field: str = Field(min_length=1)
    op: Literal["present", "absent", "eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"] = "present"
    # a dict is a money threshold: {"amount": "10000", "currency": "CNY"}
    value: str | int | float | bool | dict[str, str] | list[str | int | float | bool] | None = None
    message: str | None = None


class ActionSpec(_Spec):
    """A stage action (SOP step) in plain data; ``within`` is an ISO 8601 duration or seconds."""

    id: str
    label: str
    label_zh: str | None = None
    within: timedelta | None = None
    business_time: bool = False


class StageSpec(_Spec):
    """A stage in plain data."""

    id: _StageIdSchema
    label: str
    label_zh: str | None = None
    kind: StageKind = StageKind.OPEN
    probability: _Prob | None = None
    forecast_category: Literal["pipeline", "best_case", "commit", "closed", "omitted"] | None = None
    role: Role | None = None
    actions: list[ActionSpec] = []
    required_fields: list[str] = []
    rotting_days: Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1})] | None = None


class TransitionSpec(_Spec):
    """An explicit transition in plain data."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: str = Field(alias="from")
    target: str = Field(alias="to")
    guards: list[ConditionSpec] = []


class RulesSpec(_Spec):
    """Transition options in plain data."""

    forward: bool = True
    skip_forward: bool = False
    lose_from_open: bool = True
    win_from_open: bool = False
    regression: bool = False
    reopen: bool = False


class PipelineSpec(_Spec):
    """A whole pipeline in plain data (what a JSON or YAML file holds)."""

    id: _StageIdSchema
    name: str
    name_zh: str | None = None
    start: str | None = None
    stages: list[StageSpec]
    transitions: list[TransitionSpec] = []
    rules: RulesSpec = RulesSpec()
    entry_guards: dict[str, list[ConditionSpec]] = {}
    currency: str | None = Field(default=None, min_length=3, max_length=3)


_TIMEDELTA: Final = pydantic.TypeAdapter(timedelta)
_SPEC: Final = pydantic.TypeAdapter(PipelineSpec)


def _to_stages(value: Iterable[Stage]) -> tuple[Stage, ...]:
    return tuple(value)


def _to_transitions(value: Iterable[Transition]) -> tuple[Transition, ...]:
    return tuple(value)


def _to_entry_guards(
    value: Mapping[str, Iterable[Guard]],
) -> tuple[tuple[str, tuple[Guard, ...]], ...]:
    if isinstance(value, tuple):
        return value
    return tuple((k, _to_guards(v)) for k, v in value.items())


# --------------------------------------------------------------------------- the pipeline


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

    id: str
    name: str
    stages: tuple[Stage, ...] = attrs.field(converter=_to_stages)
    transitions: tuple[Transition, ...] = attrs.field(
        default=(), converter=_to_transitions, kw_only=True
    )
    rules: TransitionRules = attrs.field(factory=TransitionRules, kw_only=True)
    entry_guards: tuple[tuple[str, tuple[Guard, ...]], ...] = attrs.field(
        default=(), converter=_to_entry_guards, kw_only=True
    )
    start: str | None = attrs.field(default=None, kw_only=True)
    name_zh: str | None = attrs.field(default=None, kw_only=True)
    currency: str | None = attrs.field(default=None, kw_only=True)
    ids: IdFactory = attrs.field(factory=UuidIds, kw_only=True, repr=False)

    _by_id: dict[str, Stage] = attrs.field(init=False, repr=False)
    _rank: dict[str, int] = attrs.field(init=False, repr=False)
    _table: dict[str, dict[str, _Edge]] = attrs.field(init=False, repr=False)
    _first: Stage = attrs.field(init=False, repr=False)
    _entry: dict[str, tuple[tuple[GuardTest, ...], tuple[str, ...]]] = attrs.field(
        init=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        problems = _validate(self)
        if problems:
            raise ConfigError(f"pipeline {self.id!r}", problems)
        setter = object.__setattr__
        by_id = {s.id: s for s in self.stages}
        setter(self, "_by_id", by_id)
        setter(self, "_first", by_id[self.start] if self.start else self._open()[0])
        rank: dict[str, int] = {}
        opens = self._open()
        for i, s in enumerate(opens):
            rank[s.id] = i
        for s in self.stages:
            if s.kind is StageKind.WON:
                rank[s.id] = len(opens)
            elif s.kind is StageKind.LOST:
                rank[s.id] = -1
        setter(self, "_rank", rank)
        setter(self, "_table", _compile_edges(self, by_id))
        entry = dict(self.entry_guards)
        compiled: dict[str, tuple[tuple[GuardTest, ...], tuple[str, ...]]] = {}
        for s in self.stages:
            guards: list[Guard] = [Condition(f, "present") for f in s.required_fields]
            guards.extend(entry.get(s.id, ()))
            compiled[s.id] = (
                tuple(compile_guard(g, currency=self.currency) for g in guards),
                tuple(describe_guard(g) for g in guards),
            )
        setter(self, "_entry", compiled)

    def _open(self) -> list[Stage]:
        return [s for s in self.stages if s.kind is StageKind.OPEN]

    # -- look-ups -------------------------------------------------------------------------------

    def stage(self, stage_id: str) -> Stage:
        """The stage with this id; :class:`~pipeline_core.errors.NotFoundError` if there is none."""
        try:
            return self._by_id[stage_id]
        except KeyError:
            from pipeline_core.errors import NotFoundError

            raise NotFoundError("stage", stage_id) from None

    def __contains__(self, stage_id: object) -> bool:
        return stage_id in self._by_id

    @property
    def first(self) -> Stage:
        """The start stage: where a converted lead's opportunity begins."""
        return self._first

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
            return self._rank[stage_id]
        except KeyError:
            from pipeline_core.errors import NotFoundError

            raise NotFoundError("stage", stage_id) from None

    def targets(self, stage_id: str) -> tuple[str, ...]:
        """The stages reachable from ``stage_id`` in one move (guards not evaluated)."""
        self.stage(stage_id)
        return tuple(self._table.get(stage_id, {}))

    @property
    def edges(self) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """Every edge as ``(source, target, guard names)``, explicit and generated, in stage order."""
        return tuple(
            (e.source, e.target, e.checks) for row in self._table.values() for e in row.values()
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
        tests, _ = self._entry[self.stage(stage_id).id]
        return tuple(m for m in (t(opportunity) for t in tests) if m is not None)

    def entry_checks(self, stage_id: str) -> tuple[str, ...]:
        """The names of the conditions checked to enter ``stage_id`` directly."""
        return self._entry[self.stage(stage_id).id][1]

    def available(self, opportunity: Opportunity) -> tuple[str, ...]:
        """The stages ``opportunity`` may move to now (all guards hold)."""
        return tuple(
            t for t in self._table.get(opportunity.stage, {}) if not self.unmet(opportunity, t)
        )

    # -- plain data -------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, ids: IdFactory | None = None) -> Pipeline:
        """Build from plain data (parsed JSON or YAML); :class:`ConfigError` lists every problem
        (data nested deeper than 64 levels is refused first, naming the key)."""
        check_definition(data, "pipeline")
        try:
            spec = _SPEC.validate_python(data)
        except pydantic.ValidationError as exc:
            raise ConfigError("pipeline", problems_from_pydantic(exc)) from None
        return cls._from_spec(spec, ids=ids)

    @classmethod
    def _from_spec(cls, spec: PipelineSpec, *, ids: IdFactory | None) -> Pipeline:
        stages = []
        for s in spec.stages:
            kw: dict[str, Any] = {}
            if s.probability is not None:
                kw["probability"] = s.probability
            if s.forecast_category is not None:
                kw["forecast_category"] = s.forecast_category
            stages.append(
                Stage(
                    s.id,
                    s.label,
                    s.label_zh,
                    kind=s.kind,
                    role=s.role,
                    actions=tuple(
                        StageAction(a.id, a.label, a.within, a.business_time, a.label_zh)
                        for a in s.actions
                    ),
                    required_fields=tuple(s.required_fields),
                    rotting_days=s.rotting_days,
                    **kw,
                )
            )
        transitions = [
            Transition(t.source, t.target, tuple(_cond(c) for c in t.guards))
            for t in spec.transitions
        ]
        extra: dict[str, Any] = {} if ids is None else {"ids": ids}
        return cls(
            spec.id,
            spec.name,
            stages,
            transitions=transitions,
            rules=TransitionRules(**spec.rules.model_dump()),
            entry_guards={k: tuple(_cond(c) for c in v) for k, v in spec.entry_guards.items()},
            start=spec.start,
            name_zh=spec.name_zh,
            currency=spec.currency,
            **extra,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` reads back to an equal pipeline.

        Raises :class:`ConfigError` if a guard is a Python callable (it has no plain-data form).
        """
        out: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.name_zh is not None:
            out["name_zh"] = self.name_zh
        if self.start is not None:
            out["start"] = self.start
        if self.currency is not None:
            out["currency"] = self.currency
        out["stages"] = [s.to_dict() for s in self.stages]
        if self.transitions:
            out["transitions"] = [t.to_dict() for t in self.transitions]
        out["rules"] = self.rules.to_dict()
        if self.entry_guards:
            out["entry_guards"] = {
                k: [_guard_to_dict(g, f"entry_guards.{k}") for g in v] for k, v in self.entry_guards
            }
        return out

    @staticmethod
    def json_schema() -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of a pipeline's plain-data form."""
        return _SPEC.json_schema(by_alias=True)

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


def _cond(spec: ConditionSpec) -> Condition:
    return Condition.from_dict(spec.model_dump())


# --------------------------------------------------------------------------- validation


def _raw_edges(p: Pipeline) -> list[tuple[str, str]]:
    """Generated edges from the rules, in a stable order (explicit ones are added separately)."""
    opens = [s.id for s in p.stages if s.kind is StageKind.OPEN]
    won = [s.id for s in p.stages if s.kind is StageKind.WON]
    lost = [s.id for s in p.stages if s.kind is StageKind.LOST]
    r = p.rules
    out: list[tuple[str, str]] = []
    for i, s in enumerate(opens):
        if r.regression:
            out.extend((s, t) for t in opens[:i])
        if r.skip_forward:
            out.extend((s, t) for t in opens[i + 1 :])
        elif r.forward and i + 1 < len(opens):
            out.append((s, opens[i + 1]))
        if r.skip_forward or r.win_from_open or (r.forward and i == len(opens) - 1):
            out.extend((s, t) for t in won)
        if r.lose_from_open:
            out.extend((s, t) for t in lost)
    if r.reopen:
        out.extend((s, t) for s in lost for t in opens)
    return out


def _all_edges(p: Pipeline) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = dict.fromkeys(_raw_edges(p))
    for t in p.transitions:
        seen.setdefault((t.source, t.target), None)
    order = {s.id: i for i, s in enumerate(p.stages)}
    return sorted(seen, key=lambda e: (order.get(e[0], 1 << 30), order.get(e[1], 1 << 30)))


def _validate(p: Pipeline) -> list[Problem]:
    problems: list[Problem] = []
    add = problems.append
    if not isinstance(p.id, str) or not _STAGE_ID.match(p.id):
        add(
            Problem(
                ("id",), "a pipeline id is 1-64 letters, digits, '_', '-' or '.'", p.id, "bad_id"
            )
        )
    if not isinstance(p.name, str) or not p.name.strip():
        add(Problem(("name",), "a pipeline needs a name", p.name, "empty"))
    if not isinstance(p.rules, TransitionRules):
        add(Problem(("rules",), "expected TransitionRules", p.rules, "rules_type"))
        return problems
    known = _opportunity_fields()
    ids: dict[str, int] = {}
    for i, s in enumerate(p.stages):
        if not isinstance(s, Stage):
            add(Problem(("stages", i), "expected a Stage", s, "stage_type"))
            continue
        path: tuple[str | int, ...] = ("stages", i)
        if not isinstance(s.id, str) or not _STAGE_ID.match(s.id):
            add(
                Problem(
                    (*path, "id"),
                    "a stage id is 1-64 letters, digits, '_', '-' or '.', starting with a letter, digit or '_'",
                    s.id,
                    "bad_id",
                )
            )
        elif s.id in ids:
            add(
                Problem(
                    (*path, "id"),
                    f"duplicate stage id (also stages[{ids[s.id]}])",
                    s.id,
                    "duplicate_id",
                )
            )
        else:
            ids[s.id] = i
        if not isinstance(s.label, str) or not s.label.strip():
            add(Problem((*path, "label"), "a stage needs a label", s.label, "empty"))
        if not isinstance(s.kind, StageKind):
            add(Problem((*path, "kind"), "expected 'open', 'won' or 'lost'", s.kind, "bad_kind"))
        prob = s.probability
        if (
            isinstance(prob, bool)
            or not isinstance(prob, int | float)
            or not (0.0 <= float(prob) <= 1.0)
        ):
            add(
                Problem(
                    (*path, "probability"),
                    "a probability is a number from 0 to 1",
                    prob,
                    "probability_range",
                )
            )
        if s.forecast_category not in FORECAST_CATEGORIES:
            add(
                Problem(
                    (*path, "forecast_category"),
                    f"expected one of {', '.join(FORECAST_CATEGORIES)}",
                    s.forecast_category,
                    "bad_forecast_category",
                )
            )
        if s.role is not None and not isinstance(s.role, Role):
            add(
                Problem(
                    (*path, "role"),
                    f"unknown role: expected one of {', '.join(r.value for r in Role)}",
                    s.role,
                    "bad_role",
                )
            )
        if s.rotting_days is not None and (
            isinstance(s.rotting_days, bool)
            or not isinstance(s.rotting_days, int)
            or s.rotting_days < 1
        ):
            add(
                Problem(
                    (*path, "rotting_days"),
                    "a whole number of days, at least 1",
                    s.rotting_days,
                    "bad_days",
                )
            )
        action_ids: set[str] = set()
        for j, a in enumerate(s.actions):
            apath = (*path, "actions", j)
            if not isinstance(a, StageAction):
                add(Problem(apath, "expected a StageAction", a, "action_type"))
                continue
            if not isinstance(a.id, str) or not _ID.match(a.id):
                add(
                    Problem(
                        (*apath, "id"), "an action id is 1-128 non-space characters", a.id, "bad_id"
                    )
                )
            elif a.id in action_ids:
                add(
                    Problem(
                        (*apath, "id"), "duplicate action id in this stage", a.id, "duplicate_id"
                    )
                )
            else:
                action_ids.add(a.id)
            if not isinstance(a.label, str) or not a.label.strip():
                add(Problem((*apath, "label"), "an action needs a label", a.label, "empty"))
            if a.within is not None and (
                not isinstance(a.within, timedelta) or a.within <= timedelta(0)
            ):
                add(
                    Problem(
                        (*apath, "within"),
                        "a time limit is a positive timedelta",
                        a.within,
                        "bad_duration",
                    )
                )
        for j, f in enumerate(s.required_fields):
            for prob_ in guard_field_problems(
                Condition(f, "present"), (*path, "required_fields", j), known=known
            ):
                add(attrs.evolve(prob_, path=(*path, "required_fields", j)))

    if p.currency is not None and p.currency not in MINOR_UNITS:
        add(Problem(("currency",), "not an ISO 4217 currency code", p.currency, "currency"))
    stage_kinds = {s.id: s.kind for s in p.stages if isinstance(s, Stage)}
    opens = [k for k, v in stage_kinds.items() if v is StageKind.OPEN]
    if not p.stages:
        add(Problem(("stages",), "a pipeline needs stages", [], "no_stages"))
        return problems
    if not opens:
        add(Problem(("stages",), "a pipeline needs at least one open stage", None, "no_open_stage"))
    if StageKind.WON not in stage_kinds.values():
        add(Problem(("stages",), "a pipeline needs a won stage (kind 'won')", None, "no_won_stage"))
    if StageKind.LOST not in stage_kinds.values():
        add(
            Problem(
                ("stages",), "a pipeline needs a lost stage (kind 'lost')", None, "no_lost_stage"
            )
        )

    start = p.start
    if start is not None:
        if start not in stage_kinds:
            add(Problem(("start",), "unknown stage", start, "unknown_stage"))
            start = None
        elif stage_kinds[start] is not StageKind.OPEN:
            add(
                Problem(
                    ("start",), "the start stage must be an open stage", start, "start_not_open"
                )
            )
            start = None
    elif opens:
        start = opens[0]

    # explicit transitions
    seen_pairs: dict[tuple[str, str], int] = {}
    for i, t in enumerate(p.transitions):
        path = ("transitions", i)
        if not isinstance(t, Transition):
            add(Problem(path, "expected a Transition", t, "transition_type"))
            continue
        bad = False
        for end, name in ((t.source, "from"), (t.target, "to")):
            if end not in stage_kinds:
                add(
                    Problem((*path, name), "edge to or from an unknown stage", end, "unknown_stage")
                )
                bad = True
        if bad:
            continue
        if t.source == t.target:
            add(Problem(path, "a stage cannot move to itself", t.source, "self_loop"))
        if (t.source, t.target) in seen_pairs:
            add(
                Problem(
                    path,
                    f"duplicate transition (also transitions[{seen_pairs[(t.source, t.target)]}])",
                    f"{t.source} -> {t.target}",
                    "duplicate_transition",
                )
            )
        seen_pairs[(t.source, t.target)] = i
        if stage_kinds[t.source] is not StageKind.OPEN and not p.rules.reopen:
            add(
                Problem(
                    path,
                    f"stage {t.source!r} is an end ({stage_kinds[t.source]}); moves out of it need rules.reopen",
                    f"{t.source} -> {t.target}",
                    "exit_from_final",
                )
            )
        for j, g in enumerate(t.guards):
            problems.extend(
                guard_field_problems(g, (*path, "guards", j), known=known, currency=p.currency)
            )
    for key, guards in p.entry_guards:
        if key not in stage_kinds:
            add(Problem(("entry_guards", key), "guards for an unknown stage", key, "unknown_stage"))
        for j, g in enumerate(guards):
            problems.extend(
                guard_field_problems(g, ("entry_guards", key, j), known=known, currency=p.currency)
            )

    # reachability: forward from the start, backward from the ends
    adjacency: dict[str, list[str]] = {k: [] for k in stage_kinds}
    reverse: dict[str, list[str]] = {k: [] for k in stage_kinds}
    for src, dst in _all_edges(p):
        if src in stage_kinds and dst in stage_kinds and src != dst:
            if stage_kinds[src] is not StageKind.OPEN and not p.rules.reopen:
                continue
            adjacency[src].append(dst)
            reverse[dst].append(src)
    if start is not None:
        reached = _closure([start], adjacency)
        for i, s in enumerate(p.stages):
            if (
                isinstance(s, Stage)
                and s.id in stage_kinds
                and s.id not in reached
                and ids.get(s.id) == i
            ):
                add(
                    Problem(
                        ("stages", i, "id"),
                        f"stage cannot be reached from the start stage {start!r}",
                        s.id,
                        "unreachable",
                    )
                )
    ends = [k for k, v in stage_kinds.items() if v is not StageKind.OPEN]
    if ends:
        can_end = _closure(ends, reverse)
        for i, s in enumerate(p.stages):
            if (
                isinstance(s, Stage)
                and s.id in stage_kinds
                and s.id not in can_end
                and ids.get(s.id) == i
            ):
                add(
                    Problem(
                        ("stages", i, "id"),
                        "stage cannot reach a won or lost stage (a trap)",
                        s.id,
                        "trap",
                    )
                )
    return problems


def _closure(starts: Sequence[str], graph: Mapping[str, Sequence[str]]) -> set[str]:
    seen = set(starts)
    todo = list(starts)
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _opportunity_fields() -> frozenset[str]:
    """The names a guard or a required field may use (every Opportunity field)."""
    from pipeline_core.records import Opportunity

    return Opportunity.__pc_names__


def _compile_edges(p: Pipeline, by_id: Mapping[str, Stage]) -> dict[str, dict[str, _Edge]]:
    explicit: dict[tuple[str, str], tuple[Guard, ...]] = {}
    for t in p.transitions:
        explicit[(t.source, t.target)] = explicit.get((t.source, t.target), ()) + t.guards
    entry = dict(p.entry_guards)
    table: dict[str, dict[str, _Edge]] = {s.id: {} for s in p.stages}
    for a, b in _all_edges(p):
        target = by_id[b]
        guards: list[Guard] = [Condition(f, "present") for f in target.required_fields]
        guards.extend(entry.get(b, ()))
        guards.extend(explicit.get((a, b), ()))
        tests = tuple(compile_guard(g, currency=p.currency) for g in guards)
        names = tuple(describe_guard(g) for g in guards)
        table[a][b] = _Edge(by_id[a], target, tests, names)
    return table
