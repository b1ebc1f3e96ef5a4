"""SLA and reminder rules: business-time deadlines, cadences, silence and risk signals, escalation.

- :mod:`~pipeline_core.sla.calendar`: :class:`BusinessCalendar` (working hours, timezone, holidays,
  make-up working days; ``add`` and ``between`` in business time).
- :mod:`~pipeline_core.sla.rules`: the parts of a policy declared once (:class:`Rule`,
  :class:`RiskRule`, :class:`Step`, :class:`Conditions`), plain form and JSON Schema derived.
- :mod:`~pipeline_core.sla.policy`: :class:`Policy`, validated once, merged with a pipeline's SOPs.
- :mod:`~pipeline_core.sla.compiled`: the compiled policy and the one layout of a state's facts.
- :mod:`~pipeline_core.sla.defaults`: :func:`default_policy` with the facts of ``domain.md`` §5.
- :mod:`~pipeline_core.sla.engine`: the pure :class:`SlaEngine`: ``evaluate(state, as_of)`` for
  one state, ``evaluate_batch(states, as_of)`` for a whole book (column-wise with numpy,
  :mod:`~pipeline_core.sla.batch`; the items kept as :class:`DueItems` columns).
- :mod:`~pipeline_core.sla.agenda`: :class:`Agenda`, each item exactly once, re-evaluating only what
  changed or fell due.
- :mod:`~pipeline_core.sla.policy_backtest`: :func:`backtest_policy` over history.
- :mod:`~pipeline_core.sla.zones`: :func:`zone_of`, the zone of a person's day (user, team,
  policy calendar).

Importing this package imports neither ``holidays`` nor any dataframe library.
"""

from pipeline_core._deprecation import moved
from pipeline_core.sla import rules
from pipeline_core.sla.agenda import Agenda
from pipeline_core.sla.calendar import BusinessCalendar
from pipeline_core.sla.defaults import GRADE_WINDOWS, default_calendar, default_policy
from pipeline_core.sla.due import DueItems
from pipeline_core.sla.engine import SlaEngine
from pipeline_core.sla.items import Breach, Escalation, Item, Reminder, RiskFlag
from pipeline_core.sla.policy import Policy
from pipeline_core.sla.policy_backtest import PolicyBacktestReport, RuleStats, backtest_policy
from pipeline_core.sla.rules import *  # noqa: F403  (exports rules.__all__, listed there once)
from pipeline_core.sla.state import ACTION_EVIDENCE, Evidence, Pause, SlaState, state_from_records
from pipeline_core.sla.zones import PeriodUnit, period_of, zone_name_of, zone_of

__all__ = [
    "ACTION_EVIDENCE",
    "GRADE_WINDOWS",
    "Agenda",
    "Breach",
    "BusinessCalendar",
    "DueItems",
    "Escalation",
    "Evidence",
    "Item",
    "Pause",
    "PeriodUnit",
    "Policy",
    "PolicyBacktestReport",
    "Reminder",
    "RiskFlag",
    "RuleStats",
    "SlaEngine",
    "SlaState",
    "backtest_policy",
    "default_calendar",
    "default_policy",
    "period_of",
    "state_from_records",
    "zone_name_of",
    "zone_of",
]
__all__ += rules.__all__

# the old names, for one release; ``backtest`` resolves to the function as it did (the module of
# that name is now a deprecated shim: pipeline_core.sla.policy_backtest)
__getattr__ = moved(
    __name__,
    {
        "backtest": "pipeline_core.sla.policy_backtest:backtest_policy",
        "BacktestReport": "pipeline_core.sla.policy_backtest:PolicyBacktestReport",
        "evaluate_batch": "pipeline_core.sla.batch:evaluate_batch",
    },
)
