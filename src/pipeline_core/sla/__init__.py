"""SLA and reminder rules: business-time deadlines, cadences, silence and risk signals, escalation.

- :mod:`~pipeline_core.sla.calendar`: :class:`BusinessCalendar` (working hours, timezone, holidays,
  make-up working days; ``add`` and ``between`` in business time).
- :mod:`~pipeline_core.sla.policy`: rules as data (:class:`Policy`, :class:`Rule`,
  :class:`RiskRule`), validated once, JSON Schema published.
- :mod:`~pipeline_core.sla.defaults`: :func:`default_policy` with the facts of ``domain.md`` §5.
- :mod:`~pipeline_core.sla.engine`: the pure :class:`SlaEngine` (``evaluate(state, now)``).
- :mod:`~pipeline_core.sla.batch`: ``SlaEngine.evaluate_batch(states, now)``, a whole book at once,
  column-wise (numpy), the same items kept as :class:`~pipeline_core.sla.batch.DueItems` columns.
- :mod:`~pipeline_core.sla.agenda`: :class:`Agenda`, each item exactly once, re-evaluating only what
  changed or fell due.
- :mod:`~pipeline_core.sla.backtest`: :func:`backtest` a policy over history.
- :mod:`~pipeline_core.sla.zones`: :func:`zone_of`, the zone of a person's day (user, team,
  policy calendar).

Importing this package imports neither ``holidays`` nor any dataframe library.
"""

from pipeline_core.sla.agenda import Agenda
from pipeline_core.sla.backtest import BacktestReport, RuleStats, backtest
from pipeline_core.sla.batch import DueItems, evaluate_batch
from pipeline_core.sla.calendar import BusinessCalendar
from pipeline_core.sla.defaults import GRADE_WINDOWS, default_calendar, default_policy
from pipeline_core.sla.engine import SlaEngine
from pipeline_core.sla.items import Breach, Escalation, Item, Reminder, RiskFlag
from pipeline_core.sla.policy import (
    Conditions,
    Policy,
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
    obligation_of,
)
from pipeline_core.sla.state import ACTION_EVIDENCE, Evidence, Pause, SlaState, state_from_records
from pipeline_core.sla.zones import PeriodUnit, period_of, zone_name_of, zone_of

__all__ = [
    "ACTION_EVIDENCE",
    "GRADE_WINDOWS",
    "Agenda",
    "BacktestReport",
    "Breach",
    "BusinessCalendar",
    "Conditions",
    "DueItems",
    "Escalation",
    "Evidence",
    "Item",
    "Pause",
    "PeriodUnit",
    "Policy",
    "Recipient",
    "Reminder",
    "RiskFlag",
    "RiskLevel",
    "RiskRule",
    "RiskSignal",
    "Rule",
    "RuleStats",
    "SlaEngine",
    "SlaState",
    "Step",
    "StepAction",
    "Target",
    "TimeBasis",
    "Trigger",
    "backtest",
    "default_calendar",
    "default_policy",
    "evaluate_batch",
    "obligation_of",
    "period_of",
    "state_from_records",
    "zone_name_of",
    "zone_of",
]
