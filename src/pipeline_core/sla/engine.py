"""The SLA engine: a pure function from (policy, state, as_of) to the items due by then.

:meth:`SlaEngine.evaluate` returns every reminder, breach, escalation and risk flag that has become
due by ``as_of`` for one subject's state. It is *pure*: the same state and ``as_of`` give the same items
(with the same stable ids), and for a fixed state the items due at ``t1`` are a subset of those due
at ``t2 > t1``, so a host that remembers the ids it has delivered reports each item exactly once
whatever its evaluation steps (:class:`~pipeline_core.sla.agenda.Agenda` does exactly that).
:meth:`SlaEngine.outcomes` and :meth:`SlaEngine.transition` give the
:class:`~pipeline_core.records.SlaOutcome` of every finished clock for the metrics. The engine never
sends anything.

How a clock runs (see ``docs/sla.md``): it starts at the rule's trigger; a business-time deadline is
``calendar.add(start, within)``, so a lead arriving on a weekend or holiday starts its clock at the
next opening; a calendar-time deadline is ``start + within``, moved to the next opening when the rule
has ``roll_to_business``. Pauses whose reason the rule pauses on push the deadline out by the paused
time (business or calendar, like the rule); while a pause is ongoing the clock is stopped.
"""

from __future__ import annotations

import warnings
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence, Set
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from pipeline_core._deprecation import REMOVED_IN, moved, renamed_params
from pipeline_core._fastbuild import builder
from pipeline_core._model import field_names
from pipeline_core.clock import require_aware
from pipeline_core.records import SlaOutcome
from pipeline_core.sla.batch import scan_columns
from pipeline_core.sla.compiled import (
    F_ACTIONS,
    F_CLOSED,
    F_CREATED,
    F_PAUSES,
    F_STAGE,
    F_TZ,
    CompiledPolicy,
    CompiledRule,
    action_done,
    closed_spans,
    out_of_closed,
    pause_union,
)
from pipeline_core.sla.due import DueItems
from pipeline_core.sla.instants import DAY_US, add_days, from_us, to_us
from pipeline_core.sla.items import FAST, Escalation, Item, Reminder, route_up
from pipeline_core.sla.policy import Policy
from pipeline_core.sla.risk import evaluate_risk
from pipeline_core.sla.rules import PipelineLike, Target
from pipeline_core.sla.state import SlaState

__all__ = ["SlaEngine"]

__getattr__ = moved(
    __name__,
    {
        "compute_facts": "pipeline_core.sla.compiled:compute_facts",
    },
)

_NEW_REMINDER: Final = FAST[Reminder]
# SlaOutcome from values valid by construction, in field order (see pipeline_core._fastbuild)
_NEW_OUTCOME: Final = builder(
    SlaOutcome,
    list(field_names(SlaOutcome)),
    [(name, name) for name in field_names(SlaOutcome)],
    name="new_outcome",
)


class SlaEngine:
    """Evaluates a :class:`~pipeline_core.sla.policy.Policy` over subject states. Pure.

    ``pipeline``: a stage pipeline (``pipeline_core.stages.Pipeline`` or anything with ``stages``
    whose items have ``id`` and ``actions``) whose SOP time limits become rules too.
    """

    def __init__(self, policy: Policy, *, pipeline: PipelineLike | None = None) -> None:
        if pipeline is not None:
            policy = policy.with_pipeline(pipeline)
        self.policy = policy
        self.calendar = policy.calendar
        self.fallback = policy.fallback_recipient
        self.compiled = CompiledPolicy(policy)
        """The policy compiled for evaluation (:class:`~pipeline_core.sla.compiled.CompiledPolicy`)."""

    # -- evaluation ------------------------------------------------------------------------------

    @renamed_params(now="as_of")
    def evaluate(self, state: SlaState, as_of: datetime) -> list[Item]:
        """Every item due by ``as_of`` for one ``state`` (reminders, breaches, escalations, risk
        flags), in the engine's order (rules in policy order, their steps, then risks). The one
        entry point for one state; many states: :meth:`evaluate_batch`; a running host:
        :class:`~pipeline_core.sla.agenda.Agenda`. ``now=`` is the deprecated name of ``as_of``."""
        items, _ = self.scan(state, to_us(require_aware(as_of, "as_of")))
        return items

    @renamed_params(now="as_of")
    def next_due(self, state: SlaState, as_of: datetime) -> datetime | None:
        """The first instant after ``as_of`` at which a new item would become due, or ``None``."""
        _, nxt = self.scan(state, to_us(require_aware(as_of, "as_of")))
        return None if nxt is None else from_us(nxt)

    @renamed_params(now="as_of")
    def scan(self, state: SlaState, as_of: int) -> tuple[list[Item], int | None]:
        """:meth:`evaluate` on integer µs since the epoch, with the next due instant (µs, or
        ``None``): the hot path the agenda and the column-wise batch call. ``now=`` is the
        deprecated name of ``as_of``."""
        now = as_of
        facts = state.compact_facts
        rules, risks = self.compiled.applicable(state)
        items: list[Item] = []
        nxt: int | None = None
        for rule in rules:
            if rule.recurrence is None:
                t = self._deadline(rule, facts, state, now, items)
            else:
                t = self.cadence(rule, facts, state, now, items)
            if t is not None and (nxt is None or t < nxt):
                nxt = t
        for risk in risks:
            t = evaluate_risk(risk, facts, state, now, items)
            if t is not None and (nxt is None or t < nxt):
                nxt = t
        if state.backfilled_until is not None:  # imported history: its past deadlines are quiet
            cut = to_us(state.backfilled_until)
            items = [i for i in items if i.due_us is None or i.due_us >= cut]
        return items, nxt

    @renamed_params(now="as_of")
    def evaluate_batch(self, states: Iterable[SlaState], as_of: datetime) -> DueItems:
        """Every item due by ``as_of`` for many states (a full evaluation): the same items as
        :meth:`evaluate` on each state, computed column-wise and kept as columns until read
        (:class:`~pipeline_core.sla.batch.DueItems`; see :mod:`pipeline_core.sla.batch`). The one
        entry point for a batch. ``now=`` is the deprecated name of ``as_of``."""
        as_of_us = to_us(require_aware(as_of, "as_of"))
        rows = states if isinstance(states, list | tuple) else list(states)
        return scan_columns(self, rows, as_of_us, as_of_at=as_of, want_next=False)[0]

    def evaluate_many(self, states: Iterable[SlaState], now: datetime) -> Iterator[Item]:
        """Deprecated (removed in 0.4): use :meth:`evaluate_batch` (or :meth:`evaluate` per
        state). Items due by ``now`` for many states, streamed state by state."""
        warnings.warn(
            f"SlaEngine.evaluate_many is deprecated: use SlaEngine.evaluate_batch "
            f"(removed in {REMOVED_IN})",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._stream(states, to_us(require_aware(now, "now")))

    def _stream(self, states: Iterable[SlaState], now_us: int) -> Iterator[Item]:
        scan = self.scan
        for state in states:
            yield from scan(state, now_us)[0]

    # -- one clock ---------------------------------------------------------------------------------

    def _met(self, rule: CompiledRule, facts: tuple[Any, ...], start: int) -> int | None:
        if rule.target_index >= 0:
            t = facts[rule.target_index]
        elif rule.target is Target.ACTION:
            return action_done(facts[F_ACTIONS].get(rule.action), start)
        else:  # stage exit: seen only by a transition to another stage
            return None
        if t is None or t < start or (rule.strict and t == start):
            return None
        return t  # type: ignore[no-any-return]

    def _due(self, rule: CompiledRule, facts: tuple[Any, ...], start: int) -> int | None:
        """The deadline of a clock started at ``start`` (``None``: stopped by an ongoing pause).

        Pauses count once however they overlap (their union); each pushes the deadline out by the
        time it covers between the start and the deadline (working time on a business basis).
        A ``roll_to_business`` deadline is rolled to the next opening after the pauses moved it;
        a pause that begins before that opening and still holds at it (the customer asks us to
        wait from Saturday 12:00 for a deadline rolled from Saturday 10:00 to Monday 09:00)
        stops the clock while it is open, and holds the deadline until its end (rolled again).
        """
        cal = self.calendar
        business = rule.business
        if business:
            due = cal.add_us(start, rule.within) if rule.within else cal.next_open_us(start)
        else:
            due = add_days(start, rule.within, facts[F_TZ] or cal.tz)
        pauses = facts[F_PAUSES]
        union = pause_union(pauses, rule.pause_on) if pauses and rule.pause_on else []
        for p_start, p_end in union:
            if p_start >= due:
                break  # sorted by start: this one and the later ones come after the deadline
            if p_end is None:
                return None  # the clock is stopped
            if p_end <= start:
                continue
            lost = self._measure(rule, max(p_start, start), p_end)
            due = cal.add_us(due, lost) if business else due + lost
        if rule.roll and not business:
            due = cal.next_open_us(due)
            # a pause begun in the grace between the calendar deadline and the opening
            for p_start, p_end in union:
                if p_start >= due:
                    break
                if p_end is None:
                    return None  # still open at the deadline: the clock is stopped
                if p_end > due:
                    due = cal.next_open_us(p_end)
        return due

    def _measure(self, rule: CompiledRule, a: int, b: int) -> int:
        return self.calendar.between_us(a, b) if rule.business else b - a

    def _paused(self, rule: CompiledRule, facts: tuple[Any, ...], start: int, end: int) -> int:
        total = 0
        if rule.pause_on:
            for p_start, p_end in pause_union(facts[F_PAUSES], rule.pause_on):
                a = max(p_start, start)
                b = end if p_end is None else min(p_end, end)
                if b > a:
                    total += self._measure(rule, a, b)
        return total

    def fire_at(
        self, rule: CompiledRule, due: int, offset: int, start: int, tz: ZoneInfo | None = None
    ) -> int:
        """When a step ``offset`` from the deadline ``due`` fires (µs). Business basis: the
        offset counts working time (``calendar.add``: before the deadline, the latest instant
        from which that much working time remains). ``roll_to_business``: calendar time, then
        into working time (a step before the deadline back to the last close, a step after it
        forward to the next opening); so is a business rule whose steps keep calendar time
        (``Rule.step_basis``). Calendar basis: plain time. A step before the clock start
        fires at the start (its first working instant for working-time rules), except before a
        contract end. Whole days of calendar time are local days of ``tz`` (default: the
        calendar's zone; :func:`~pipeline_core.sla.calendar.add_days`)."""
        cal = self.calendar
        if offset == 0:
            fire = due
        elif rule.business_steps:
            fire = cal.add_us(due, offset)
        else:
            fire = add_days(due, offset, cal.tz if tz is None else tz)
            if rule.working:
                fire = cal.prev_close_us(fire) if offset < 0 else cal.next_open_us(fire)
        if fire < start and rule.clamp:
            fire = cal.next_open_us(start) if rule.working else start
        return fire

    def _deadline(
        self,
        rule: CompiledRule,
        facts: tuple[Any, ...],
        state: SlaState,
        now: int,
        items: list[Item],
    ) -> int | None:
        start = facts[rule.trigger_index]
        if start is None:
            if not rule.from_created:
                return None
            start = facts[F_CREATED]
        cal = self.calendar
        # the deadline
        if rule.pause_on and facts[F_PAUSES]:
            paused_due = self._due(rule, facts, start)
            if paused_due is None:
                return None
            due = paused_due
        elif rule.business:
            due = cal.add_us(start, rule.within) if rule.within else cal.next_open_us(start)
        else:
            due = add_days(start, rule.within, facts[F_TZ] or cal.tz)
            if rule.roll:
                clock = cal.clock
                if clock.lo_us <= due < clock.hi_us:
                    k = bisect_right(clock.starts, due) - 1
                    if k < 0 or due >= clock.ends[k]:
                        due = (
                            clock.starts[k + 1]
                            if k + 1 < len(clock.starts)
                            else cal.next_open_us(due)
                        )
                else:
                    due = cal.next_open_us(due)
        # when the clock ended: target reached, or the record closed
        ti = rule.target_index
        if ti >= 0:
            end = facts[ti]
        elif rule.target is Target.ACTION:
            end = action_done(facts[F_ACTIONS].get(rule.action), start)
        else:
            end = None
        if end is not None and (end < start or (rule.strict and end == start)):
            end = None
        if rule.closes:
            closed = facts[F_CLOSED]
            if closed is not None and (end is None or closed < end):
                end = closed
        # steps are sorted by offset, so their fire times never decrease: stop at the first one
        # that is not due yet (it is the next due time) or that the end of the clock cut off
        fire_at = self.fire_at
        tz = facts[F_TZ]
        business = rule.business_steps
        plain = not rule.working
        spans = closed_spans(facts[F_PAUSES]) if rule.closes and facts[F_PAUSES] else None
        for name, offset, manager, cls, reassign, build in rule.steps:
            # fire_at, with its two cheap cases inlined (the engine's hot path)
            if offset == 0:
                fire = due
            elif business:
                fire = cal.add_us(due, offset)
                if fire < start and rule.clamp:
                    fire = cal.next_open_us(start)
            elif plain and offset % DAY_US:
                fire = due + offset
                if fire < start and rule.clamp:
                    fire = start
            else:
                fire = fire_at(rule, due, offset, start, tz)
            if spans:
                fire = out_of_closed(fire, spans)
            if end is not None and fire >= end:
                return None
            if fire > now:
                return fire
            if manager:
                who, whom = route_up(state.manager_id, self.fallback)
            else:
                who, whom = "owner", state.owner_id
            if cls is Escalation:
                items.append(
                    build(
                        rule.id, state.subject_id, state.kind, name, start, fire, due, who, whom,
                        reassign,
                    )
                )  # fmt: skip
            else:
                items.append(
                    build(rule.id, state.subject_id, state.kind, name, start, fire, due, who, whom)
                )
        return None

    @renamed_params(now="as_of")
    def cadence(
        self,
        rule: CompiledRule,
        facts: tuple[Any, ...],
        state: SlaState,
        as_of: int,
        items: list[Item],
    ) -> int | None:
        """Append the reminders of the cadence ``rule`` due by ``as_of`` (µs) for ``state`` (with
        compact ``facts``) to ``items``: one per occurrence not followed by the target. Return
        the next occurrence after ``as_of`` (µs) outside the closed periods, also when the state's
        ``closed_at`` is still to come (then only one before it); ``None`` once the record closed
        by ``as_of`` or the occurrences end. ``now=`` is the deprecated name of ``as_of``."""
        now = as_of
        start = facts[rule.trigger_index]
        if start is None:
            return None
        closed = facts[F_CLOSED] if rule.closes else None
        horizon = now if closed is None or closed > now else closed - 1
        assert rule.recurrence is not None
        recurrence = rule.recurrence
        tz = facts[F_TZ]
        # a reminder at each occurrence not followed by the target: those after the target's
        # last instant, so walk back from the latest and stop at the first one it followed
        due: list[int] = []
        met = self._met
        spans = closed_spans(facts[F_PAUSES]) if rule.closes and facts[F_PAUSES] else None
        for occurrence in recurrence.back(start, horizon, tz):
            if met(rule, facts, occurrence) is not None:
                break
            if spans and out_of_closed(occurrence, spans) != occurrence:
                continue  # the record was closed then: no reminder
            due.append(occurrence)
        for occurrence in reversed(due):
            items.append(
                _NEW_REMINDER(
                    rule.id,
                    state.subject_id,
                    state.kind,
                    "due",
                    occurrence,
                    occurrence,
                    occurrence,
                    "owner",
                    state.owner_id,
                )
            )
        if closed is not None and closed <= now:
            return None  # closed by now: every occurrence before the close is in ``items``
        # the next occurrence: after ``now``, outside the closed periods, and before a close
        # still to come (a state may carry a ``closed_at`` after ``now``: the items up to it are
        # due as if open, so the agenda must wake up for them)
        nxt = recurrence.after(start, horizon, tz)
        if spans:
            for a, b in spans:
                if nxt is not None and a <= nxt < b:
                    nxt = recurrence.after(start, b - 1, tz)
        if nxt is not None and closed is not None and nxt >= closed:
            return None
        return nxt

    # -- outcomes ----------------------------------------------------------------------------------

    def _outcome(
        self,
        rule: CompiledRule,
        state: SlaState,
        start: int,
        due: int,
        finished: int | None,
        end: int,
        facts: tuple[Any, ...],
    ) -> SlaOutcome:
        elapsed = self._measure(rule, start, end)
        if rule.pause_on and facts[F_PAUSES]:
            elapsed -= self._paused(rule, facts, start, end)
        return _NEW_OUTCOME(  # type: ignore[no-any-return]
            f"{rule.id}|{state.subject_id}|{start}",
            rule.id,
            rule.target_text,
            state.kind,
            state.subject_id,
            from_us(start),
            from_us(due if due > start else start),
            finished is not None and finished <= due,
            (elapsed if elapsed > 0 else 0) / 1_000_000,
            None if finished is None else from_us(finished),
            state.owner_id,
            1,
        )

    def _clocks(self, state: SlaState) -> list[tuple[CompiledRule, int]]:
        """The deadline clocks of ``state`` that have started: (rule, start µs)."""
        facts = state.compact_facts
        rules, _ = self.compiled.applicable(state)
        out = []
        for rule in rules:
            if rule.recurrence is not None:
                continue
            start = facts[rule.trigger_index]
            if start is None and rule.from_created:
                start = facts[F_CREATED]
            if start is not None:
                out.append((rule, start))
        return out

    def _finished(
        self, state: SlaState, clocks: list[tuple[CompiledRule, int]]
    ) -> set[tuple[str, int]]:
        facts = state.compact_facts
        closed_at = facts[F_CLOSED]
        out = set()
        for rule, start in clocks:
            if (rule.closes and closed_at is not None and closed_at >= start) or self._met(
                rule, facts, start
            ) is not None:
                out.add((rule.id, start))
        return out

    def finished_ids(self, state: SlaState) -> set[str]:
        """Ids of the outcomes :meth:`outcomes` would return (cheap: no records built)."""
        return {
            f"{rule}|{state.subject_id}|{start}"
            for rule, start in self._finished(state, self._clocks(state))
        }

    def outcomes(self, state: SlaState, *, skip: Set[str] = frozenset()) -> list[SlaOutcome]:
        """Outcomes of the clocks of ``state`` that have finished: target reached (met or breached)
        or the record closed first (an omission: ``met=False``, ``finished_at=None``).

        ``skip``: outcome ids not to build (e.g. those already reported for an earlier state).
        """
        clocks = self._clocks(state)
        if skip:
            sid = state.subject_id
            clocks = [(r, t) for r, t in clocks if f"{r.id}|{sid}|{t}" not in skip]
        return self._outcomes(state, clocks, frozenset())

    def _outcomes(
        self, state: SlaState, clocks: list[tuple[CompiledRule, int]], skip: Set[tuple[str, int]]
    ) -> list[SlaOutcome]:
        facts = state.compact_facts
        out = []
        for rule, start in clocks:
            met = self._met(rule, facts, start)
            closed = facts[F_CLOSED] if rule.closes else None
            if met is None and (closed is None or closed < start):
                continue
            if skip and (rule.id, start) in skip:
                continue
            due = self._due(rule, facts, start)
            if met is not None and (closed is None or met <= closed):
                out.append(
                    self._outcome(
                        rule, state, start, due if due is not None else met + 1, met, met, facts
                    )
                )
            elif closed is not None:
                end = closed
                out.append(
                    self._outcome(
                        rule, state, start, due if due is not None else end + 1, None, end, facts
                    )
                )
        return out

    def transition(self, old: SlaState, new: SlaState) -> list[SlaOutcome]:
        """Outcomes of clocks open in ``old`` that ``new`` ends without showing them itself: the
        stage was left (``stage_exit`` targets), the trigger moved on after the target happened
        (e.g. a new contact), or the record closed. Clocks whose rule no longer applies (grade or
        stage changed) end without an outcome."""
        return self._transition(old, new, self._clocks(old), self._clocks(new))

    def change(self, old: SlaState, new: SlaState) -> list[SlaOutcome]:
        """Every outcome a change of one subject from ``old`` to ``new`` finishes, each once:
        :meth:`transition` plus the :meth:`outcomes` of ``new`` that ``old`` had not finished
        already. (:meth:`Agenda.put <pipeline_core.sla.agenda.Agenda.put>` returns these.)"""
        old_clocks = self._clocks(old)
        new_clocks = self._clocks(new)
        return self._transition(old, new, old_clocks, new_clocks) + self._outcomes(
            new, new_clocks, self._finished(old, old_clocks)
        )

    def _transition(
        self,
        old: SlaState,
        new: SlaState,
        old_clocks: list[tuple[CompiledRule, int]],
        new_clocks: list[tuple[CompiledRule, int]],
    ) -> list[SlaOutcome]:
        old_facts = old.compact_facts
        new_facts = new.compact_facts
        still = {(r.id, s) for r, s in new_clocks}
        out = []
        for rule, start in old_clocks:
            if (rule.id, start) in still:
                continue
            if self._met(rule, old_facts, start) is not None:
                continue
            if rule.closes and old_facts[F_CLOSED] is not None:
                continue
            due = self._due(rule, old_facts, start)
            if due is None:
                due = start
            finished: int | None = None
            if rule.target is Target.STAGE_EXIT:
                if new.stage != old.stage and new_facts[F_STAGE] is not None:
                    finished = new_facts[F_STAGE]
            else:
                finished = self._met(rule, new_facts, start)
            if finished is not None:
                out.append(self._outcome(rule, new, start, due, finished, finished, old_facts))
            elif rule.closes and new_facts[F_CLOSED] is not None:
                closed = new_facts[F_CLOSED]
                out.append(
                    self._outcome(rule, new, start, due, None, max(closed, start), old_facts)
                )
        return out

    def open_clocks(self, state: SlaState) -> list[tuple[str, datetime, datetime | None]]:
        """The running clocks of ``state``: (rule id, start, deadline or ``None`` if paused)."""
        facts = state.compact_facts
        out = []
        for rule, start in self._clocks(state):
            if self._met(rule, facts, start) is not None:
                continue
            if rule.closes and facts[F_CLOSED] is not None:
                continue
            due = self._due(rule, facts, start)
            out.append((rule.id, from_us(start), None if due is None else from_us(due)))
        return out


def as_items(values: Sequence[Item]) -> list[dict[str, object]]:
    """Plain data of items (for JSON output)."""
    return [v.to_dict() for v in values]
