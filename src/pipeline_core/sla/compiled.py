"""The compiled SLA policy and the one layout of a state's compact facts.

Every evaluation path reads a state through the same *compact facts* (:func:`compute_facts`, kept
on :attr:`SlaState.compact_facts <pipeline_core.sla.state.SlaState.compact_facts>`): a tuple whose
slots the ``F_*`` indices name, instants as integer µs since the epoch. A :class:`CompiledPolicy`
holds the policy's rules (:class:`CompiledRule`) and risk rules (:class:`CompiledRisk`) ready for
the hot path, and which of them a (kind, stage, grade) key selects. The engine
(:mod:`pipeline_core.sla.engine`), the column-wise batch (:mod:`pipeline_core.sla.batch`), the risk
signals (:mod:`pipeline_core.sla.risk`) and the agenda consume this module; it imports none of them.
"""

from __future__ import annotations

import functools
from bisect import bisect_left
from collections.abc import Callable, Sequence, Set
from typing import TYPE_CHECKING, Any, Final, Protocol
from zoneinfo import ZoneInfo

from pipeline_core.sla.calendar import BusinessCalendar
from pipeline_core.sla.instants import US, to_us
from pipeline_core.sla.items import FAST, Breach, Escalation, Item, Reminder
from pipeline_core.sla.policy import Policy
from pipeline_core.sla.recurrence import Recurrence
from pipeline_core.sla.rules import (
    LEVEL_ORDER,
    Conditions,
    Recipient,
    RiskRule,
    RiskSignal,
    Rule,
    StepAction,
    Target,
    TimeBasis,
    Trigger,
)

if TYPE_CHECKING:
    from pipeline_core.sla.state import SlaState

__all__ = [
    "CLOSED_PAUSE",
    "FACT_TIMES",
    "CompiledPolicy",
    "CompiledRisk",
    "CompiledRule",
    "Plan",
    "ScalarEvaluator",
    "action_done",
    "closed_spans",
    "compile_risk",
    "compute_facts",
    "matches",
    "out_of_closed",
    "pause_union",
    "static_match",
]

# --------------------------------------------------------------------------- the fact layout

FACT_TIMES: Final = (
    "created_at",
    "stage_entered_at",
    "grade_at",
    "first_touch_at",
    "first_call_at",
    "last_contact_at",
    "last_reply_at",
    "won_at",
    "contract_end_at",
    "closed_at",
    "plan_due_at",
    "plan_confirmed_at",
    "last_objection_at",
    "last_needs_change_at",
)
"""The instants of a state, in the order of the first slots of its compact facts (µs or None)."""

F_CREATED: Final = 0
F_STAGE: Final = 1
F_GRADE: Final = 2
F_FIRST_TOUCH: Final = 3
F_FIRST_CALL: Final = 4
F_LAST_CONTACT: Final = 5
F_LAST_REPLY: Final = 6
F_WON: Final = 7
F_CONTRACT_END: Final = 8
F_CLOSED: Final = 9
F_PLAN_DUE: Final = 10
F_PLAN_CONFIRMED: Final = 11
F_LAST_OBJECTION: Final = 12
F_LAST_NEEDS: Final = 13
F_ACTIONS: Final = 14  # action -> sorted instants (µs) it was done
F_PAUSES: Final = 15  # (reason, start µs, end µs or None), closed periods as CLOSED_PAUSE
F_KEY: Final = 16  # (kind, stage, grade): what selects the rules
F_UNANSWERED: Final = 17  # the risk counts (never None) ...
F_OBJECTIONS: Final = 18
F_NEEDS_CHANGES: Final = 19
F_TZ: Final = 20  # the zone of the owner's day (None: the calendar's)
F_FIRST_COUNT: Final = F_UNANSWERED
"""From this slot on, the slots are counts or objects, not instants."""

CLOSED_PAUSE: Final = "__closed__"
"""The pause reason a closed period of :attr:`SlaState.closed_periods` has among the compact
facts' pauses: every rule that runs while the record is open pauses on it."""

_NO_PAUSES: tuple[tuple[str, int, int | None], ...] = ()
_NO_ACTION_TIMES: dict[str, tuple[int, ...]] = {}

TRIGGER_INDEX: Final = {
    Trigger.CREATED: F_CREATED,
    Trigger.STAGE_ENTERED: F_STAGE,
    Trigger.GRADE_ASSIGNED: F_GRADE,
    Trigger.ACTIVITY_LOGGED: F_LAST_CONTACT,
    Trigger.LAST_CONTACT: F_LAST_CONTACT,
    Trigger.WON: F_WON,
    Trigger.CONTRACT_END: F_CONTRACT_END,
}
"""The fact slot where each trigger starts a clock."""
TARGET_INDEX: Final = {
    Target.FIRST_TOUCH: F_FIRST_TOUCH,
    Target.FIRST_CALL: F_FIRST_CALL,
    Target.CONTACT: F_LAST_CONTACT,
    Target.REPLY: F_LAST_REPLY,
}
"""The fact slot that shows each target reached (actions and stage exits have none)."""

_KIND_OF_STEP: Final = {
    StepAction.REMIND: Reminder,
    StepAction.BREACH: Breach,
    StepAction.ESCALATE: Escalation,
    StepAction.REASSIGN: Escalation,
}


def compute_facts(state: SlaState) -> tuple[Any, ...]:
    """The compact facts of a state (the ``F_*`` slots): its instants (:data:`FACT_TIMES`) as
    integer µs since the epoch, then the actions, the pauses, the (kind, stage, grade) key, the
    three risk counts and the owner's zone. A state computes them once, when it is built; the
    engine, the batch and the risk signals read only these."""
    g = state.__getattribute__
    values: list[Any] = [None if (v := g(n)) is None else to_us(v) for n in FACT_TIMES]
    if state.actions or state.action_times:
        done: dict[str, set[int]] = {}
        for k, v in state.actions.items():
            done.setdefault(k, set()).add(to_us(v))
        for k, vs in state.action_times.items():
            done.setdefault(k, set()).update(to_us(v) for v in vs)
        values.append({k: tuple(sorted(v)) for k, v in done.items()})
    else:
        values.append(_NO_ACTION_TIMES)
    values.append(
        tuple(
            (p.reason, to_us(p.start), None if p.end is None else to_us(p.end))
            for p in state.pauses
        )
        + tuple((CLOSED_PAUSE, to_us(a), to_us(b)) for a, b in state.closed_periods)
        if state.pauses or state.closed_periods
        else _NO_PAUSES
    )
    # what selects the rules, and the risk counts (read column-wise by the batch evaluation)
    values.append((state.kind, state.stage, state.grade))
    values += (state.unanswered, state.objections, state.needs_changes)
    values.append(None if state.timezone is None else ZoneInfo(state.timezone))
    return tuple(values)


def pause_union(
    pauses: Sequence[tuple[str, int, int | None]], reasons: Set[str]
) -> list[tuple[int, int | None]]:
    """The pauses whose reason is in ``reasons`` as their union: disjoint (start, end) intervals
    in µs sorted by start, ``end`` ``None`` for an ongoing pause. Two pauses that overlap (waiting
    on the customer 11-13, on a vendor 12-14) stop a clock once, for 11-14."""
    out: list[tuple[int, int | None]] = []
    for _, a, b in sorted((p for p in pauses if p[0] in reasons), key=lambda p: p[1]):
        if out:
            last_a, last_b = out[-1]
            if last_b is None:
                break  # an ongoing pause covers everything after it
            if a <= last_b:
                out[-1] = (last_a, None if b is None else max(b, last_b))
                continue
        out.append((a, b))
    return out


def action_done(times: tuple[int, ...] | None, start: int) -> int | None:
    """The first instant (µs) at or after ``start`` at which an action was done, from the sorted
    instants a state keeps per action; ``None`` if it was not done since ``start``. A deadline on
    an action is met by its first doing after the clock started, not by the latest."""
    if not times:
        return None
    k = bisect_left(times, start)
    return times[k] if k < len(times) else None


def closed_spans(pauses: Sequence[tuple[str, int, int | None]]) -> list[tuple[int, int]]:
    """The closed periods among a state's compact pauses, as (close, reopen) µs, sorted."""
    return sorted((a, b) for reason, a, b in pauses if reason == CLOSED_PAUSE and b is not None)


def out_of_closed(fire: int, spans: Sequence[tuple[int, int]]) -> int:
    """``fire``, or the reopen instant when it falls inside a closed period (nothing is due
    while the record was closed)."""
    for a, b in spans:
        if a <= fire < b:
            fire = b
    return fire


# --------------------------------------------------------------------------- compiled rules


class CompiledRule:
    """A rule ready for the hot path: plain attributes, durations in µs, fact indices."""

    __slots__ = (
        "action",
        "business",
        "business_steps",
        "clamp",
        "closes",
        "dynamic",
        "from_created",
        "id",
        "pause_on",
        "recurrence",
        "roll",
        "rule",
        "steps",
        "strict",
        "target",
        "target_index",
        "target_text",
        "trigger_index",
        "within",
        "working",
    )

    def __init__(self, rule: Rule, calendar: BusinessCalendar) -> None:
        """Compile ``rule`` for ``calendar`` (whose zone a recurrence counts by default)."""
        self.rule = rule
        self.id = rule.obligation or rule.id  # the id items and outcomes carry
        self.trigger_index = TRIGGER_INDEX[rule.trigger]
        self.from_created = rule.trigger is Trigger.LAST_CONTACT
        # steps before the start fire at the start, except before a contract end (the point)
        self.clamp = rule.trigger is not Trigger.CONTRACT_END
        self.target = rule.target
        self.target_index = TARGET_INDEX.get(rule.target, -1)
        self.target_text = (
            rule.target.value if rule.target is not Target.ACTION else f"action:{rule.action}"[:64]
        )
        self.action = rule.action
        self.within = rule.within // US
        self.business = rule.basis is TimeBasis.BUSINESS
        # the steps' offsets count working time (a business rule whose steps keep calendar time,
        # Rule.step_basis, places them in calendar time rolled into working time)
        self.business_steps = self.business and rule.step_basis in (None, TimeBasis.BUSINESS)
        self.roll = rule.roll_to_business
        # every step lands in working time (business basis, or calendar time rolled)
        self.working = self.business or self.roll
        self.closes = rule.while_open
        # a rule that runs while the record is open stops while it was closed (a deal won, then
        # reopened): its closed periods are pauses of reason CLOSED_PAUSE
        self.pause_on = rule.pause_on | {CLOSED_PAUSE} if rule.while_open else rule.pause_on
        self.dynamic = rule.conditions.dynamic
        # a contact target is met by a contact strictly after the start (the start may be a contact)
        self.strict = rule.target is Target.CONTACT
        self.recurrence = (
            None if rule.recurrence is None else Recurrence(rule.recurrence, calendar.tz)
        )
        self.steps = tuple(
            (
                step.name,
                step.offset // US,
                step.to is Recipient.MANAGER,
                _KIND_OF_STEP[step.action],
                step.action is StepAction.REASSIGN,
                FAST[_KIND_OF_STEP[step.action]],
            )
            for step in sorted(rule.steps, key=lambda step: step.offset)
        )


class CompiledRisk:
    """A risk rule ready for the hot path: thresholds from the highest level down, the fact index
    of its count (:func:`pipeline_core.sla.risk.evaluate_risk` evaluates it)."""

    __slots__ = (
        "count_field",
        "count_index",
        "dynamic",
        "escalate_rank",
        "fallback",
        "id",
        "levels",
        "lowest",
        "rule",
        "signal",
        "tz",
    )

    def __init__(
        self, rule: RiskRule, fallback: str | None = None, tz: ZoneInfo | None = None
    ) -> None:
        """Compile ``rule`` (``fallback``: the policy's ``fallback_recipient``; ``tz``: the
        calendar's zone, whose local days a delayed plan counts unless the state names the
        owner's)."""
        self.rule = rule
        self.fallback = fallback
        self.tz = tz or ZoneInfo("UTC")  # the calendar's zone: whole days of a delayed plan
        self.id = rule.id
        self.signal = rule.signal
        self.dynamic = rule.conditions.dynamic
        # (threshold, level) from the highest level down
        self.levels = tuple(
            sorted(
                ((float(v), level) for level, v in rule.thresholds.items()),
                key=lambda x: -LEVEL_ORDER[x[1]],
            )
        )
        self.escalate_rank = None if rule.escalate_from is None else LEVEL_ORDER[rule.escalate_from]
        self.lowest = min((t for t, _ in self.levels), default=0.0)
        self.count_field = {
            RiskSignal.UNANSWERED_STREAK: "unanswered",
            RiskSignal.OBJECTIONS: "objections",
            RiskSignal.NEEDS_CHANGES: "needs_changes",
        }.get(rule.signal)
        self.count_index = {
            RiskSignal.UNANSWERED_STREAK: F_UNANSWERED,
            RiskSignal.OBJECTIONS: F_OBJECTIONS,
            RiskSignal.NEEDS_CHANGES: F_NEEDS_CHANGES,
        }.get(rule.signal, -1)


def compile_risk(
    rule: RiskRule, fallback: str | None = None, tz: ZoneInfo | None = None
) -> CompiledRisk:
    """Compile a risk rule for the engine (see :class:`CompiledRisk`)."""
    return CompiledRisk(rule, fallback, tz)


def matches(rule: Rule | RiskRule, state: SlaState) -> bool:
    """Whether ``state`` meets the per-record conditions of ``rule`` (sources, tags, owner
    roles); the kind, stage and grade conditions are checked where the rule is compiled."""
    c = rule.conditions
    if c.sources and state.source not in c.sources:
        return False
    if c.tags_any and not (c.tags_any & state.tags):
        return False
    if c.tags_none and (c.tags_none & state.tags):
        return False
    return not (c.owner_roles and state.owner_role not in c.owner_roles)


def static_match(conditions: Conditions, key: tuple[str, str | None, str | None]) -> bool:
    """Whether ``conditions`` can hold for a state keyed ``(kind, stage, grade)``, judged on
    the parts that do not change with time (kinds, stages, grades), once per key."""
    kind, stage, grade = key
    if conditions.kinds and kind not in conditions.kinds:
        return False
    if conditions.stages and stage not in conditions.stages:
        return False
    if conditions.stages_none and stage in conditions.stages_none:
        return False
    return not (conditions.grades and grade not in conditions.grades)


Plan = tuple[tuple[CompiledRule, ...], tuple[CompiledRisk, ...], bool]
"""The rules and risks a (kind, stage, grade) key selects, and whether some of them have
conditions on other fields (source, tags, owner role)."""


class CompiledPolicy:
    """A :class:`~pipeline_core.sla.policy.Policy` ready for evaluation: its rules and risk rules
    compiled in policy order, its calendar and fallback recipient, and which rules each
    (kind, stage, grade) key selects (:meth:`plan`, cached for the life of the instance)."""

    def __init__(self, policy: Policy) -> None:
        """Compile ``policy`` (already merged with a pipeline's SOP rules, if any)."""
        self.policy = policy
        self.calendar = policy.calendar
        self.fallback = policy.fallback_recipient
        self.rules = tuple(CompiledRule(r, self.calendar) for r in policy.rules)
        self.risks = tuple(compile_risk(r, self.fallback, self.calendar.tz) for r in policy.risks)
        self.pausing = any(r.pause_on for r in self.rules)
        """Whether some rule pauses (then a state with pauses needs the engine itself)."""
        self.plan: Callable[[tuple[str, str | None, str | None]], Plan] = functools.cache(
            self._make_plan
        )
        """``plan(key)``: the :data:`Plan` of a (kind, stage, grade) key (cached)."""
        self.rank: Callable[[str, str], int] = functools.cache(self._make_rank)
        """``rank(rule_id, step)``: where the engine puts such an item among a subject's items
        (rules in policy order, their steps in offset order, then risks; cached)."""

    def _make_plan(self, key: tuple[str, str | None, str | None]) -> Plan:
        rules = tuple(r for r in self.rules if static_match(r.rule.conditions, key))
        risks = tuple(r for r in self.risks if static_match(r.rule.conditions, key))
        dynamic = any(r.dynamic for r in rules) or any(r.dynamic for r in risks)
        return rules, risks, dynamic

    def applicable(
        self, state: SlaState
    ) -> tuple[tuple[CompiledRule, ...], tuple[CompiledRisk, ...]]:
        """The rules and risks that apply to ``state`` (its key, then its dynamic conditions)."""
        rules, risks, dynamic = self.plan(state.compact_facts[F_KEY])
        if dynamic:
            rules = tuple(r for r in rules if not r.dynamic or matches(r.rule, state))
            risks = tuple(r for r in risks if not r.dynamic or matches(r.rule, state))
        return rules, risks

    def _make_rank(self, rule: str, step: str) -> int:
        position = {r.id: p for p, r in enumerate(self.rules)}
        if rule in position:
            names = [st[0] for st in self.rules[position[rule]].steps]
            return position[rule] * 1_000 + (names.index(step) if step in names else 0)
        risks = [r.id for r in self.risks]
        p = len(self.rules) + (risks.index(rule) if rule in risks else len(risks))
        return p * 1_000 + (0 if step.startswith("risk-") else 1)

    @property
    def span_us(self) -> int:
        """The longest reach of a deadline and its steps past a clock start (µs): the longest
        ``within`` plus the largest step offset."""
        span = max((r.within for r in self.rules), default=0)
        return span + max((abs(st[1]) for r in self.rules for st in r.steps), default=0)


class ScalarEvaluator(Protocol):
    """What the column-wise batch needs of the engine for the states it does not cover itself:
    the compiled policy, one state at a time, and one cadence at a time."""

    @property
    def compiled(self) -> CompiledPolicy:
        """The compiled policy evaluated."""
        ...

    def scan(self, state: SlaState, as_of: int) -> tuple[list[Item], int | None]:
        """Items due by ``as_of`` (µs) and the next due instant (µs or ``None``)."""
        ...

    def cadence(
        self,
        rule: CompiledRule,
        facts: tuple[Any, ...],
        state: SlaState,
        as_of: int,
        items: list[Item],
    ) -> int | None:
        """Append a cadence's reminders due by ``as_of``; return its next occurrence."""
        ...
