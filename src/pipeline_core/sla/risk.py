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

from pipeline_core._deprecation import moved
from pipeline_core.sla.compiled import (
    F_CLOSED,
    F_CREATED,
    F_LAST_CONTACT,
    F_LAST_NEEDS,
    F_LAST_OBJECTION,
    F_LAST_REPLY,
    F_PLAN_CONFIRMED,
    F_PLAN_DUE,
    F_TZ,
    CompiledRisk,
)
from pipeline_core.sla.instants import DAY_US, add_days
from pipeline_core.sla.items import FAST, Escalation, Item, RiskFlag, route_up
from pipeline_core.sla.rules import LEVEL_ORDER, RiskLevel, RiskSignal

if TYPE_CHECKING:
    from pipeline_core.sla.state import SlaState

__all__ = ["evaluate_risk"]

__getattr__ = moved(
    __name__,
    {
        "compile_risk": "pipeline_core.sla.compiled:compile_risk",
    },
)

_NEW_FLAG: Final = FAST[RiskFlag]
_NEW_ESCALATION: Final = FAST[Escalation]


def _level(risk: CompiledRisk, value: float) -> RiskLevel | None:
    for threshold, level in risk.levels:
        if value >= threshold:
            return level
    return None


def evaluate_risk(
    risk: CompiledRisk, facts: tuple[Any, ...], state: SlaState, as_of: int, items: list[Item]
) -> int | None:
    """Append the flag (and escalation) of ``risk`` due by ``as_of`` (µs) for ``state`` (whose
    compact facts are ``facts``) to ``items``; return the next instant a level changes (µs), or
    ``None``."""
    now = as_of
    if facts[F_CLOSED] is not None:
        return None
    field = risk.count_field
    if field is not None and getattr(state, field) < risk.lowest:
        return None  # below every threshold: the common case, decided at once
    signal = risk.signal
    nxt: int | None = None
    if signal is RiskSignal.UNANSWERED_STREAK:
        value = float(state.unanswered)
        start = facts[F_LAST_REPLY] if facts[F_LAST_REPLY] is not None else facts[F_CREATED]
        at = facts[F_LAST_CONTACT] if facts[F_LAST_CONTACT] is not None else start
    elif signal is RiskSignal.OBJECTIONS:
        value = float(state.objections)
        start = facts[F_CREATED]
        at = facts[F_LAST_OBJECTION] if facts[F_LAST_OBJECTION] is not None else start
    elif signal is RiskSignal.NEEDS_CHANGES:
        value = float(state.needs_changes)
        start = facts[F_CREATED]
        at = facts[F_LAST_NEEDS] if facts[F_LAST_NEEDS] is not None else start
    else:  # plan confirmation delayed: overdue days, the owner's local days
        due = facts[F_PLAN_DUE]
        confirmed = facts[F_PLAN_CONFIRMED]
        if due is None:
            return None
        end = now if confirmed is None else min(now, confirmed)
        start = due
        tz = facts[F_TZ] or risk.tz
        # the instant each level is reached: whole days count the owner's days (DST)
        reached_at = {lv: add_days(due, int(t * DAY_US), tz) for t, lv in risk.levels}
        level_now = None
        if end > due:
            level_now = next((lv for _, lv in risk.levels if end >= reached_at[lv]), None)
        if confirmed is None:
            for _, level in risk.levels:
                t = reached_at[level]
                if (
                    t > now
                    and (level_now is None or LEVEL_ORDER[level] > LEVEL_ORDER[level_now])
                    and (nxt is None or t < nxt)
                ):
                    nxt = t
        if level_now is None or (confirmed is not None and confirmed <= due):
            return nxt
        threshold = next(t for t, lv in risk.levels if lv is level_now)
        _emit(risk, state, start, reached_at[level_now], level_now, threshold, items)
        return nxt
    reached = _level(risk, value)
    if reached is not None:
        if at > now:  # the signal is dated after ``now``: it becomes due then
            return int(at)
        _emit(risk, state, start, at, reached, value, items)
    return nxt


def _emit(
    risk: CompiledRisk,
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
            risk.id,
            state.subject_id,
            state.kind,
            step,
            start,
            at,
            None,
            "owner",
            state.owner_id,
            risk.signal.value,
            level.value,
            value,
        )
    )
    if risk.escalate_rank is not None and LEVEL_ORDER[level] >= risk.escalate_rank:
        who, whom = route_up(state.manager_id, risk.fallback)
        items.append(
            _NEW_ESCALATION(
                risk.id,
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
