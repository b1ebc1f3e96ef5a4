"""The SLA policy: a validated set of rules and risk rules with its calendar, and SOP merging.

Its parts (rules with a trigger, a target, a duration, a recurrence, conditions, pause conditions
and an escalation chain; risk rules with levels) are declared in :mod:`pipeline_core.sla.rules`.

A :class:`Policy` is built once and validated completely (:class:`~pipeline_core.errors.ConfigError`
lists every problem: unknown stage or grade, negative duration, a recurrence with no future
occurrence, a timezone that does not exist, ...). It loads from and dumps to plain data
(:meth:`Policy.from_dict`, :meth:`Policy.to_dict`) and publishes its JSON Schema
(:meth:`Policy.json_schema`). Durations are ISO 8601 strings (``"PT3H"``, ``"P7D"``, ``"-PT1H"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Annotated, Any, Final

import attrs
import pydantic

from pipeline_core._definition import (
    Check,
    definition,
    from_plain,
    plain,
    raise_problems,
    schema_of,
)
from pipeline_core._deprecation import moved
from pipeline_core._jsonvalue import check_definition
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.sla.calendar import BusinessCalendar
from pipeline_core.sla.recurrence import RRULE_REFERENCE, parse_recurrence
from pipeline_core.sla.rules import (
    DUMP_ALWAYS,
    GRADES,
    ID_TEXT,
    Conditions,
    PipelineLike,
    Recipient,
    RiskRule,
    Rule,
    Step,
    StepAction,
    Target,
    TimeBasis,
    Trigger,
    action_titles,
    obligation_of,
)

__all__ = ["Policy", "check_fallback_recipient", "rule_problems"]

# the policy parts this module listed before they were declared once in pipeline_core.sla.rules
__getattr__ = moved(
    __name__,
    {
        name: f"pipeline_core.sla.rules:{name}"
        for name in ("LEVEL_ORDER", "RiskLevel", "RiskSignal", "title_of")
    },
)

# --------------------------------------------------------------------------- the policy


def _calendar_of(data: Mapping[str, Any] | None) -> BusinessCalendar:
    """A policy's calendar from plain data (``None``: the default calendar)."""
    return BusinessCalendar() if data is None else BusinessCalendar.from_dict(data)


_CHECKING: Final[ContextVar[tuple[frozenset[str] | None, datetime | None]]] = ContextVar(
    "pipeline_core.sla.policy.checking", default=(None, None)
)
"""The stage ids and ``as_of`` the checks of a policy being built by :meth:`Policy.from_dict`
use (``(None, None)`` when built directly)."""


def _stage_ids(stages: PipelineLike | Iterable[str] | None) -> frozenset[str] | None:
    if stages is None:
        return None
    if isinstance(stages, PipelineLike):
        return frozenset(s.id for s in stages.stages)
    return frozenset(stages)


@definition("Policy")
@attrs.frozen(kw_only=True)
class Policy:
    """A validated set of SLA rules and risk rules, with its business calendar.

    Build with :meth:`from_dict` (plain data) or directly; either way it is validated when it is
    constructed, with every problem listed in one :class:`~pipeline_core.errors.ConfigError`
    (duplicate rule ids, negative durations, bad recurrences, unknown grades, ...).
    :meth:`validate` with ``stages`` (a pipeline or stage ids) also rejects unknown stage ids.

    ``fallback_recipient``: who receives an item addressed to the manager when the owner has no
    manager (the next link of the escalation chain: manager, then this id). When neither exists
    the item has ``recipient_id=None`` and says so (``unrouted=True``); evaluation goes on.
    """

    id: str = attrs.field(
        metadata=plain(
            schema=Annotated[str, pydantic.StringConstraints(min_length=1, max_length=128)],
            dump="always",
        )
    )
    name: str = attrs.field(default="", metadata=DUMP_ALWAYS)
    rules: tuple[Rule, ...] = attrs.field(default=(), metadata=DUMP_ALWAYS)
    risks: tuple[RiskRule, ...] = attrs.field(default=(), metadata=DUMP_ALWAYS)
    calendar: BusinessCalendar = attrs.field(
        factory=BusinessCalendar,
        metadata=plain(
            schema=dict[str, Any] | None,
            dump="always",
            encode=BusinessCalendar.to_dict,
            decode=_calendar_of,
        ),
    )
    grades: tuple[str, ...] = attrs.field(default=GRADES, metadata=DUMP_ALWAYS)
    fallback_recipient: str | None = attrs.field(
        default=None, metadata=plain(schema=ID_TEXT | None, dump="always")
    )

    def __attrs_post_init__(self) -> None:
        stages, as_of = _CHECKING.get()
        raise_problems("Policy", self, _checks(stages, as_of))

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        stages: PipelineLike | Iterable[str] | None = None,
        as_of: datetime | None = None,
    ) -> Policy:
        """Validate plain data and build the policy; :class:`ConfigError` lists every problem
        (the calendar's, the rules' and, with ``stages``, unknown stage ids) at once.

        ``as_of`` is the instant after which a recurrence must still have an occurrence (default
        2000-01-01 UTC, which catches ``COUNT=0`` and an ``UNTIL`` in the distant past).
        """
        check_definition(data, "Policy")
        rest = dict(data) if isinstance(data, Mapping) else data
        raw_calendar = rest.pop("calendar", None) if isinstance(rest, dict) else None
        problems: list[Problem] = []
        calendar = BusinessCalendar()
        if raw_calendar is not None:
            try:
                calendar = _calendar_of(raw_calendar)
            except ConfigError as exc:
                problems += [attrs.evolve(p, path=("calendar", *p.path)) for p in exc.problems]
        token = _CHECKING.set((_stage_ids(stages), as_of))
        try:
            policy = from_plain(cls, rest)
        except ConfigError as exc:
            problems += exc.problems
        finally:
            _CHECKING.reset(token)
        if problems:
            raise ConfigError("Policy", problems)
        return policy if raw_calendar is None else attrs.evolve(policy, calendar=calendar)

    def validate(
        self, *, stages: PipelineLike | Iterable[str] | None = None, as_of: datetime | None = None
    ) -> Policy:
        """Check the policy (see :meth:`from_dict`); return it, or raise :class:`ConfigError`."""
        raise_problems("Policy", self, _checks(_stage_ids(stages), as_of))
        return self

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of a policy's plain-data form."""
        schema = schema_of(cls)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = "SlaPolicy"
        schema.setdefault("properties", {})["calendar"] = {
            "anyOf": [BusinessCalendar.json_schema(), {"type": "null"}]
        }
        return schema

    def with_rules(self, *rules: Rule) -> Policy:
        """A copy with ``rules`` added (validated when built: :class:`ConfigError` lists every
        problem)."""
        return attrs.evolve(self, rules=self.rules + rules)

    def with_pipeline(self, pipeline: PipelineLike, *, remind_before: float = 0.25) -> Policy:
        """A copy with one obligation per stage SOP action that has a time limit (``within``).

        Each such rule (id ``sop.<stage>.<action>``) starts when the opportunity enters the stage
        and ends when the action is done (:func:`obligation_of` says which target that is).

        **One obligation per action.** When a policy rule is the same obligation (same
        :func:`obligation_of`, e.g. the default ``opportunity.first_call`` and a stage's
        ``first_call``) and applies to opportunities in that stage, the two merge: in that stage
        the stage's rule replaces the policy rule (the policy rule gets the stage in
        ``conditions.stages_none``), with **the stage's deadline** (trigger: stage entry, its
        ``within`` and time basis) and the policy rule's target, steps, pauses and
        ``roll_to_business`` (the steps' offsets keep the policy rule's basis, ``step_basis``:
        with a stage limit in business time, the policy's "escalate 1 day after" is the next
        day, rolled into working time, not 24 working hours); an obligation that re-arms at every contact (the policy rule's
        trigger is ``last_contact`` or ``activity_logged``: a revisit, a chase) keeps the
        policy's trigger, so the stage gives its limit and basis. It reports under the policy
        rule's id (``Rule.obligation``: one
        obligation, one id, so a deal created in the stage gets the same items before and after
        it leaves). Elsewhere the policy rule applies as before. Without such a policy
        rule the stage rule reminds the owner ``remind_before`` of the limit before the
        deadline, breaches at it, and escalates to the manager half the limit after; a limit in
        calendar time is ``roll_to_business`` (every item lands in working time, as the default
        policy's day-scale rules).

        Raises :class:`ConfigError` when a stage action and a policy rule are the same obligation
        but cannot merge: the policy rule is a recurrence (a cadence, not a deadline), it has
        conditions beyond kind and stage (grades, sources, tags, owner roles: in that stage some
        opportunities would lose the obligation), or several policy rules claim the action.
        """
        added: list[Rule] = []
        merged: dict[str, list[Rule]] = {}  # policy rule id -> its stage variants (kept next to it)
        problems: list[Problem] = []
        rules = list(self.rules)
        existing = {r.id for r in self.rules}
        for stage in pipeline.stages:
            for action in stage.actions:
                if action.within is None or action.within <= timedelta(0):
                    continue
                rule_id = f"sop.{stage.id}.{action.id}"
                if rule_id in existing:
                    continue
                basis = TimeBasis.BUSINESS if action.business_time else TimeBasis.CALENDAR
                conditions = Conditions(
                    kinds=frozenset({"opportunity"}), stages=frozenset({stage.id})
                )
                same = [
                    i
                    for i, r in enumerate(rules)
                    if obligation_of(r) == action.id
                    and not r.id.startswith("sop.")
                    and _applies_in_stage(r.conditions, stage.id)
                ]
                if not same:
                    added.append(
                        Rule(
                            id=rule_id,
                            trigger=Trigger.STAGE_ENTERED,
                            target=Target.ACTION,
                            action=action.id,
                            within=action.within,
                            basis=basis,
                            # a limit of days is ours to meet in working time, like the
                            # default policy's day-scale rules: rolled, so nothing is due on
                            # a Sunday or at 22:00
                            roll_to_business=basis is TimeBasis.CALENDAR,
                            conditions=conditions,
                            pause_on=frozenset({"waiting_on_customer"}),
                            steps=(
                                Step(StepAction.REMIND, -action.within * remind_before),
                                Step(StepAction.BREACH),
                                Step(StepAction.ESCALATE, action.within / 2, Recipient.MANAGER),
                            ),
                            label=f"stage {stage.id}: {action.id}",
                            titles=action_titles(action),
                        )
                    )
                    continue
                why = _why_not_merge([rules[i] for i in same])
                if why:
                    problems.append(
                        Problem(
                            ("stages", stage.id, "actions", action.id),
                            f"the stage action and policy rule(s) "
                            f"{', '.join(rules[i].id for i in same)} are one obligation but "
                            f"cannot merge: {why}",
                            action.id,
                            "cannot_merge",
                        )
                    )
                    continue
                policy_rule = rules[same[0]]
                rules[same[0]] = attrs.evolve(
                    policy_rule,
                    conditions=attrs.evolve(
                        policy_rule.conditions,
                        stages_none=policy_rule.conditions.stages_none | {stage.id},
                    ),
                )
                merged.setdefault(policy_rule.id, []).append(
                    attrs.evolve(
                        policy_rule,
                        id=rule_id,
                        # a revisit or a chase re-arms at every contact: its clock keeps the
                        # policy's trigger (a week after the last contact, whichever stage)
                        trigger=policy_rule.trigger
                        if policy_rule.trigger in _REARMING
                        else Trigger.STAGE_ENTERED,
                        within=action.within,
                        basis=basis,
                        conditions=conditions,
                        label=f"stage {stage.id}: {action.id} (merged with {policy_rule.id})",
                        obligation=policy_rule.obligation or policy_rule.id,
                        # the policy's step offsets keep their basis ("1 day after" is a day)
                        step_basis=policy_rule.step_basis or policy_rule.basis
                        if (policy_rule.step_basis or policy_rule.basis) is not basis
                        else None,
                    )
                )
        if problems:
            raise ConfigError("Policy", problems)
        ordered = [x for r in rules for x in (r, *merged.get(r.id, ()))]
        return attrs.evolve(self, rules=(*ordered, *added)).validate(stages=pipeline)


_REARMING: Final = frozenset({Trigger.LAST_CONTACT, Trigger.ACTIVITY_LOGGED})


def _applies_in_stage(c: Conditions, stage: str) -> bool:
    if c.kinds and "opportunity" not in c.kinds:
        return False
    if c.stages and stage not in c.stages:
        return False
    return stage not in c.stages_none


def _why_not_merge(rules: Sequence[Rule]) -> str:
    if len(rules) > 1:
        return "several policy rules claim it"
    rule = rules[0]
    if rule.recurrence is not None:
        return "the policy rule is a recurrence (a cadence), the stage action a deadline"
    c = rule.conditions
    if c.grades or c.dynamic:
        return (
            "the policy rule has conditions on grades, sources, tags or owner roles, so some "
            "opportunities of the stage would lose the obligation"
        )
    return ""


def _checks(stages: frozenset[str] | None, as_of: datetime | None) -> tuple[Check, ...]:
    """The named checks of a policy: its rules and risks (with the pipeline's ``stages`` and the
    instant ``as_of`` after which a recurrence must occur), and its fallback recipient."""

    def check_rules_and_risks(policy: Policy) -> list[Problem]:
        return rule_problems(policy.rules, policy.risks, policy.grades, stages, as_of)

    return (check_rules_and_risks, check_fallback_recipient)


def check_fallback_recipient(policy: Policy) -> Iterable[Problem]:
    """A fallback recipient is a user id (1-128 characters, no white space) or ``None``: the
    rule of the plain form's schema, for a policy built directly too."""
    fallback = policy.fallback_recipient
    if fallback is not None and (
        not isinstance(fallback, str)
        or not 1 <= len(fallback) <= 128
        or any(c.isspace() for c in fallback)
    ):
        yield Problem(
            ("fallback_recipient",),
            "expected a user id (1-128 characters, no white space) or None",
            fallback,
            "fallback_recipient",
        )


def rule_problems(
    rules: Sequence[Rule],
    risks: Sequence[RiskRule],
    grades: Sequence[str],
    stages: frozenset[str] | None,
    as_of: datetime | None,
) -> list[Problem]:
    """The problems of a policy's rules and risk rules: duplicate ids (rules and risks share
    one id space), negative durations, an action target without its action, a deadline without
    steps, a recurrence on business time or without an occurrence after ``as_of`` or not an
    RRULE, thresholds missing or negative, unknown grades and (with ``stages``) unknown stages."""
    problems: list[Problem] = []
    known_grades = set(grades)
    seen: set[str] = set()
    reference = as_of or RRULE_REFERENCE

    def check_conditions(path: tuple[str | int, ...], c: Conditions) -> None:
        for g in sorted(c.grades - known_grades):
            problems.append(
                Problem(
                    (*path, "conditions", "grades"),
                    f"unknown grade; expected one of {', '.join(grades)}",
                    g,
                    "unknown_grade",
                )
            )
        if stages is not None:
            for field in ("stages", "stages_none"):
                for s in sorted(getattr(c, field) - stages):
                    problems.append(
                        Problem(
                            (*path, "conditions", field),
                            "unknown stage of the pipeline",
                            s,
                            "unknown_stage",
                        )
                    )

    for i, rule in enumerate(rules):
        path: tuple[str | int, ...] = ("rules", i)
        if rule.id in seen:
            problems.append(Problem((*path, "id"), "duplicate rule id", rule.id, "duplicate"))
        seen.add(rule.id)
        if rule.within < timedelta(0):
            problems.append(
                Problem(
                    (*path, "within"),
                    "a duration cannot be negative",
                    rule.within,
                    "negative_duration",
                )
            )
        if rule.target is Target.ACTION and not rule.action:
            problems.append(
                Problem(
                    (*path, "action"),
                    "target 'action' needs the action's name",
                    rule.action,
                    "missing_action",
                )
            )
        if (
            rule.trigger is Trigger.STAGE_ENTERED
            and not rule.conditions.stages
            and rule.target is Target.STAGE_EXIT
        ):
            pass  # any stage: allowed (time in any stage)
        if not rule.steps and rule.recurrence is None:
            problems.append(
                Problem((*path, "steps"), "a deadline rule needs at least one step", [], "no_steps")
            )
        if rule.recurrence is not None and (
            rule.roll_to_business or rule.basis is TimeBasis.BUSINESS
        ):
            problems.append(
                Problem(
                    (*path, "recurrence"),
                    "a recurrence falls on its occurrences (calendar time): basis 'business' and "
                    "roll_to_business do not apply to it; use BYDAY/BYHOUR to name working days",
                    rule.recurrence,
                    "recurrence_basis",
                )
            )
        if rule.recurrence is not None:
            try:
                r = parse_recurrence(rule.recurrence, reference)
                if r.after(reference, inc=False) is None:
                    problems.append(
                        Problem(
                            (*path, "recurrence"),
                            f"has no occurrence after {reference.isoformat()}",
                            rule.recurrence,
                            "no_occurrence",
                        )
                    )
            except (ValueError, TypeError) as exc:
                problems.append(
                    Problem(
                        (*path, "recurrence"),
                        f"not a valid RRULE: {exc}",
                        rule.recurrence,
                        "recurrence",
                    )
                )
        check_conditions(path, rule.conditions)
    for i, risk in enumerate(risks):
        path = ("risks", i)
        if risk.id in seen:
            problems.append(Problem((*path, "id"), "duplicate rule id", risk.id, "duplicate"))
        seen.add(risk.id)
        if not risk.thresholds:
            problems.append(
                Problem((*path, "thresholds"), "needs at least one level", {}, "no_thresholds")
            )
        for level, value in risk.thresholds.items():
            if value < 0 or value != value:
                problems.append(
                    Problem(
                        (*path, "thresholds", level.value),
                        "must be >= 0",
                        value,
                        "negative_threshold",
                    )
                )
        check_conditions(path, risk.conditions)
    return problems
