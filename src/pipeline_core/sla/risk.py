"""Risk signals: consecutive unanswered contacts, objections, changes of needs, a delayed plan.

A :class:`~pipeline_core.sla.policy.RiskRule` measures one signal on a state and raises a
:class:`~pipeline_core.sla.items.RiskFlag` at the highest level whose threshold is reached; at the
rule's ``escalate_from`` level or above an :class:`~pipeline_core.sla.items.Escalation` to the manager
goes with it (``domain.md`` §5: high risk escalates to the supervisor).

Identity: a flag's clock start is the start of the episode it belongs to, so a flag is reported once
per episode and level: the unanswered streak starts at the last reply (or the creation), objections
and changes of needs count over the record's life (start: its creation), a delayed plan starts at
the plan's due date.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from pipeline_core.sla.calendar import add_days
from pipeline_core.sla.items import FAST, Escalation, Item, RiskFlag, route_up
from pipeline_core.sla.policy import LEVEL_ORDER, RiskLevel, RiskRule, RiskSignal

if TYPE_CHECKING:
    from pipeline_core.sla.state import SlaState

__all__ = ["CompiledRisk", "compile_risk"]

_DAY_US: Final = 86_400_000_000
_NEW_FLAG: Final = FAST[RiskFlag]
_NEW_ESCALATION: Final = FAST[Escalation]
# fact indices (kept in step with engine.py)
_CREATED, _LAST_CONTACT, _LAST_REPLY = 0, 5, 6
_CLOSED, _PLAN_DUE, _PLAN_CONFIRMED, _LAST_OBJECTION, _LAST_NEEDS = 9, 10, 11, 12, 13
_TZ = 20  # the zone of the owner's day (None: the calendar's)


class CompiledRisk:
    """A risk rule ready for the hot path (internal to the engine)."""

    __slots__ = (
        "count_field",
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

    def _level(self, value: float) -> RiskLevel | None:
        for threshold, level in self.levels:
            if value >= threshold:
                return level
        return None

    def evaluate(
        self, facts: tuple[Any, ...], state: SlaState, now: int, items: list[Item]
    ) -> int | None:
        """Append the flag (and escalation) due by ``now``; return the next instant a level changes."""
        if facts[_CLOSED] is not None:
            return None
        field = self.count_field
        if field is not None and getattr(state, field) < self.lowest:
            return None  # below every threshold: the common case, decided at once
        signal = self.signal
        nxt: int | None = None
        if signal is RiskSignal.UNANSWERED_STREAK:
            value = float(state.unanswered)
            start = facts[_LAST_REPLY] if facts[_LAST_REPLY] is not None else facts[_CREATED]
            at = facts[_LAST_CONTACT] if facts[_LAST_CONTACT] is not None else start
        elif signal is RiskSignal.OBJECTIONS:
            value = float(state.objections)
            start = facts[_CREATED]
            at = facts[_LAST_OBJECTION] if facts[_LAST_OBJECTION] is not None else start
        elif signal is RiskSignal.NEEDS_CHANGES:
            value = float(state.needs_changes)
            start = facts[_CREATED]
            at = facts[_LAST_NEEDS] if facts[_LAST_NEEDS] is not None else start
        else:  # plan confirmation delayed: overdue days, the owner's local days
            due = facts[_PLAN_DUE]
            confirmed = facts[_PLAN_CONFIRMED]
            if due is None:
                return None
            end = now if confirmed is None else min(now, confirmed)
            start = due
            tz = facts[_TZ] or self.tz
            # the instant each level is reached: whole days count the owner's days (DST)
            reached_at = {lv: add_days(due, int(t * _DAY_US), tz) for t, lv in self.levels}
            level_now = None
            if end > due:
                level_now = next((lv for _, lv in self.levels if end >= reached_at[lv]), None)
            if confirmed is None:
                for _, level in self.levels:
                    t = reached_at[level]
                    if (
                        t > now
                        and (level_now is None or LEVEL_ORDER[level] > LEVEL_ORDER[level_now])
                        and (nxt is None or t < nxt)
                    ):
                        nxt = t
            if level_now is None or (confirmed is not None and confirmed <= due):
                return nxt
            threshold = next(t for t, lv in self.levels if lv is level_now)
            self._emit(state, start, reached_at[level_now], level_now, threshold, items)
            return nxt
        reached = self._level(value)
        if reached is not None:
            if at > now:  # the signal is dated after ``now``: it becomes due then
                return int(at)
            self._emit(state, start, at, reached, value, items)
        return nxt

    def _emit(
        self,
        state: SlaState,
        start: int,
        at: int,
        level: RiskLevel,
        value: float,
        items: list[Item],
    ) -> None:
        step = f"risk-{level.value}"
        items.append(
            _NEW_FLAG(
                self.id,
                state.subject_id,
                state.kind,
                step,
                start,
                at,
                None,
                "owner",
                state.owner_id,
                self.signal.value,
                level.value,
                value,
            )
        )
        if self.escalate_rank is not None and LEVEL_ORDER[level] >= self.escalate_rank:
            who, whom = route_up(state.manager_id, self.fallback)
            items.append(
                _NEW_ESCALATION(
                    self.id,
                    state.subject_id,
                    state.kind,
                    f"escalate-{level.value}",
                    start,
                    at,
                    None,
                    who,
                    whom,
                    False,
                )
            )


def compile_risk(
    rule: RiskRule, fallback: str | None = None, tz: ZoneInfo | None = None
) -> CompiledRisk:
    """Compile a risk rule for the engine (``fallback``: the policy's ``fallback_recipient``;
    ``tz``: the calendar's zone, whose local days a delayed plan counts unless the state names
    the owner's zone)."""
    return CompiledRisk(rule, fallback, tz)
