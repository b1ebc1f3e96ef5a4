"""Whole-portfolio SLA evaluation, column-wise: :func:`scan_columns`, what ``evaluate_batch`` runs.

``engine.evaluate_batch(states, as_of)`` returns exactly the items of
``[item for s in states for item in engine.evaluate(s, as_of)]`` (same ids, same fields), but
computes them rule by rule over columns of the states' facts with numpy, and keeps them as
columns: an item object is built only when it is read. That is the shape of a nightly or
notebook run over a million open opportunities (an agenda re-evaluates only what changed).

How it stays exact: each rule runs the same arithmetic as the engine on integer microseconds.
Business time uses the calendar's own business clock (working intervals and their cumulative
working time) with ``searchsorted`` in place of ``bisect``. Whatever the column code does not
cover goes through the engine itself, for those states only:

- states with pauses, or whose rules have conditions on source, tags or owner role;
- cadences other than a fixed number of days or weeks, or in a timezone whose UTC offset changes
  within the evaluated range (DST);
- the delayed-plan risk (only states with a plan due date);
- instants outside the calendar range prepared for the run.

Without numpy (it comes with the ``frames`` extra) the engine evaluates every state: same result,
slower.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Final

from pipeline_core._deprecation import REMOVED_IN, moved, renamed_params
from pipeline_core._optional import require
from pipeline_core.clock import require_aware
from pipeline_core.sla.compiled import (
    F_ACTIONS,
    F_CLOSED,
    F_CREATED,
    F_FIRST_COUNT,
    F_KEY,
    F_LAST_CONTACT,
    F_LAST_NEEDS,
    F_LAST_OBJECTION,
    F_LAST_REPLY,
    F_PAUSES,
    F_PLAN_DUE,
    F_TZ,
    CompiledRisk,
    CompiledRule,
    ScalarEvaluator,
    action_done,
)
from pipeline_core.sla.due import Chunk, DueItems
from pipeline_core.sla.instants import DAY_US, US, add_days, fixed_offset, from_us, to_us
from pipeline_core.sla.items import Escalation, Item, Reminder, RiskFlag
from pipeline_core.sla.risk import evaluate_risk
from pipeline_core.sla.rules import LEVEL_ORDER, RiskSignal, Target
from pipeline_core.sla.state import SlaState

__all__ = ["Chunk", "DueItems", "scan_columns"]  # Chunk and DueItems live in sla.due

__getattr__ = moved(__name__, {"scan_batch": "pipeline_core.sla.batch:scan_columns"})

_NULL: Final = -(2**63)  # "no instant" in an int64 column
_NEVER: Final = 2**63 - 1  # "no next due instant"


@renamed_params(now="as_of")
def scan_columns(
    engine: ScalarEvaluator,
    states: Sequence[SlaState],
    as_of: int | Sequence[int],
    *,
    as_of_at: datetime | None = None,
    want_next: bool = True,
) -> tuple[DueItems, list[int | None]]:
    """:meth:`SlaEngine.scan <pipeline_core.sla.engine.SlaEngine.scan>` for many states at once,
    column-wise: the items due and each state's next due instant (µs; ``None``: nothing will
    become due). ``as_of``: one instant (µs since the epoch) for all, or one per state (an
    :class:`~pipeline_core.sla.agenda.Agenda` re-evaluating each subject at its own watermark);
    ``as_of_at``: the instant the result reports as :attr:`DueItems.as_of` (default: the latest);
    ``want_next=False``: skip the next due instants (an empty list comes back).
    What :meth:`SlaEngine.evaluate_batch <pipeline_core.sla.engine.SlaEngine.evaluate_batch>`
    runs. Without numpy (the ``frames`` extra) the engine evaluates each state: same result.
    ``now=`` is the deprecated name of ``as_of`` (the old ``scan_batch(engine, states, now=...)``)."""
    single = isinstance(as_of, int)
    marks = [as_of] * len(states) if isinstance(as_of, int) else list(as_of)
    when = as_of_at if as_of_at is not None else from_us(max(marks, default=0))
    try:
        require("numpy", "frames")
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with the dev extras
        objects: list[Item] = []
        index: list[int] = []
        nexts: list[int | None] = []
        for i, (state, mark) in enumerate(zip(states, marks, strict=True)):
            items, nxt = engine.scan(state, mark)
            objects.extend(items)
            index.extend([i] * len(items))
            nexts.append(nxt)
        return DueItems(states, when, [], objects, index), nexts
    instants = as_of if single else np.asarray(marks, dtype=np.int64)
    run = _Run(engine, states, instants, np, want_next=want_next)
    due = run.result(when)
    if run.next is None:
        return due, []
    return due, [None if t == _NEVER else t for t in run.next.tolist()]


def evaluate_batch(engine: ScalarEvaluator, states: Iterable[SlaState], now: datetime) -> DueItems:
    """Deprecated (removed in 0.4): use ``engine.evaluate_batch(states, as_of)``."""
    warnings.warn(
        f"pipeline_core.sla.batch.evaluate_batch is deprecated: use SlaEngine.evaluate_batch "
        f"(removed in {REMOVED_IN})",
        DeprecationWarning,
        stacklevel=2,
    )
    rows = states if isinstance(states, list | tuple) else list(states)
    return scan_columns(engine, rows, to_us(require_aware(now, "now")), as_of_at=now)[0]


class _Run:
    """One column-wise evaluation (internal)."""

    def __init__(
        self,
        engine: ScalarEvaluator,
        states: Sequence[SlaState],
        now: int | Any,
        np: Any,
        *,
        want_next: bool = False,
    ) -> None:
        self.engine = engine
        self.compiled = engine.compiled
        self.calendar = engine.compiled.calendar
        self.states = states
        self.np = np
        self.facts = [s.compact_facts for s in states]
        self.n = len(self.facts)
        # ``now`` is one instant, or one per state (an agenda re-evaluating at each watermark)
        if isinstance(now, int):
            self.now_all = np.full(self.n, now, dtype=np.int64)
            self.now_max = now
        else:
            self.now_all = np.asarray(now, dtype=np.int64)
            self.now_max = int(self.now_all.max()) if self.n else 0
        self.chunks: list[Chunk] = []
        self.objects: list[Item] = []
        self.object_index: list[int] = []
        # the next instant something becomes due per state (``_NEVER``: nothing will)
        self.next = np.full(self.n, _NEVER, dtype=np.int64) if want_next else None
        self._cols: dict[int, Any] = {}
        self._clock: tuple[Any, ...] | None = None

    def _soonest(self, index: Any, when: Any) -> None:
        """Lower the next due instant of the states ``index`` (distinct) to ``when``."""
        if self.next is not None and len(index):
            self.next[index] = self.np.minimum(self.next[index], when)

    def _soonest_one(self, i: int, when: int | None) -> None:
        if self.next is not None and when is not None and when < self.next[i]:
            self.next[i] = when

    # -- columns -----------------------------------------------------------------------------------

    def col(self, index: int) -> Any:
        """Fact ``index`` of every state as int64, ``_NULL`` for none (cached)."""
        found = self._cols.get(index)
        if found is None:
            np = self.np
            values = map(itemgetter(index), self.facts)
            if index >= F_FIRST_COUNT:  # counts: never None
                found = np.fromiter(values, dtype=np.int64, count=self.n)
            else:
                found = np.array([_NULL if v is None else v for v in values], dtype=np.int64)
            self._cols[index] = found
        return found

    def action_col(self, index: Any, action: str | None, since: Any) -> Any:
        """When each state first did ``action`` at or after ``since`` (``_NULL``: not done)."""
        np = self.np
        facts = self.facts
        values = [
            action_done(facts[i][F_ACTIONS].get(action), t)
            for i, t in zip(index.tolist(), since.tolist(), strict=True)
        ]
        return np.array([_NULL if v is None else v for v in values], dtype=np.int64)

    def latest_action_col(self, index: Any, action: str | None) -> Any:
        """When each state last did ``action`` (``_NULL``: never)."""
        np = self.np
        facts = self.facts
        values = [facts[i][F_ACTIONS].get(action) for i in index.tolist()]
        return np.array([v[-1] if v else _NULL for v in values], dtype=np.int64)

    # -- the business clock --------------------------------------------------------------------

    def clock(self) -> tuple[Any, ...]:
        """The calendar's business clock as arrays (starts, ends, cum, cum_end, lo_us, hi_us),
        prepared for the instants of this run."""
        if self._clock is None:
            np = self.np
            cal = self.calendar
            created = self.col(F_CREATED)
            lo = min(int(created.min()), int(self.now_all.min()))
            hi = self.now_max + 2 * self.compiled.span_us + 60 * DAY_US
            tz = cal.tz
            c = cal.prepare(
                from_us(lo, tz).date() - timedelta(days=2),
                from_us(hi, tz).date() + timedelta(days=2),
            )
            self._clock = (
                np.array(c.starts, dtype=np.int64),
                np.array(c.ends, dtype=np.int64),
                np.array(c.cum, dtype=np.int64),
                np.array(c.cum_end, dtype=np.int64),
                c.lo_us,
                c.hi_us,
            )
        return self._clock

    def add(self, values: Any, amount: int) -> Any:
        """``calendar.add_us`` on an array."""
        if amount == 0:
            return values
        np = self.np
        starts, ends, cum, cum_end, lo, hi = self.clock()
        cal = self.calendar

        def add(value: int) -> int:
            return cal.add_us(value, amount)

        if len(starts) == 0:
            return self._one_by_one(values, np.ones(len(values), dtype=bool), add)
        k = np.searchsorted(starts, values, side="right") - 1
        kk = np.maximum(k, 0)
        base = np.where(k < 0, 0, cum[kk] + np.minimum(values, ends[kk]) - starts[kk])
        target = base + amount
        ok = (values >= lo) & (values < hi) & (target > 0) & (target <= cum_end[-1])
        # forward the earliest instant, backward the latest (an opening): as the calendar's add
        side = "left" if amount > 0 else "right"
        j = np.minimum(np.searchsorted(cum_end, target, side=side), len(starts) - 1)
        out = starts[j] + (target - cum[j])
        if not ok.all():
            out = np.where(ok, out, self._one_by_one(values, ~ok, add))
        return out

    def _one_by_one(self, values: Any, where: Any, fn: Callable[[int], int]) -> Any:
        """``values`` with ``fn`` applied, one by one, where ``where`` holds (the calendar's own
        scalar arithmetic, for what the prepared arrays do not cover)."""
        out = values.copy()
        for i in self.np.flatnonzero(where).tolist():
            out[i] = fn(int(values[i]))
        return out

    def next_open(self, values: Any) -> Any:
        """``calendar.next_open_us`` on an array."""
        np = self.np
        starts, ends, _, _, lo, hi = self.clock()
        nopen = self.calendar.next_open_us
        m = len(starts)
        if m == 0:
            return self._one_by_one(values, np.ones(len(values), dtype=bool), nopen)
        k = np.searchsorted(starts, values, side="right") - 1
        inside = (k >= 0) & (values < ends[np.maximum(k, 0)])
        later = np.minimum(k + 1, m - 1)
        ok = (values >= lo) & (values < hi) & (inside | (k + 1 < m))
        out = np.where(inside, values, starts[later])
        if not ok.all():
            out = np.where(ok, out, self._one_by_one(values, ~ok, nopen))
        return out

    def days(self, values: Any, amount: int) -> Any:
        """``calendar.add_days`` in the calendar's zone on an array: ``values + amount``, or
        local days one by one where the zone changes its UTC offset (DST)."""
        if amount % DAY_US == 0 and amount and len(values):
            tz = self.calendar.tz
            lo = int(values.min()) - abs(amount)
            hi = int(values.max()) + abs(amount)
            if not fixed_offset(tz, lo, hi):
                return self._one_by_one(
                    values, self.np.ones(len(values), dtype=bool), lambda v: add_days(v, amount, tz)
                )
        return values + amount

    def prev_close(self, values: Any) -> Any:
        """``calendar.prev_close_us`` on an array."""
        np = self.np
        starts, ends, _, _, lo, hi = self.clock()
        pclose = self.calendar.prev_close_us
        if len(starts) == 0:
            return self._one_by_one(values, np.ones(len(values), dtype=bool), pclose)
        k = np.searchsorted(starts, values, side="right") - 1
        ok = (values >= lo) & (values < hi) & (k >= 0)
        out = np.minimum(values, ends[np.maximum(k, 0)])
        if not ok.all():
            out = np.where(ok, out, self._one_by_one(values, ~ok, pclose))
        return out

    # -- the run -----------------------------------------------------------------------------------

    def result(self, now: datetime) -> DueItems:
        np = self.np
        compiled = self.compiled
        n = self.n
        if n == 0:
            return DueItems(self.states, now, [], [])
        key_col = list(map(itemgetter(F_KEY), self.facts))
        keys: dict[Any, int] = dict.fromkeys(key_col, 0)
        for code, key in enumerate(keys):
            keys[key] = code
        codes = np.fromiter(map(keys.__getitem__, key_col), dtype=np.int32, count=n)
        plans = [compiled.plan(k) for k in keys]
        pause_rules = compiled.pausing
        # states the engine evaluates itself: dynamic conditions, or pauses under pausing rules
        by_engine = np.array([dyn for _, _, dyn in plans], dtype=bool)[codes]
        if pause_rules:
            paused = np.fromiter(map(bool, map(itemgetter(F_PAUSES), self.facts)), bool, count=n)
            by_engine |= paused
        # states whose owner's day is in another zone than the calendar's: local days there
        cal_tz = compiled.calendar.tz
        own_zone = np.fromiter(
            (z is not None and z != cal_tz for z in map(itemgetter(F_TZ), self.facts)),
            bool,
            count=n,
        )
        by_engine |= own_zone
        # backfilled states: the engine drops their deadlines before the import instant
        by_engine |= np.fromiter((s.backfilled_until is not None for s in self.states), bool, n)
        columnar = ~by_engine
        for rule in compiled.rules:
            applies = np.array([rule in rules for rules, _, _ in plans], dtype=bool)
            mask = applies[codes] & columnar
            if not mask.any():
                continue
            index = np.flatnonzero(mask)
            if rule.recurrence is None:
                self.deadline(rule, index)
            else:
                self.cadence(rule, index)
        for risk in compiled.risks:
            applies = np.array([risk in risks for _, risks, _ in plans], dtype=bool)
            mask = applies[codes] & columnar
            if mask.any():
                self.risk(risk, np.flatnonzero(mask))
        if by_engine.any():
            scan = self.engine.scan
            states = self.states
            now_all = self.now_all
            for i in np.flatnonzero(by_engine).tolist():
                items, nxt = scan(states[i], int(now_all[i]))
                self.objects.extend(items)
                self.object_index.extend([i] * len(items))
                self._soonest_one(i, nxt)
        return DueItems(self.states, now, self.chunks, self.objects, self.object_index)

    def _end(self, rule: CompiledRule, index: Any, start: Any) -> Any:
        """When each clock ended (target reached, or the record closed), ``_NULL`` if running."""
        np = self.np
        if rule.target_index >= 0:
            end = self.col(rule.target_index)[index]
        elif rule.action is not None and rule.target is Target.ACTION:
            end = self.action_col(index, rule.action, start)
        else:
            end = np.full(len(index), _NULL, dtype=np.int64)
        none = (end == _NULL) | (end < start)
        if rule.strict:
            none |= end == start
        end = np.where(none, _NULL, end)
        if rule.closes:
            closed = self.col(F_CLOSED)[index]
            earlier = (closed != _NULL) & ((end == _NULL) | (closed < end))
            end = np.where(earlier, closed, end)
        return end

    def deadline(self, rule: CompiledRule, index: Any) -> None:
        np = self.np
        start = self.col(rule.trigger_index)[index]
        if rule.from_created:
            start = np.where(start == _NULL, self.col(F_CREATED)[index], start)
        keep = start != _NULL
        index, start = index[keep], start[keep]
        if not len(index):
            return
        if rule.business:
            due = self.add(start, rule.within) if rule.within else self.next_open(start)
        else:
            due = self.days(start, rule.within)
            if rule.roll:
                due = self.next_open(due)
        end = self._end(rule, index, start)
        has_end = end != _NULL
        now = self.now_all[index]
        alive = np.ones(len(index), dtype=bool)
        opening: Any = None  # the first working instant of each clock (working-time rules)
        for name, offset, manager, cls, reassign, _ in rule.steps:
            # the same placement as SlaEngine.fire_at, column-wise
            if offset == 0:
                fire = due
            elif rule.business_steps:
                fire = self.add(due, offset)
            else:
                fire = self.days(due, offset)
                if rule.working:
                    fire = self.prev_close(fire) if offset < 0 else self.next_open(fire)
            if rule.clamp:
                if rule.working:
                    early = fire < start
                    if early.any():
                        if opening is None:
                            opening = self.next_open(start)
                        fire = np.where(early, opening, fire)
                else:
                    fire = np.maximum(fire, start)
            alive &= ~(has_end & (fire >= end))  # the clock ended first: no more steps
            later = alive & (fire > now)  # not due yet (nor the later steps): the next due time
            if later.any():
                self._soonest(index[later], fire[later])
                alive &= ~later
            if not alive.any():
                break
            self.chunks.append(
                Chunk(
                    cls,
                    rule.id,
                    name,
                    manager,
                    (reassign,) if cls is Escalation else (),
                    index[alive],
                    start[alive],
                    fire[alive],
                    due[alive],
                    self.compiled.fallback,
                )
            )

    def cadence(self, rule: CompiledRule, index: Any) -> None:
        np = self.np
        rec = rule.recurrence
        assert rec is not None
        start = self.col(rule.trigger_index)[index]
        keep = start != _NULL
        index, start = index[keep], start[keep]
        if not len(index):
            return
        now = self.now_all[index]
        closed = self.col(F_CLOSED)[index] if rule.closes else None
        if closed is not None:
            running = (closed == _NULL) | (closed > now)  # open at ``now`` (a close may follow)
            horizon = np.where(running, now, closed - 1)
        else:
            running = np.ones(len(index), dtype=bool)
            horizon = now
        step = rec.delta // US if isinstance(rec.delta, timedelta) else None
        if (
            step is None
            or step <= 0
            or rec.limited
            or not fixed_offset(rec.tz, int(start.min()), self.now_max + step)
        ):
            facts, states, objects = self.facts, self.states, self.objects
            cad = self.engine.cadence
            now_all = self.now_all
            for i in index.tolist():
                before = len(objects)
                self._soonest_one(i, cad(rule, facts[i], states[i], int(now_all[i]), objects))
                self.object_index.extend([i] * (len(objects) - before))
            return
        k = (horizon - start) // step  # the latest occurrence in (start, horizon], if >= 1
        # the next occurrence after the horizon, while the record is open, and before a close
        # still to come (as SlaEngine.cadence; closed periods go through the engine: pauses)
        after = start + (np.maximum(k, 0) + 1) * step
        if closed is not None:
            running &= (closed == _NULL) | (after < closed)
        self._soonest(index[running], after[running])
        # a reminder at each occurrence not followed by the target (as SlaEngine._cadence): the
        # occurrences after the target's last instant t (at or after it for a contact target,
        # which is strict); k0 is the first of them
        if rule.target_index >= 0:
            t = self.col(rule.target_index)[index]
        elif rule.target is Target.ACTION:
            t = self.latest_action_col(index, rule.action)
        else:
            t = np.full(len(index), _NULL, dtype=np.int64)
        known = t != _NULL
        gap = np.where(known, t - start, 0)
        if rule.strict:
            k0 = np.where(known, -((-gap) // step), 1)  # ceil(gap / step): o >= t
        else:
            k0 = np.where(known, gap // step + 1, 1)  # o > t
        k0 = np.maximum(k0, 1)
        count = np.maximum(k - k0 + 1, 0)
        if count.any():
            rows = np.repeat(np.arange(len(index)), count)
            # the occurrence number of each output row: k0, k0 + 1, ... per state (ascending)
            first_out = np.cumsum(count) - count
            ks = k0[rows] + (np.arange(len(rows)) - first_out[rows])
            occurrence = start[rows] + ks * step
            self.chunks.append(
                Chunk(
                    Reminder, rule.id, "due", False, (), index[rows], occurrence, occurrence,
                    occurrence,
                )
            )  # fmt: skip

    def risk(self, risk: CompiledRisk, index: Any) -> None:
        np = self.np
        open_ = self.col(F_CLOSED)[index] == _NULL
        index = index[open_]
        if risk.signal is RiskSignal.PLAN_DELAYED or risk.count_field is None:
            due = self.col(F_PLAN_DUE)[index]
            facts, states, objects = self.facts, self.states, self.objects
            now_all = self.now_all
            for i in index[due != _NULL].tolist():
                before = len(objects)
                self._soonest_one(
                    i, evaluate_risk(risk, facts[i], states[i], int(now_all[i]), objects)
                )
                self.object_index.extend([i] * (len(objects) - before))
            return
        value = self.col(risk.count_index)[index]
        reached = value >= risk.lowest
        index, value = index[reached], value[reached]
        if not len(index):
            return
        created = self.col(F_CREATED)[index]
        if risk.signal is RiskSignal.UNANSWERED_STREAK:
            reply = self.col(F_LAST_REPLY)[index]
            start = np.where(reply != _NULL, reply, created)
            signal_at = self.col(F_LAST_CONTACT)[index]
        else:
            start = created
            signal_at = self.col(
                F_LAST_OBJECTION if risk.signal is RiskSignal.OBJECTIONS else F_LAST_NEEDS
            )[index]
        at = np.where(signal_at != _NULL, signal_at, start)
        undecided = at <= self.now_all[index]
        self._soonest(index[~undecided], at[~undecided])  # a signal dated after now: due then
        for threshold, level in risk.levels:  # from the highest level down
            hit = undecided & (value >= threshold)
            if not hit.any():
                continue
            undecided &= ~hit
            rows = index[hit]
            self.chunks.append(
                Chunk(
                    RiskFlag,
                    risk.id,
                    f"risk-{level.value}",
                    False,
                    (risk.signal.value, level.value, value[hit].astype(np.float64)),
                    rows,
                    start[hit],
                    at[hit],
                    None,
                )
            )
            if risk.escalate_rank is not None and LEVEL_ORDER[level] >= risk.escalate_rank:
                self.chunks.append(
                    Chunk(
                        Escalation,
                        risk.id,
                        f"escalate-{level.value}",
                        True,
                        (False,),
                        rows,
                        start[hit],
                        at[hit],
                        None,
                        self.compiled.fallback,
                    )
                )
