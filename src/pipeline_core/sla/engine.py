"""The SLA engine: a pure function from (policy, state, now) to the items currently due.

:meth:`SlaEngine.evaluate` returns every reminder, breach, escalation and risk flag that has become
due by ``now`` for one subject's state. It is *pure*: the same state and ``now`` give the same items
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

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence, Set
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from pipeline_core._fastbuild import builder
from pipeline_core.clock import require_aware
from pipeline_core.records import SlaOutcome
from pipeline_core.sla.calendar import US, BusinessCalendar, add_days, from_us, to_us
from pipeline_core.sla.items import FAST, Breach, Escalation, Item, Reminder, route_up
from pipeline_core.sla.policy import (
    PipelineLike,
    Policy,
    Recipient,
    RiskRule,
    Rule,
    StepAction,
    Target,
    TimeBasis,
    Trigger,
    parse_recurrence,
)
from pipeline_core.sla.risk import CompiledRisk, compile_risk
from pipeline_core.sla.state import CLOSED_PAUSE, SlaState, compute_facts

if TYPE_CHECKING:
    from pipeline_core.sla.batch import DueItems

__all__ = ["SlaEngine", "action_done", "compute_facts", "pause_union"]

# indices into the compact facts tuple
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
F_ACTIONS: Final = 14
F_PAUSES: Final = 15
F_KEY: Final = 16
F_UNANSWERED: Final = 17
F_OBJECTIONS: Final = 18
F_NEEDS_CHANGES: Final = 19
F_TZ: Final = 20  # the zone of the owner's day (None: the calendar's)
_DAY_US: Final = 86_400_000_000

_TRIGGER_INDEX: Final = {
    Trigger.CREATED: F_CREATED,
    Trigger.STAGE_ENTERED: F_STAGE,
    Trigger.GRADE_ASSIGNED: F_GRADE,
    Trigger.ACTIVITY_LOGGED: F_LAST_CONTACT,
    Trigger.LAST_CONTACT: F_LAST_CONTACT,
    Trigger.WON: F_WON,
    Trigger.CONTRACT_END: F_CONTRACT_END,
}
_TARGET_INDEX: Final = {
    Target.FIRST_TOUCH: F_FIRST_TOUCH,
    Target.FIRST_CALL: F_FIRST_CALL,
    Target.CONTACT: F_LAST_CONTACT,
    Target.REPLY: F_LAST_REPLY,
}

_KIND_OF_STEP: Final = {
    StepAction.REMIND: Reminder,
    StepAction.BREACH: Breach,
    StepAction.ESCALATE: Escalation,
    StepAction.REASSIGN: Escalation,
}


_NEW_REMINDER: Final = FAST[Reminder]
# SlaOutcome from values valid by construction, in field order (see pipeline_core._fastbuild)
_NEW_OUTCOME: Final = builder(
    SlaOutcome,
    [name for name, _ in SlaOutcome.__pc_fields__],
    [(name, name) for name, _ in SlaOutcome.__pc_fields__],
    name="new_outcome",
)


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


def _out_of_closed(fire: int, spans: Sequence[tuple[int, int]]) -> int:
    """``fire``, or the reopen instant when it falls inside a closed period (nothing is due
    while the record was closed)."""
    for a, b in spans:
        if a <= fire < b:
            fire = b
    return fire


class _Recurrence:
    """Occurrences of a recurrence after a start, in the calendar's timezone.

    One semantics on every path: a rule of only ``FREQ`` (``DAILY``, ``WEEKLY``, ``MONTHLY``,
    ``YEARLY``), ``INTERVAL``, ``WKST`` (no effect without ``BYDAY``), ``COUNT`` and ``UNTIL``
    steps from the start by whole wall-clock days or weeks, or by calendar months or years
    **clamped to the month end** (``dateutil.relativedelta``: 31 March + 3 months = 30 June,
    + 6 months = 30 September; each occurrence counted from the start, so it never drifts to the
    30th). RFC 5545 would instead *skip* months without a 31st, so a quarterly survey from
    31 March would first come on 31 December: a sales team means "every 3 months". Rules with
    ``BY*`` parts (``BYDAY=MO``, ``BYMONTHDAY=-1``) say exactly which days they mean and follow
    RFC 5545 (``dateutil.rrule``).
    """

    __slots__ = ("count", "delta", "text", "tz", "until")

    _SIMPLE: Final = frozenset({"FREQ", "INTERVAL", "WKST", "COUNT", "UNTIL"})

    def __init__(self, text: str, calendar: BusinessCalendar) -> None:
        self.text = text
        self.tz = calendar.tz
        self.delta: relativedelta | timedelta | None = None
        self.count: int | None = None  # occurrences after the start (RFC COUNT counts the start)
        self.until: int | None = None  # µs
        parts = dict(
            p.split("=", 1) for p in text.upper().removeprefix("RRULE:").split(";") if "=" in p
        )
        if set(parts) <= self._SIMPLE:
            n = int(parts.get("INTERVAL", "1"))
            freq = parts.get("FREQ")
            if freq == "DAILY":
                self.delta = timedelta(days=n)
            elif freq == "WEEKLY":
                self.delta = timedelta(weeks=n)
            elif freq == "MONTHLY":
                self.delta = relativedelta(months=n)
            elif freq == "YEARLY":
                self.delta = relativedelta(years=n)
            if self.delta is not None and ("COUNT" in parts or "UNTIL" in parts):
                parsed = parse_recurrence(text, _RRULE_START)
                count = getattr(parsed, "_count", None)
                until = getattr(parsed, "_until", None)
                self.count = None if count is None else int(count) - 1
                self.until = None if until is None else to_us(until)

    @property
    def limited(self) -> bool:
        """Whether the occurrences end (``COUNT`` or ``UNTIL``)."""
        return self.count is not None or self.until is not None

    def _at(self, local: datetime, k: int) -> int:
        assert self.delta is not None
        return to_us(local + self.delta * k)

    def _exists(self, local: datetime, k: int) -> bool:
        if self.count is not None and k > self.count:
            return False
        return self.until is None or self._at(local, k) <= self.until

    def _latest(self, local: datetime, start: int, now: int) -> tuple[int, int]:
        """Fixed steps: (k of the latest step at or before ``now``, 0 if none; the next step's
        instant), ignoring ``COUNT``/``UNTIL``."""
        delta = self.delta
        assert delta is not None
        if isinstance(delta, timedelta):
            step = delta // US
            k = max(1, (now - start) // step)
        else:
            k = max(1, int((now - start) / (_approx_days(delta) * 86_400_000_000)) - 1)
        first = self._at(local, 1)
        if first > now:
            return 0, first
        while k > 1 and self._at(local, k) > now:
            k -= 1
        after = self._at(local, k + 1)
        while after <= now:
            k += 1
            after = self._at(local, k + 1)
        return k, after

    def after(self, start: int, now: int, tz: ZoneInfo | None = None) -> int | None:
        """The first occurrence after ``now`` (µs), or ``None``."""
        local = from_us(start, self.tz if tz is None else tz)
        if self.delta is not None:
            k, after = self._latest(local, start, now)
            return after if self._exists(local, k + 1) else None
        nxt = parse_recurrence(self.text, local).after(
            from_us(now, self.tz if tz is None else tz), inc=False
        )
        return None if nxt is None else to_us(nxt)

    def back(self, start: int, now: int, tz: ZoneInfo | None = None) -> Iterator[int]:
        """The occurrences in (start, now] (µs), **latest first**, counted on the wall clock of
        ``tz`` (default: the calendar's zone). Lazy: a caller stops at the first one it does
        not need (a cadence at the first occurrence followed by its target)."""
        zone = self.tz if tz is None else tz
        local = from_us(start, zone)
        if self.delta is not None:
            k, _ = self._latest(local, start, now)
            if self.count is not None:
                k = min(k, self.count)
            while k >= 1:
                if self._exists(local, k):
                    yield self._at(local, k)
                k -= 1
            return
        rule = parse_recurrence(self.text, local)
        t = rule.before(from_us(now, zone), inc=True)
        while t is not None:
            t_us = to_us(t)
            if t_us <= start:
                return
            yield t_us
            t = rule.before(t, inc=False)


_RRULE_START: Final = datetime(2000, 1, 1, tzinfo=UTC)


def _approx_days(delta: relativedelta) -> float:
    return max(1.0, delta.years * 365.25 + delta.months * 30.4 + delta.days)


class _Compiled:
    """A rule ready for the hot path: plain attributes, durations in µs."""

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
        self.rule = rule
        self.id = rule.obligation or rule.id  # the id items and outcomes carry
        self.trigger_index = _TRIGGER_INDEX[rule.trigger]
        self.from_created = rule.trigger is Trigger.LAST_CONTACT
        # steps before the start fire at the start, except before a contract end (the point)
        self.clamp = rule.trigger is not Trigger.CONTRACT_END
        self.target = rule.target
        self.target_index = _TARGET_INDEX.get(rule.target, -1)
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
            None if rule.recurrence is None else _Recurrence(rule.recurrence, calendar)
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


def _matches(rule: Rule | RiskRule, state: SlaState) -> bool:
    c = rule.conditions
    if c.sources and state.source not in c.sources:
        return False
    if c.tags_any and not (c.tags_any & state.tags):
        return False
    if c.tags_none and (c.tags_none & state.tags):
        return False
    return not (c.owner_roles and state.owner_role not in c.owner_roles)


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
        self._rules = tuple(_Compiled(r, self.calendar) for r in policy.rules)
        self.fallback = policy.fallback_recipient
        self._risks = tuple(compile_risk(r, self.fallback, self.calendar.tz) for r in policy.risks)
        self._by_key: dict[
            tuple[str, str | None, str | None],
            tuple[tuple[_Compiled, ...], tuple[CompiledRisk, ...], bool],
        ] = {}

    # -- rule selection ------------------------------------------------------------------------

    def _applicable(
        self, state: SlaState
    ) -> tuple[tuple[_Compiled, ...], tuple[CompiledRisk, ...]]:
        found = self._by_key.get(state._facts[F_KEY])
        if found is None:
            found = self._plan(state._facts[F_KEY])
        rules, risks, dynamic = found
        if dynamic:
            rules = tuple(r for r in rules if not r.dynamic or _matches(r.rule, state))
            risks = tuple(r for r in risks if not r.dynamic or _matches(r.rule, state))
        return rules, risks

    def _plan(
        self, key: tuple[str, str | None, str | None]
    ) -> tuple[tuple[_Compiled, ...], tuple[CompiledRisk, ...], bool]:
        """The rules and risks a (kind, stage, grade) key selects, and whether some of them have
        conditions on other fields (source, tags, owner role), cached."""
        found = self._by_key.get(key)
        if found is None:
            rules = tuple(r for r in self._rules if _static_match(r.rule.conditions, key))
            risks = tuple(r for r in self._risks if _static_match(r.rule.conditions, key))
            dynamic = any(r.dynamic for r in rules) or any(r.dynamic for r in risks)
            found = self._by_key[key] = (rules, risks, dynamic)
        return found

    # -- evaluation ------------------------------------------------------------------------------

    def evaluate(self, state: SlaState, now: datetime) -> list[Item]:
        """Every item due by ``now`` for ``state`` (reminders, breaches, escalations, risk flags)."""
        items, _ = self.scan(state, to_us(require_aware(now, "now")))
        return items

    def next_due(self, state: SlaState, now: datetime) -> datetime | None:
        """The first instant after ``now`` at which a new item would become due, or ``None``."""
        _, nxt = self.scan(state, to_us(require_aware(now, "now")))
        return None if nxt is None else from_us(nxt)

    def scan(self, state: SlaState, now: int) -> tuple[list[Item], int | None]:
        """Items due by ``now`` (µs since the epoch) and the next due instant in µs (hot path)."""
        facts = state._facts
        rules, risks = self._applicable(state)
        items: list[Item] = []
        nxt: int | None = None
        for rule in rules:
            if rule.recurrence is None:
                t = self._deadline(rule, facts, state, now, items)
            else:
                t = self._cadence(rule, facts, state, now, items)
            if t is not None and (nxt is None or t < nxt):
                nxt = t
        for risk in risks:
            t = risk.evaluate(facts, state, now, items)
            if t is not None and (nxt is None or t < nxt):
                nxt = t
        if state.backfilled_until is not None:  # imported history: its past deadlines are quiet
            cut = to_us(state.backfilled_until)
            items = [i for i in items if i.due_us is None or i.due_us >= cut]
        return items, nxt

    def evaluate_batch(self, states: Iterable[SlaState], now: datetime) -> DueItems:
        """Every item due by ``now`` for many states (a full evaluation), computed column-wise:
        the same items as :meth:`evaluate` on each state, kept as columns until read. See
        :func:`pipeline_core.sla.batch.evaluate_batch`."""
        from pipeline_core.sla.batch import evaluate_batch

        return evaluate_batch(self, states, now)

    def evaluate_many(self, states: Iterable[SlaState], now: datetime) -> Iterator[Item]:
        """Items due by ``now`` for many states (a full scan), streamed."""
        now_us = to_us(require_aware(now, "now"))
        scan = self.scan
        for state in states:
            yield from scan(state, now_us)[0]

    # -- one clock ---------------------------------------------------------------------------------

    def _met(self, rule: _Compiled, facts: tuple[Any, ...], start: int) -> int | None:
        if rule.target_index >= 0:
            t = facts[rule.target_index]
        elif rule.target is Target.ACTION:
            return action_done(facts[F_ACTIONS].get(rule.action), start)
        else:  # stage exit: seen only by a transition to another stage
            return None
        if t is None or t < start or (rule.strict and t == start):
            return None
        return t  # type: ignore[no-any-return]

    def _due(self, rule: _Compiled, facts: tuple[Any, ...], start: int) -> int | None:
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

    def _measure(self, rule: _Compiled, a: int, b: int) -> int:
        return self.calendar.between_us(a, b) if rule.business else b - a

    def _paused(self, rule: _Compiled, facts: tuple[Any, ...], start: int, end: int) -> int:
        total = 0
        if rule.pause_on:
            for p_start, p_end in pause_union(facts[F_PAUSES], rule.pause_on):
                a = max(p_start, start)
                b = end if p_end is None else min(p_end, end)
                if b > a:
                    total += self._measure(rule, a, b)
        return total

    def fire_at(
        self, rule: _Compiled, due: int, offset: int, start: int, tz: ZoneInfo | None = None
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
        self, rule: _Compiled, facts: tuple[Any, ...], state: SlaState, now: int, items: list[Item]
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
                clock = cal._clock
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
            elif plain and offset % _DAY_US:
                fire = due + offset
                if fire < start and rule.clamp:
                    fire = start
            else:
                fire = fire_at(rule, due, offset, start, tz)
            if spans:
                fire = _out_of_closed(fire, spans)
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

    def _cadence(
        self, rule: _Compiled, facts: tuple[Any, ...], state: SlaState, now: int, items: list[Item]
    ) -> int | None:
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
            if spans and _out_of_closed(occurrence, spans) != occurrence:
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
        if closed is not None:
            return None
        return recurrence.after(start, horizon, tz)

    # -- outcomes ----------------------------------------------------------------------------------

    def _outcome(
        self,
        rule: _Compiled,
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

    def _clocks(self, state: SlaState) -> list[tuple[_Compiled, int]]:
        """The deadline clocks of ``state`` that have started: (rule, start µs)."""
        facts = state._facts
        rules, _ = self._applicable(state)
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
        self, state: SlaState, clocks: list[tuple[_Compiled, int]]
    ) -> set[tuple[str, int]]:
        facts = state._facts
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
        self, state: SlaState, clocks: list[tuple[_Compiled, int]], skip: Set[tuple[str, int]]
    ) -> list[SlaOutcome]:
        facts = state._facts
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
        old_clocks: list[tuple[_Compiled, int]],
        new_clocks: list[tuple[_Compiled, int]],
    ) -> list[SlaOutcome]:
        old_facts = old._facts
        new_facts = new._facts
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
        facts = state._facts
        out = []
        for rule, start in self._clocks(state):
            if self._met(rule, facts, start) is not None:
                continue
            if rule.closes and facts[F_CLOSED] is not None:
                continue
            due = self._due(rule, facts, start)
            out.append((rule.id, from_us(start), None if due is None else from_us(due)))
        return out


def _static_match(conditions: Any, key: tuple[str, str | None, str | None]) -> bool:
    kind, stage, grade = key
    if conditions.kinds and kind not in conditions.kinds:
        return False
    if conditions.stages and stage not in conditions.stages:
        return False
    if conditions.stages_none and stage in conditions.stages_none:
        return False
    return not (conditions.grades and grade not in conditions.grades)


def as_items(values: Sequence[Item]) -> list[dict[str, object]]:
    """Plain data of items (for JSON output)."""
    return [v.to_dict() for v in values]
