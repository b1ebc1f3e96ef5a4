"""The parts of an SLA policy, declared once: triggers, targets, steps, conditions, rules, risk rules.

Values a :class:`~pipeline_core.sla.policy.Policy` is made of, each an immutable ``attrs`` class
whose plain form (``from_dict``/``to_dict``/``json_schema``) is derived by
:mod:`pipeline_core._definition`. Durations are ISO 8601 strings in plain data (``"PT3H"``,
``"-PT1H"``). What a pipeline must offer the SLA (:class:`PipelineLike`) is declared here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, Protocol, runtime_checkable

import attrs
import pydantic

from pipeline_core._definition import definition, plain

__all__ = [  # the policy parts the package exports; the other names serve the sla modules
    "Conditions",
    "Recipient",
    "RiskLevel",
    "RiskRule",
    "RiskSignal",
    "Rule",
    "Step",
    "StepAction",
    "Target",
    "TimeBasis",
    "Trigger",
    "obligation_of",
]

GRADES: Final = ("A", "B", "C")
"""The grades of :mod:`pipeline_core.scoring` (A: 80-100, B: 50-80, C: 0-50, half-open)."""


class Trigger(StrEnum):
    """What starts an SLA clock."""

    CREATED = "created"
    """The record was created (a lead entered, an opportunity was opened)."""
    STAGE_ENTERED = "stage_entered"
    """The record entered its current stage."""
    GRADE_ASSIGNED = "grade_assigned"
    """The record's grade was assigned or changed."""
    ACTIVITY_LOGGED = "activity_logged"
    """The last follow-up activity (no clock before the first one)."""
    LAST_CONTACT = "last_contact"
    """The last contact, or the creation if there was none yet."""
    WON = "won"
    """The deal was won (after-sale rules)."""
    CONTRACT_END = "contract_end"
    """The contract ends (the deadline *is* the end; steps with negative offsets remind before)."""


class Target(StrEnum):
    """What stops an SLA clock (the thing that must happen in time)."""

    FIRST_TOUCH = "first_touch"
    """Any first follow-up activity."""
    FIRST_CALL = "first_call"
    """The first phone call."""
    CONTACT = "contact"
    """A contact after the clock started (next contact, revisit)."""
    REPLY = "reply"
    """A reply from the customer after the clock started."""
    STAGE_EXIT = "stage_exit"
    """Leaving the stage (measured when the next state shows another stage)."""
    ACTION = "action"
    """A named action done (``Rule.action``: e.g. ``"needs_analysis"``, ``"survey"``, a stage SOP
    action id), as recorded in the state's ``actions``."""


class TimeBasis(StrEnum):
    """How a duration is counted."""

    BUSINESS = "business"
    """Working time of the business calendar."""
    CALENDAR = "calendar"
    """Elapsed wall time (``timedelta``)."""


class StepAction(StrEnum):
    """One link of an escalation chain."""

    REMIND = "remind"
    BREACH = "breach"
    ESCALATE = "escalate"
    REASSIGN = "reassign"


class Recipient(StrEnum):
    """Who an item goes to."""

    OWNER = "owner"
    MANAGER = "manager"


class RiskSignal(StrEnum):
    """Risk signals of ``domain.md`` §5."""

    UNANSWERED_STREAK = "unanswered_streak"
    """Consecutive contacts the customer did not answer (a count)."""
    OBJECTIONS = "objections"
    """Objections raised (a count)."""
    NEEDS_CHANGES = "needs_changes"
    """Times the needs changed (a count)."""
    PLAN_DELAYED = "plan_delayed"
    """Days the plan confirmation is overdue (calendar days)."""


class RiskLevel(StrEnum):
    """Risk levels, low to high."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


LEVEL_ORDER: Final = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2}
"""The rank of each risk level (higher is worse)."""


@runtime_checkable
class StageActionLike(Protocol):
    """What the SLA needs of a stage's standard action (``pipeline_core.stages.StageAction``)."""

    @property
    def id(self) -> str:
        """The action id."""
        ...

    @property
    def within(self) -> timedelta | None:
        """The time limit from stage entry, or ``None``."""
        ...

    @property
    def business_time(self) -> bool:
        """Whether ``within`` counts business time."""
        ...


@runtime_checkable
class StageLike(Protocol):
    """What the SLA needs of a stage: its id and its standard actions."""

    @property
    def id(self) -> str:
        """The stage id."""
        ...

    @property
    def actions(self) -> Sequence[StageActionLike]:
        """The stage's standard actions."""
        ...


@runtime_checkable
class PipelineLike(Protocol):
    """What the SLA needs of a pipeline (``pipeline_core.stages.Pipeline``): its stages."""

    @property
    def stages(self) -> Sequence[StageLike]:
        """The stages, in order."""
        ...


# --------------------------------------------------------------------------- values


ID_TEXT: Final = Annotated[
    str, pydantic.StringConstraints(min_length=1, max_length=128, pattern=r"^\S+$")
]
"""A rule id or user id in plain data: 1-128 characters, no white space."""
DUMP_ALWAYS: Final = plain(dump="always")
"""Field metadata: the field is always written in the plain form (defaults too)."""


def _names(schema: Any = list[str]) -> Any:
    """A set of names: a sorted list in plain data, left out when empty."""
    return attrs.field(
        default=frozenset(), metadata=plain(schema=schema, encode=sorted, decode=frozenset)
    )


@definition("Step")
@attrs.frozen
class Step:
    """One link of an escalation chain: do ``action`` for ``to`` at ``offset`` from the deadline.

    ``offset`` is counted on the rule's time basis: ``-PT1H`` on a business rule is one working
    hour before the deadline.
    """

    action: StepAction = attrs.field(metadata=DUMP_ALWAYS)
    offset: timedelta = attrs.field(default=timedelta(0), metadata=DUMP_ALWAYS)
    to: Recipient = attrs.field(default=Recipient.OWNER, metadata=DUMP_ALWAYS)

    @property
    def name(self) -> str:
        """A stable name used in item ids, e.g. ``"remind-3600"``."""
        return f"{self.action.value}{int(self.offset.total_seconds()):+d}"


@definition("Conditions")
@attrs.frozen
class Conditions:
    """When a rule applies. Empty sets mean "any". ``tags_none``: none of these tags present;
    ``stages_none``: not in any of these stages (set by :meth:`Policy.with_pipeline` on a policy
    rule whose obligation a stage's SOP rule takes over in those stages)."""

    kinds: frozenset[str] = _names(list[Literal["lead", "opportunity", "account"]])
    grades: frozenset[str] = _names()
    stages: frozenset[str] = _names()
    stages_none: frozenset[str] = _names()
    sources: frozenset[str] = _names()
    tags_any: frozenset[str] = _names()
    tags_none: frozenset[str] = _names()
    owner_roles: frozenset[str] = _names()

    @property
    def dynamic(self) -> bool:
        """Whether the conditions look at more than kind, stage and grade."""
        return bool(self.sources or self.tags_any or self.tags_none or self.owner_roles)


DEFAULT_STEPS: Final = (Step(StepAction.BREACH),)
"""The steps of a rule that names none: the breach at the deadline."""


Titles = tuple[tuple[str, str], ...]
"""Titles by language as sorted ``(language, title)`` pairs (hashable; given as a mapping)."""


def _titles(value: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> Titles:
    items = value.items() if isinstance(value, Mapping) else (value or ())
    return tuple(sorted((str(k), str(v)) for k, v in items))


_TITLES: Final = plain(schema=dict[str, str], dump="always", encode=dict, decode=_titles)


@definition("Rule")
@attrs.frozen(kw_only=True)
class Rule:
    """A deadline or cadence rule.

    The clock starts at ``trigger`` and stops when ``target`` happens. The deadline is ``within``
    after the start, counted on ``basis``; with ``roll_to_business`` a calendar-time deadline that
    falls outside working hours moves to the next opening. ``steps`` say what fires relative to the
    deadline (reminders before, the breach at it, escalations after). With a ``recurrence``
    (RFC 5545 RRULE text such as ``"FREQ=DAILY;INTERVAL=3"``, ``"FREQ=WEEKLY"``,
    ``"FREQ=MONTHLY;INTERVAL=3"``) the rule is a cadence instead: a reminder at each occurrence
    after the start unless the target happened since that occurrence. While a pause whose reason is
    in ``pause_on`` holds, the clock stops (elapsed - paused, as Salesforce milestones do).
    ``while_open``: the clock only runs while the record is open (closing ends it as an omission).
    """

    id: str = attrs.field(metadata=plain(schema=ID_TEXT, dump="always"))
    trigger: Trigger = attrs.field(metadata=DUMP_ALWAYS)
    target: Target = attrs.field(metadata=DUMP_ALWAYS)
    within: timedelta = attrs.field(default=timedelta(0), metadata=DUMP_ALWAYS)
    basis: TimeBasis = attrs.field(default=TimeBasis.CALENDAR, metadata=DUMP_ALWAYS)
    roll_to_business: bool = attrs.field(default=False, metadata=DUMP_ALWAYS)
    action: str | None = attrs.field(default=None, metadata=DUMP_ALWAYS)
    recurrence: str | None = attrs.field(default=None, metadata=DUMP_ALWAYS)
    conditions: Conditions = attrs.field(default=Conditions(), metadata=DUMP_ALWAYS)
    pause_on: frozenset[str] = attrs.field(
        default=frozenset(),
        metadata=plain(schema=list[str], dump="always", encode=sorted, decode=frozenset),
    )
    steps: tuple[Step, ...] = attrs.field(default=DEFAULT_STEPS, metadata=DUMP_ALWAYS)
    while_open: bool = attrs.field(default=True, metadata=DUMP_ALWAYS)
    label: str = attrs.field(default="", metadata=DUMP_ALWAYS)
    titles: Titles = attrs.field(default=(), converter=_titles, metadata=_TITLES)
    """Short titles a person reads, by language (``{"zh": "首次触达", "en": "First touch"}``);
    see :meth:`title`."""
    obligation: str | None = attrs.field(default=None, metadata=DUMP_ALWAYS)
    """The id its items and outcomes carry when it is not its own: a stage SOP rule merged with a
    policy rule reports as that policy rule (one obligation, one id, whichever stage the deal is
    in; see :meth:`Policy.with_pipeline`). ``None``: its own ``id``."""
    step_basis: TimeBasis | None = attrs.field(default=None, metadata=DUMP_ALWAYS)
    """The basis of the steps' offsets when it is not the rule's (``None``: the rule's). A stage
    limit in business time merged with a calendar-time policy rule keeps the policy's steps in
    calendar time, rolled into working time ("escalate 1 day after" is the next day, not 24
    working hours later; see :meth:`Policy.with_pipeline`)."""

    def title(self, lang: str = "en") -> str:
        """The title in ``lang`` (see :func:`title_of`)."""
        return title_of(self, lang)


@definition("RiskRule")
@attrs.frozen(kw_only=True)
class RiskRule:
    """A risk signal with thresholds per level (counts, or overdue days for ``plan_delayed``).

    The flag carries the highest level reached; at ``escalate_from`` or above an
    :class:`~pipeline_core.sla.engine.Escalation` to the manager is raised too.
    """

    id: str = attrs.field(metadata=plain(schema=ID_TEXT, dump="always"))
    signal: RiskSignal = attrs.field(metadata=DUMP_ALWAYS)
    thresholds: Mapping[RiskLevel, float] = attrs.field(
        metadata=plain(schema=dict[RiskLevel, float], dump="always", decode=dict)
    )
    conditions: Conditions = attrs.field(default=Conditions(), metadata=DUMP_ALWAYS)
    escalate_from: RiskLevel | None = attrs.field(default=RiskLevel.HIGH, metadata=DUMP_ALWAYS)
    label: str = attrs.field(default="", metadata=DUMP_ALWAYS)
    titles: Titles = attrs.field(default=(), converter=_titles, metadata=_TITLES)
    """Short titles a person reads, by language; see :meth:`title`."""

    def title(self, lang: str = "en") -> str:
        """The title in ``lang`` (see :func:`title_of`)."""
        return title_of(self, lang)


def action_titles(action: Any) -> Titles:
    """A stage action's labels as rule titles (``label`` in English, ``label_zh`` in Chinese)."""
    found = {"en": getattr(action, "label", None), "zh": getattr(action, "label_zh", None)}
    return _titles({k: v for k, v in found.items() if isinstance(v, str) and v})


def title_of(rule: Rule | RiskRule, lang: str = "en") -> str:
    """The title of ``rule`` a person reads in ``lang``: the title for ``lang`` (``"zh-CN"``
    falls back to ``"zh"``), else the English title, else the rule's ``label``, else its ``id``.

    >>> from pipeline_core.sla import default_policy
    >>> rule = next(r for r in default_policy().rules if r.id == "lead.first_touch")
    >>> rule.title("zh-CN"), rule.title("en")
    ('首次触达', 'First touch')
    """
    titles = dict(rule.titles)
    for key in (lang, lang.split("-")[0].lower(), "en"):
        if titles.get(key):
            return titles[key]
    return rule.label or rule.id


def obligation_of(rule: Rule) -> str | None:
    """The obligation a deadline rule stands for, as an action name: ``rule.action`` when it is
    set (the action of an ``action`` target, or the action a rule on a contact or a reply stands
    for: the default ``opportunity.revisit`` is ``weekly_revisit``, ``reply.3d`` is
    ``chase_reply``), ``"first_call"`` and ``"first_touch"`` for those targets, else ``None``.
    A stage SOP action with that id is the same obligation (see :meth:`Policy.with_pipeline`)."""
    if rule.action:
        return rule.action
    if rule.target is Target.FIRST_CALL:
        return "first_call"
    if rule.target is Target.FIRST_TOUCH:
        return "first_touch"
    return None
