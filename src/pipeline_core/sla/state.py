"""The per-subject facts the SLA engine reads: :class:`SlaState`, and :func:`state_from_records`.

A state is a compact summary of one lead, opportunity or customer account and its follow-up
history: when it was created, its stage and since when, its grade, its first touch, first call,
last contact and last reply, how many contacts in a row went unanswered, objections and changes of
needs, named actions done, pauses, and after the sale the won date and the contract end. The engine
is a pure function of (policy, state, now): build states with :func:`state_from_records` or directly.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from pipeline_core import facts
from pipeline_core._values import FrozenDict, iana_zone
from pipeline_core.clock import require_aware
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.facts import StageKinds
from pipeline_core.records import (
    Account,
    Activity,
    ActivityKind,
    Lead,
    Opportunity,
    Outcome,
    StageEvent,
)
from pipeline_core.sla.compiled import CLOSED_PAUSE, FACT_TIMES, compute_facts

__all__ = [
    "ACTION_EVIDENCE",
    "CLOSED_PAUSE",
    "Evidence",
    "Pause",
    "SlaState",
    "state_from_records",
]


@attrs.frozen
class Pause:
    """An interval during which clocks whose rule pauses on ``reason`` stop (``end`` None: ongoing)."""

    reason: str
    start: datetime
    end: datetime | None = None


_NO_ACTIONS: FrozenDict = FrozenDict()


def _frozen(value: Mapping[str, datetime]) -> FrozenDict:
    return value if isinstance(value, FrozenDict) else FrozenDict(value)


def _frozen_times(value: Mapping[str, Iterable[datetime]]) -> FrozenDict:
    if isinstance(value, FrozenDict):
        return value
    return FrozenDict({k: tuple(v) for k, v in value.items()})


def _not_aware(value: object, path: tuple[str | int, ...]) -> list[Problem]:
    """The problems of ``value`` as an aware instant at ``path`` (none when it is one)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return []
    try:
        require_aware(value, str(path[0]))  # type: ignore[arg-type]
    except ValidationError as exc:
        return [attrs.evolve(p, path=path) for p in exc.problems]
    return []


@functools.cache
def _times() -> tuple[str, ...]:
    """The instants of :data:`FACT_TIMES` in the order of the state's fields (checked in it)."""
    return tuple(f.name for f in attrs.fields(SlaState) if f.name in FACT_TIMES)


def _check(state: SlaState) -> None:
    problems: list[Problem] = []
    for name in _times():
        value = getattr(state, name)
        if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
            continue
        try:
            require_aware(value, name)
        except ValidationError as exc:
            problems.extend(exc.problems)
    if state.backfilled_until is not None:  # not a fact of the layout: checked on its own
        problems.extend(_not_aware(state.backfilled_until, ("backfilled_until",)))
    for name, times in state.action_times.items():
        for j, value in enumerate(times):
            problems.extend(_not_aware(value, ("action_times", name, j)))
    for i, pause in enumerate(state.pauses):
        for part in ("start", "end"):
            value = getattr(pause, part)
            if value is not None:
                problems.extend(_not_aware(value, ("pauses", i, part)))
        if pause.end is not None and pause.end < pause.start:
            problems.append(
                Problem(("pauses", i, "end"), "cannot be before start", pause.end, "before_start")
            )
    for i, period in enumerate(state.closed_periods):
        if not isinstance(period, tuple) or len(period) != 2:
            problems.append(
                Problem(("closed_periods", i), "expected a (close, reopen) pair", period, "type")
            )
            continue
        for j, value in enumerate(period):
            problems.extend(_not_aware(value, ("closed_periods", i, j)))
        if all(isinstance(v, datetime) and v.tzinfo for v in period) and period[1] < period[0]:
            problems.append(
                Problem(("closed_periods", i, 1), "cannot be before the close", period[1],
                        "before_start")
            )  # fmt: skip
    if state.timezone is not None:
        try:
            iana_zone(state.timezone)
        except ValueError:
            problems.append(
                Problem(
                    ("timezone",),
                    "unknown IANA time zone; expected e.g. 'Asia/Shanghai'",
                    state.timezone,
                    "unknown_timezone",
                )
            )
    for name in ("owner_id", "manager_id"):
        value = getattr(state, name)
        if isinstance(value, str) and facts.is_missing(value):
            # a blank id would be a recipient nobody is: None says "nobody" (item.unrouted)
            problems.append(
                Problem((name,), "blank; use None when there is nobody", value, "blank")
            )
    for name in ("unanswered", "objections", "needs_changes"):
        if getattr(state, name) < 0:
            problems.append(
                Problem((name,), "cannot be negative", getattr(state, name), "negative")
            )
    if problems:
        raise ValidationError("SlaState", problems)


@attrs.frozen(kw_only=True)
class SlaState:
    """What the SLA engine knows of one subject (lead, opportunity or account) at some moment.

    All instants are timezone-aware. ``kind`` is ``"lead"``, ``"opportunity"`` or ``"account"``.
    ``unanswered`` counts the latest contacts in a row with no reply. ``actions`` maps named actions
    done (``"needs_analysis"``, ``"survey"``, stage SOP action ids) to when they were last done;
    ``action_times`` to every instant they were done (:func:`state_from_records` fills both). A
    rule on an action is met by its first doing at or after the clock's start.
    ``pauses`` hold pause intervals (e.g. reason ``"waiting_on_customer"``). ``closed_at`` is set
    when the lead/opportunity is closed (won, lost, converted, disqualified). ``timezone``: the
    IANA zone of the owner's day (:func:`pipeline_core.sla.zone_of`; ``None``: the policy
    calendar's): calendar-time durations of whole days and recurrences count its local days.
    ``closed_periods``: earlier ``(close, reopen)`` periods of a deal closed and reopened (won
    on 10 Jan, reopened on 10 Feb): the clocks of rules that run while the record is open stop
    during them, as during a pause (:data:`CLOSED_PAUSE`), and no step fires inside one.
    ``owner_id`` / ``manager_id``: ``None`` when there is nobody (items for them are then
    :attr:`~pipeline_core.sla.items.Item.unrouted`); a blank id raises ``ValidationError``.
    ``backfilled_until``: the subject is imported history up to this instant
    (:func:`pipeline_core.facts.backfilled_until`): no item whose deadline is before it.
    """

    subject_id: str
    created_at: datetime
    kind: str = "opportunity"
    owner_id: str | None = None
    manager_id: str | None = None
    owner_role: str | None = None
    stage: str | None = None
    stage_entered_at: datetime | None = None
    grade: str | None = None
    grade_at: datetime | None = None
    source: str | None = None
    tags: frozenset[str] = frozenset()
    first_touch_at: datetime | None = None
    first_call_at: datetime | None = None
    last_contact_at: datetime | None = None
    last_reply_at: datetime | None = None
    unanswered: int = 0
    objections: int = 0
    last_objection_at: datetime | None = None
    needs_changes: int = 0
    last_needs_change_at: datetime | None = None
    plan_due_at: datetime | None = None
    plan_confirmed_at: datetime | None = None
    actions: Mapping[str, datetime] = attrs.field(default=_NO_ACTIONS, converter=_frozen)
    action_times: Mapping[str, tuple[datetime, ...]] = attrs.field(
        default=_NO_ACTIONS, converter=_frozen_times
    )
    won_at: datetime | None = None
    contract_end_at: datetime | None = None
    closed_at: datetime | None = None
    pauses: tuple[Pause, ...] = ()
    timezone: str | None = None
    closed_periods: tuple[tuple[datetime, datetime], ...] = ()
    backfilled_until: datetime | None = None
    compact_facts: tuple[Any, ...] = attrs.field(default=(), init=False, eq=False, repr=False)
    """The state's compact facts (:func:`pipeline_core.sla.compiled.compute_facts`), computed
    once when it is built: what every evaluation path reads."""

    def __attrs_post_init__(self) -> None:
        _check(self)
        object.__setattr__(self, "compact_facts", compute_facts(self))

    @property
    def paused(self) -> bool:
        """Whether a pause is ongoing."""
        return any(p.end is None for p in self.pauses)

    def evolve(self, **changes: Any) -> SlaState:
        """A copy with ``changes`` applied (validated)."""
        return attrs.evolve(self, **changes)


@attrs.frozen
class Evidence:
    """Which activities count as doing a named action (a stage SOP action, a policy action).

    ``kinds``: the activity kinds that count (empty: any kind). ``reached``: only when the
    customer was reached (the activity has ``replied=True`` or a recorded ``outcome``).
    """

    kinds: frozenset[ActivityKind] = frozenset()
    reached: bool = False

    def __call__(self, activity: Activity) -> bool:
        """Whether ``activity`` counts as doing the action."""
        if self.kinds and activity.kind not in self.kinds:
            return False
        return not self.reached or activity.replied or activity.outcome is not None


_VISITING: Final = frozenset({ActivityKind.VISIT, ActivityKind.CALL, ActivityKind.MEETING})

ACTION_EVIDENCE: Final[Mapping[str, Evidence]] = FrozenDict(
    {
        # the first phone call: any call, as the first_call target reads it
        "first_call": Evidence(frozenset({ActivityKind.CALL})),
        # a first touch, a response to a lead, a chase after no reply: any follow-up activity
        "first_touch": Evidence(),
        "respond": Evidence(),
        "chase_reply": Evidence(),
        # a revisit (weekly, first care, satisfaction): a visit, call or meeting that reached
        # the customer
        "weekly_revisit": Evidence(_VISITING, reached=True),
        "first_revisit": Evidence(_VISITING, reached=True),
        "satisfaction_revisit": Evidence(_VISITING, reached=True),
    }
)
"""The actions an activity does by its kind and outcome, without an ``action:<id>`` tag (the
stage SOP actions of :mod:`pipeline_core.stages.templates` and the default policy). Deliverables
(``needs_analysis``, ``survey``, ``renewal``, a quote) need the explicit tag."""


def state_from_records(
    subject: Lead | Opportunity | Account,
    activities: Iterable[Activity] = (),
    *,
    grade: str | None = None,
    grade_at: datetime | None = None,
    manager_id: str | None = None,
    owner_role: str | None = None,
    won_at: datetime | None = None,
    contract_end_at: datetime | None = None,
    plan_due_at: datetime | None = None,
    plan_confirmed_at: datetime | None = None,
    pause_tags: Iterable[str] = ("waiting_on_customer",),
    paused_since: datetime | None = None,
    objection_tag: str = "objection",
    needs_change_tag: str = "needs_changed",
    action_tag_prefix: str = "action:",
    pipeline: StageKinds | None = None,
    events: Iterable[StageEvent] | None = None,
    evidence: Mapping[str, Evidence] = ACTION_EVIDENCE,
    timezone: str | None = None,
) -> SlaState:
    """Summarise a record and its activities into an :class:`SlaState`.

    Reads from the activities: first touch (any kind), first call, last contact, last reply
    (``replied=True``), the unanswered streak (contacts since the last reply), objections (activities
    tagged ``objection_tag`` or with outcome ``averse``), changes of needs (tagged
    ``needs_change_tag``) and named actions: tags ``"action:<id>"`` (e.g.
    ``action:needs_analysis``), and the actions an activity does by its kind and outcome
    (``evidence``, default :data:`ACTION_EVIDENCE`: a visit that reached the customer is a
    ``weekly_revisit``). A pause tag on the record (``waiting_on_customer``) is an ongoing pause
    since ``paused_since``, or else since the latest of the last contact, the stage entry and the
    creation.

    **Won** (after-sale rules) is decided by the stage's kind (:mod:`pipeline_core.facts`), never
    by ``won_reason``: with ``events`` (the deal's stage history) and ``pipeline``, the win instant
    is the won stage event's (:func:`pipeline_core.facts.win_instant`); with ``pipeline`` alone, a
    deal in a won stage was won at its ``closed_at`` (the first entry into a closed stage, as
    ``Pipeline.move`` sets it). Without ``pipeline`` the template named by the deal's
    ``pipeline`` is used; an explicit ``won_at`` wins over all of these.

    ``timezone``: the zone of the owner's day (:func:`pipeline_core.sla.zone_of`).

    **Closed periods**: with ``events``, the periods a reopen ended (won on 10 Jan, reopened on
    10 Feb: 10 Jan-10 Feb) become :attr:`SlaState.closed_periods`
    (:func:`pipeline_core.facts.closed_periods`); the clocks stop during them.

    **Grade clock**: ``grade_at`` defaults to the lead's ``graded_at`` (the instant of the last
    grade change), else its creation.
    """
    acts = sorted(activities, key=lambda a: a.at)
    first_touch = acts[0].at if acts else None
    first_call = next((a.at for a in acts if a.kind is ActivityKind.CALL), None)
    last_contact = acts[-1].at if acts else None
    last_reply = None
    unanswered = 0
    objections = 0
    last_objection = None
    needs_changes = 0
    last_needs_change = None
    actions: dict[str, datetime] = {}
    action_times: dict[str, list[datetime]] = {}
    for a in acts:
        if a.replied:
            last_reply = a.at
            unanswered = 0
        else:
            unanswered += 1
        if objection_tag in a.tags or a.outcome is Outcome.AVERSE:
            objections += 1
            last_objection = a.at
        if needs_change_tag in a.tags:
            needs_changes += 1
            last_needs_change = a.at
        done = {
            tag[len(action_tag_prefix) :] for tag in a.tags if tag.startswith(action_tag_prefix)
        }
        done.update(name for name, counts in evidence.items() if counts(a))
        for name in done:
            actions[name] = a.at
            action_times.setdefault(name, []).append(a.at)
    kind = (
        "lead"
        if isinstance(subject, Lead)
        else "account"
        if isinstance(subject, Account)
        else "opportunity"
    )
    stage = None
    stage_entered = None
    closed_at = None
    source = subject.source
    closed_periods: tuple[tuple[datetime, datetime], ...] = ()
    if isinstance(subject, Opportunity):
        stage, stage_entered, closed_at = subject.stage, subject.stage_entered_at, subject.closed_at
        closed_periods, won_by_stage = _deal_history(subject, pipeline, events)
        if won_at is None:
            won_at = won_by_stage
    elif isinstance(subject, Lead):
        stage = subject.status.value
        if subject.status.value in ("converted", "disqualified"):
            closed_at = last_contact or subject.created_at
        if grade_at is None and grade is not None:
            grade_at = subject.graded_at
    elif isinstance(subject, Account) and won_at is None:
        won_at = subject.customer_since
    pauses: tuple[Pause, ...] = ()
    matched = set(pause_tags) & set(subject.tags)
    if matched:
        since = paused_since or max(
            t for t in (last_contact, stage_entered, subject.created_at) if t is not None
        )
        pauses = tuple(Pause(reason, since) for reason in sorted(matched))
    return SlaState(
        subject_id=subject.id,
        kind=kind,
        created_at=subject.created_at,
        owner_id=subject.owner_id,
        manager_id=manager_id,
        owner_role=owner_role,
        stage=stage,
        stage_entered_at=stage_entered,
        grade=grade,
        grade_at=grade_at if grade_at is not None or grade is None else subject.created_at,
        source=source,
        tags=frozenset(subject.tags),
        first_touch_at=first_touch,
        first_call_at=first_call,
        last_contact_at=last_contact,
        last_reply_at=last_reply,
        unanswered=unanswered,
        objections=objections,
        last_objection_at=last_objection,
        needs_changes=needs_changes,
        last_needs_change_at=last_needs_change,
        plan_due_at=plan_due_at,
        plan_confirmed_at=plan_confirmed_at,
        actions=actions,
        action_times={k: tuple(v) for k, v in action_times.items()},
        won_at=won_at,
        contract_end_at=contract_end_at,
        closed_at=closed_at,
        pauses=pauses,
        timezone=timezone,
        closed_periods=closed_periods,
        backfilled_until=facts.backfilled_until(subject),
    )


def _deal_history(
    deal: Opportunity, pipeline: StageKinds | None, events: Iterable[StageEvent] | None
) -> tuple[tuple[tuple[datetime, datetime], ...], datetime | None]:
    """The closed periods of ``deal`` that a reopen ended (``facts.closed_periods``) and its win
    instant by its stage's kind (see :func:`state_from_records`): one reading of the events."""
    from pipeline_core.stages.templates import stages_of  # the stage layer, only when needed

    stages = stages_of(deal, pipeline)
    if stages is None:
        return (), None
    mine = [] if events is None else [e for e in events if e.opportunity_id == deal.id]
    if not mine:
        return (), deal.closed_at if facts.is_won_stage(deal.stage, stages) else None
    periods = tuple((a, b) for a, b in facts.closed_periods(mine, stages) if b is not None)
    return periods, facts.win_instant(mine, stages)
