"""Backtest a policy: replay historical records and report what it would have fired.

:func:`backtest_policy` rebuilds each subject's state event by event (stage moves and activities, in time
order), drives an :class:`~pipeline_core.sla.agenda.Agenda` through the history, and returns a
:class:`PolicyBacktestReport`: every item the policy would have fired, every SLA outcome, and per rule the
counts and the breach rate, so a team can tune a policy in a notebook::

    company = generate(SampleConfig(seed=7, n_leads=2_000))
    report = backtest_policy(default_policy(), opportunities=company.opportunities(),
                      stage_events=company.stage_events(), activities=company.activities(),
                      until=company.config.end)
    pandas.DataFrame(report.rows())

Breach rate follows the Zendesk definition: breached / all clocks that finished or are overdue, where
omissions (the record closed before the target) and clocks still open past their deadline at
``until`` count as breached.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from pipeline_core.clock import require_aware
from pipeline_core.facts import StageKinds, is_won_stage, sorted_events
from pipeline_core.records import (
    Activity,
    ActivityKind,
    Lead,
    LeadStatus,
    Opportunity,
    Outcome,
    SlaOutcome,
    StageEvent,
)
from pipeline_core.sla.agenda import Agenda
from pipeline_core.sla.engine import SlaEngine
from pipeline_core.sla.items import Item
from pipeline_core.sla.policy import Policy
from pipeline_core.sla.state import ACTION_EVIDENCE, Evidence, SlaState

__all__ = ["PolicyBacktestReport", "RuleStats", "backtest_policy"]


@attrs.frozen
class RuleStats:
    """What one rule did over the backtest."""

    rule: str
    reminders: int = 0
    breaches: int = 0
    escalations: int = 0
    risks: int = 0
    met: int = 0
    breached: int = 0
    omitted: int = 0
    open_overdue: int = 0

    @property
    def clocks(self) -> int:
        """Clocks that finished or are overdue."""
        return self.met + self.breached + self.omitted + self.open_overdue

    @property
    def breach_rate(self) -> float | None:
        """(breached + omitted + open overdue) / clocks, or ``None`` without clocks."""
        n = self.clocks
        return None if n == 0 else (self.breached + self.omitted + self.open_overdue) / n


@attrs.frozen
class PolicyBacktestReport:
    """Items fired, outcomes, and per-rule statistics of a backtest."""

    items: tuple[Item, ...]
    outcomes: tuple[SlaOutcome, ...]
    stats: Mapping[str, RuleStats]
    subjects: int
    until: datetime

    def breach_rate(self, rule: str | None = None) -> float | None:
        """The breach rate of one rule, or over all deadline rules."""
        if rule is not None:
            return self.stats[rule].breach_rate
        bad = sum(s.breached + s.omitted + s.open_overdue for s in self.stats.values())
        total = sum(s.clocks for s in self.stats.values())
        return None if total == 0 else bad / total

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per rule (for ``pandas.DataFrame(rows)`` / ``polars.DataFrame(rows)``)."""
        return [
            {**attrs.asdict(s), "clocks": s.clocks, "breach_rate": s.breach_rate}
            for s in sorted(self.stats.values(), key=lambda s: s.rule)
        ]


class _Subject:
    __slots__ = ("fields", "last_reply")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self.last_reply: datetime | None = None


def _subject(
    record: Lead | Opportunity,
    kind: str,
    manager_id: str | None,
    grade: Any,
    graded_at: datetime,
    **more: Any,
) -> _Subject:
    """The replayed subject of a lead or an opportunity (its facts as the engine reads them;
    ``grade_at`` only when graded; ``more``: the lead's own ``stage``)."""
    return _Subject(
        {
            "subject_id": record.id,
            "kind": kind,
            "created_at": record.created_at,
            "owner_id": record.owner_id,
            "manager_id": manager_id,
            "grade": grade,
            "grade_at": graded_at if grade else None,
            "source": record.source,
            **more,
            "tags": record.tags,
            "actions": {},
        }
    )


def backtest_policy(
    policy: Policy | SlaEngine,
    *,
    until: datetime,
    opportunities: Iterable[Opportunity] = (),
    stage_events: Iterable[StageEvent] = (),
    activities: Iterable[Activity] = (),
    leads: Iterable[Lead] = (),
    grade_of: Callable[[Lead | Opportunity], str | None] | None = None,
    managers: Mapping[str, str] | None = None,
    actions_on_entry: Mapping[str, str] | None = None,
    pipeline: StageKinds | None = None,
    evidence: Mapping[str, Evidence] = ACTION_EVIDENCE,
) -> PolicyBacktestReport:
    """Replay history up to ``until`` through ``policy`` and report what it would have fired.

    ``grade_of`` grades a lead or opportunity (e.g. with a scoring model; graded at creation);
    ``managers`` maps an owner id to its manager id (for escalations); ``actions_on_entry`` maps a
    stage id to an action id counted as done when the opportunity enters it (e.g.
    ``{"qualified": "needs_analysis"}``). A deal is won by the kind of its stage in ``pipeline``
    (default: the template it names; :mod:`pipeline_core.facts`), never by ``won_reason``;
    activities do actions by tag and by ``evidence`` (as :func:`state_from_records`). A lead's
    grade clock starts at its ``graded_at`` (else its creation).
    """
    from pipeline_core.stages.templates import stages_of  # the stage layer, only when needed

    require_aware(until, "until")
    engine = policy if isinstance(policy, SlaEngine) else SlaEngine(policy)
    managers = managers or {}
    on_entry = actions_on_entry or {}
    events: list[tuple[datetime, int, str, str, Any]] = []
    seq = 0

    def add(at: datetime, subject: str, kind: str, payload: Any) -> None:
        nonlocal seq
        if at <= until:
            seq += 1
            events.append((at, seq, subject, kind, payload))

    subjects: dict[str, _Subject] = {}
    opp_of_lead: dict[str, Opportunity] = {}
    for opp in opportunities:
        opp_of_lead[opp.lead_id or ""] = opp
        grade = grade_of(opp) if grade_of else None
        subjects[opp.id] = _subject(
            opp, "opportunity", managers.get(opp.owner_id), grade, opp.created_at
        )
        add(opp.created_at, opp.id, "open", None)
        if opp.closed_at is not None:
            # won by the kind of its stage (facts), never by won_reason
            stages = stages_of(opp, pipeline)
            add(
                opp.closed_at,
                opp.id,
                "close",
                stages is not None and is_won_stage(opp.stage, stages),
            )
    for lead in leads:
        grade = grade_of(lead) if grade_of else None
        subjects[lead.id] = _subject(
            lead,
            "lead",
            managers.get(lead.owner_id or ""),
            grade,
            lead.graded_at or lead.created_at,
            stage=lead.status.value,
        )
        add(lead.created_at, lead.id, "open", None)
        converted = opp_of_lead.get(lead.id)
        if lead.status is LeadStatus.CONVERTED and converted is not None:
            add(converted.created_at, lead.id, "close", None)
    for ev in sorted_events(stage_events):  # equal instants keep the deal's own order (seq)
        if ev.opportunity_id in subjects:
            add(ev.at, ev.opportunity_id, "stage", ev)
    for act in activities:
        sid = act.opportunity_id or act.lead_id
        if sid is not None and sid in subjects:
            add(act.at, sid, "activity", act)
    events.sort(key=lambda e: (e[0], e[1]))

    agenda = Agenda(engine)
    items: list[Item] = []
    outcomes: list[SlaOutcome] = []
    for at, _, sid, kind, payload in events:
        items.extend(agenda.advance(at))
        subject = subjects[sid]
        f = subject.fields
        if kind == "stage":
            f["stage"] = payload.to_stage
            f["stage_entered_at"] = payload.at
            action = on_entry.get(payload.to_stage)
            if action is not None:
                f["actions"] = {**f["actions"], action: payload.at}
        elif kind == "activity":
            _apply_activity(subject, payload, evidence)
        elif kind == "close":
            f["closed_at"] = at
            if payload:
                f["won_at"] = at
        outcomes.extend(agenda.put(SlaState(**f)))
    items.extend(agenda.advance(until))
    return _report(engine, agenda, items, outcomes, until, len(subjects))


def _apply_activity(subject: _Subject, act: Activity, evidence: Mapping[str, Evidence]) -> None:
    f = subject.fields
    if f.get("first_touch_at") is None:
        f["first_touch_at"] = act.at
    if act.kind is ActivityKind.CALL and f.get("first_call_at") is None:
        f["first_call_at"] = act.at
    f["last_contact_at"] = act.at
    if act.replied:
        f["last_reply_at"] = act.at
        f["unanswered"] = 0
    else:
        f["unanswered"] = f.get("unanswered", 0) + 1
    if act.outcome is Outcome.AVERSE or "objection" in act.tags:
        f["objections"] = f.get("objections", 0) + 1
        f["last_objection_at"] = act.at
    if "needs_changed" in act.tags:
        f["needs_changes"] = f.get("needs_changes", 0) + 1
        f["last_needs_change_at"] = act.at
    done = {t[7:] for t in act.tags if t.startswith("action:")}
    done.update(name for name, counts in evidence.items() if counts(act))
    if done:
        f["actions"] = {**f["actions"], **dict.fromkeys(done, act.at)}
        times = dict(f.get("action_times", {}))
        for name in done:
            times[name] = (*times.get(name, ()), act.at)
        f["action_times"] = times


def _report(
    engine: SlaEngine,
    agenda: Agenda,
    items: list[Item],
    outcomes: list[SlaOutcome],
    until: datetime,
    n_subjects: int,
) -> PolicyBacktestReport:
    fired: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        fired[item.rule][item.kind] += 1
    finished: dict[str, Counter[str]] = defaultdict(Counter)
    for o in outcomes:
        finished[o.rule][
            "met" if o.met else "omitted" if o.finished_at is None else "breached"
        ] += 1
    overdue: Counter[str] = Counter()
    for sid in agenda.subject_ids():
        for rule_id, _start, due in engine.open_clocks(agenda.state(sid)):
            if due is not None and due < until:
                overdue[rule_id] += 1
    names = {r.id for r in engine.policy.rules} | {r.id for r in engine.policy.risks}
    stats = {
        name: RuleStats(
            rule=name,
            reminders=fired[name]["reminder"],
            breaches=fired[name]["breach"],
            escalations=fired[name]["escalation"],
            risks=fired[name]["risk"],
            met=finished[name]["met"],
            breached=finished[name]["breached"],
            omitted=finished[name]["omitted"],
            open_overdue=overdue[name],
        )
        for name in sorted(names)
    }
    return PolicyBacktestReport(
        items=tuple(items), outcomes=tuple(outcomes), stats=stats, subjects=n_subjects, until=until
    )
