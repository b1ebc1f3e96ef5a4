"""The default policy: the deadlines, cadences and risk signals of ``domain.md`` §5.

Which durations are business time and which calendar time (see ``docs/sla.md`` for the table):

- hours-scale response targets count **business time**: first touch within 3 working hours of a
  lead's entry. A lead arriving at night, on a weekend or on a holiday starts its clock at the next
  opening (Saturday 10:00 → due Monday 12:00 with 09:00-18:00 hours).
- day-scale windows count **calendar time rolled to business hours**: first call 48 h and needs
  analysis 7 days after an opportunity's creation, grade windows (A 1 day, B 3 days), the weekly
  revisit; a deadline falling outside working hours moves to the next opening, so nothing falls due
  on a Sunday.
- long silences and customer-side waits count **plain calendar days**: 30 days without contact,
  3 days without a reply, quarterly survey, renewal reminders before the contract end.

The grade windows mirror the follow-up policies of :mod:`pipeline_core.scoring`'s grades (A: contact
within 1 day; B: within 2-3 days, deadline at 3 days with a reminder at 2; C: periodic nurture, here
every 30 days). The policy holds them itself so the SLA does not depend on scoring; keep them in
step if a company changes its grade policies (:data:`GRADE_WINDOWS`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from pipeline_core.sla.calendar import BusinessCalendar
from pipeline_core.sla.policy import Policy
from pipeline_core.sla.rules import (
    Conditions,
    Recipient,
    RiskLevel,
    RiskRule,
    RiskSignal,
    Rule,
    Step,
    StepAction,
    Target,
    TimeBasis,
    Trigger,
)

__all__ = [
    "FIRST_CALL",
    "FIRST_TOUCH",
    "GRADE_WINDOWS",
    "NEEDS_ANALYSIS",
    "NO_REPLY",
    "PAUSE_WAITING",
    "SILENCE",
    "default_calendar",
    "default_policy",
]

FIRST_TOUCH: Final = timedelta(hours=3)
"""A lead's first touch: within 3 working hours of entry [002]."""
FIRST_CALL: Final = timedelta(hours=48)
"""An opportunity's first phone call: within 48 h of creation [001]."""
NEEDS_ANALYSIS: Final = timedelta(days=7)
"""An opportunity's needs analysis: within 7 days of creation [001]."""
SILENCE: Final = timedelta(days=30)
"""No contact for 30 days: silence warning [002]."""
NO_REPLY: Final = timedelta(days=3)
"""The customer has not replied for 3 days: remind the owner [003]."""
GRADE_WINDOWS: Final = {"A": timedelta(days=1), "B": timedelta(days=3), "C": timedelta(days=30)}
"""Contact windows per grade (A 1 day, B 3 days; C: nurture every 30 days), as scoring's grades."""
PAUSE_WAITING: Final = "waiting_on_customer"
"""The pause reason of the default policy: clocks that wait on our side stop while it holds."""

_LEADS_AND_DEALS: Final = frozenset({"lead", "opportunity"})
_DEALS: Final = frozenset({"opportunity"})
_AFTER_SALE: Final = frozenset({"opportunity", "account"})


def _count_risk(rule_id: str, zh: str, en: str, label: str, signal: RiskSignal) -> RiskRule:
    """A count signal of the default policy: medium from 2, high (escalated) from 3."""
    return RiskRule(
        id=rule_id,
        titles={"zh": zh, "en": en},
        label=label,
        signal=signal,
        thresholds={RiskLevel.MEDIUM: 2, RiskLevel.HIGH: 3},
    )


def default_calendar(country: str | None = None) -> BusinessCalendar:
    """Mon-Fri 09:00-12:00 and 13:30-18:00 in Asia/Shanghai; ``country="CN"`` adds mainland
    China's public holidays and make-up working days (needs the ``holidays`` package)."""
    return BusinessCalendar.of("Asia/Shanghai", hours="09:00-12:00, 13:30-18:00", country=country)


def default_policy(calendar: BusinessCalendar | None = None) -> Policy:
    """The default policy of ``domain.md`` §5 on ``calendar`` (default: :func:`default_calendar`)."""
    D = timedelta(days=1)
    H = timedelta(hours=1)
    remind, breach = StepAction.REMIND, StepAction.BREACH
    escalate, manager = StepAction.ESCALATE, Recipient.MANAGER
    waiting = frozenset({PAUSE_WAITING})
    rules = (
        Rule(
            id="lead.first_touch",
            titles={"zh": "首次触达", "en": "First touch"},
            label="first touch within 3 working hours of a lead's entry",
            trigger=Trigger.CREATED,
            target=Target.FIRST_TOUCH,
            within=FIRST_TOUCH,
            basis=TimeBasis.BUSINESS,
            conditions=Conditions(kinds=frozenset({"lead"})),
            steps=(Step(remind, -H), Step(breach), Step(escalate, 2 * H, manager)),
        ),
        Rule(
            id="opportunity.first_call",
            titles={"zh": "首次电话", "en": "First call"},
            label="first phone call within 48 h of an opportunity's creation",
            trigger=Trigger.CREATED,
            target=Target.FIRST_CALL,
            within=FIRST_CALL,
            roll_to_business=True,
            conditions=Conditions(kinds=_DEALS),
            pause_on=waiting,
            steps=(Step(remind, -4 * H), Step(breach), Step(escalate, D, manager)),
        ),
        Rule(
            id="opportunity.needs_analysis",
            titles={"zh": "需求分析", "en": "Needs analysis"},
            label="needs analysis within 7 days of an opportunity's creation",
            trigger=Trigger.CREATED,
            target=Target.ACTION,
            action="needs_analysis",
            within=NEEDS_ANALYSIS,
            roll_to_business=True,
            conditions=Conditions(kinds=_DEALS),
            pause_on=waiting,
            steps=(Step(remind, -D), Step(breach), Step(escalate, 2 * D, manager)),
        ),
        Rule(
            id="grade.A.contact",
            titles={"zh": "A 级线索跟进", "en": "Grade A follow-up"},
            label="grade A: contact within 1 day (and a deep conversation)",
            trigger=Trigger.GRADE_ASSIGNED,
            target=Target.CONTACT,
            within=GRADE_WINDOWS["A"],
            roll_to_business=True,
            conditions=Conditions(kinds=_LEADS_AND_DEALS, grades=frozenset({"A"})),
            steps=(Step(remind, -4 * H), Step(breach), Step(escalate, D, manager)),
        ),
        Rule(
            id="grade.B.contact",
            titles={"zh": "B 级线索跟进", "en": "Grade B follow-up"},
            label="grade B: contact within 2-3 days",
            trigger=Trigger.GRADE_ASSIGNED,
            target=Target.CONTACT,
            within=GRADE_WINDOWS["B"],
            roll_to_business=True,
            conditions=Conditions(kinds=_LEADS_AND_DEALS, grades=frozenset({"B"})),
            steps=(Step(remind, -D), Step(breach)),
        ),
        Rule(
            id="grade.C.nurture",
            titles={"zh": "C 级线索培育", "en": "Grade C nurture"},
            label="grade C: periodic nurture every 30 days",
            trigger=Trigger.GRADE_ASSIGNED,
            target=Target.CONTACT,
            recurrence="FREQ=DAILY;INTERVAL=30",
            conditions=Conditions(kinds=_LEADS_AND_DEALS, grades=frozenset({"C"})),
            steps=(),
        ),
        Rule(
            id="opportunity.revisit",
            titles={"zh": "每周回访", "en": "Weekly revisit"},
            label="revisit an open opportunity weekly",
            trigger=Trigger.LAST_CONTACT,
            target=Target.CONTACT,
            # the obligation a stage's weekly revisit also names: they merge (with_pipeline)
            action="weekly_revisit",
            within=timedelta(days=7),
            roll_to_business=True,
            conditions=Conditions(kinds=_DEALS),
            pause_on=waiting,
            steps=(Step(remind),),
        ),
        Rule(
            id="silence.30d",
            titles={"zh": "30 天未联系", "en": "30 days without contact"},
            label="no contact for 30 days: silence warning",
            trigger=Trigger.LAST_CONTACT,
            target=Target.CONTACT,
            within=SILENCE,
            steps=(Step(remind), Step(escalate, 7 * D, manager)),
        ),
        Rule(
            id="reply.3d",
            titles={"zh": "客户 3 天未回复", "en": "No reply for 3 days"},
            label="the customer has not replied for 3 days",
            trigger=Trigger.ACTIVITY_LOGGED,
            target=Target.REPLY,
            action="chase_reply",  # a stage's "follow up if no reply": one obligation
            within=NO_REPLY,
            steps=(Step(remind),),
        ),
        Rule(
            id="after_sale.survey",
            titles={"zh": "季度满意度回访", "en": "Quarterly survey"},
            label="quarterly satisfaction survey after the sale",
            trigger=Trigger.WON,
            target=Target.ACTION,
            action="survey",
            recurrence="FREQ=MONTHLY;INTERVAL=3",
            conditions=Conditions(kinds=_AFTER_SALE),
            while_open=False,
            steps=(),
        ),
        Rule(
            id="after_sale.renewal",
            titles={"zh": "续约提醒", "en": "Renewal"},
            label="renewal before the contract ends",
            trigger=Trigger.CONTRACT_END,
            target=Target.ACTION,
            action="renewal",
            conditions=Conditions(kinds=_AFTER_SALE),
            while_open=False,
            steps=(
                Step(remind, -60 * D),
                Step(remind, -30 * D),
                Step(escalate, -7 * D, manager),
                Step(breach),
            ),
        ),
    )
    risks = (
        _count_risk(
            "risk.unanswered",
            "连续未接通",
            "Unanswered contacts",
            "consecutive unanswered contacts",
            RiskSignal.UNANSWERED_STREAK,
        ),
        _count_risk(
            "risk.objections",
            "反复异议",
            "Repeated objections",
            "repeated objections",
            RiskSignal.OBJECTIONS,
        ),
        _count_risk(
            "risk.needs_changes",
            "需求频繁变更",
            "Changing needs",
            "needs changing repeatedly",
            RiskSignal.NEEDS_CHANGES,
        ),
        RiskRule(
            id="risk.plan_delayed",
            titles={"zh": "方案确认延期", "en": "Plan confirmation delayed"},
            label="plan confirmation delayed (days overdue)",
            signal=RiskSignal.PLAN_DELAYED,
            thresholds={RiskLevel.LOW: 0, RiskLevel.MEDIUM: 3, RiskLevel.HIGH: 7},
        ),
    )
    return Policy(
        id="default",
        name="pipeline_core default follow-up policy (domain.md §5)",
        rules=rules,
        risks=risks,
        calendar=calendar or default_calendar(),
    ).validate()
