"""pipeline_core: sales-opportunity follow-up management (商机跟进管理) as exact, testable code.

BANT lead scoring and A/B/C grading, opportunity stage state machines, SLA and reminder rules,
funnel metrics, composable objects over pluggable storage. The domain core is pure: no I/O, no global
state, time always injected.

The most used names are importable from here; each capability lives in its own subpackage
(:mod:`pipeline_core.records`, :mod:`pipeline_core.samples`, ...). Every top-level name is listed
once, in :data:`_EXPORTS`; it is imported on first use and then cached in this module, so
``import pipeline_core`` stays light. ``__all__`` and ``dir(pipeline_core)`` are derived from the
same map; the imports under ``TYPE_CHECKING`` are the type checker's view of it (a test keeps the
two in agreement).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Final

from pipeline_core._version import __version__

if TYPE_CHECKING:
    from pipeline_core import templates as templates
    from pipeline_core.clock import Clock as Clock
    from pipeline_core.clock import ManualClock as ManualClock
    from pipeline_core.clock import SystemClock as SystemClock
    from pipeline_core.errors import ConcurrencyError as ConcurrencyError
    from pipeline_core.errors import ConfigError as ConfigError
    from pipeline_core.errors import NotFoundError as NotFoundError
    from pipeline_core.errors import PipelineCoreError as PipelineCoreError
    from pipeline_core.errors import TransitionError as TransitionError
    from pipeline_core.errors import ValidationError as ValidationError
    from pipeline_core.ids import IdFactory as IdFactory
    from pipeline_core.ids import SeededIds as SeededIds
    from pipeline_core.ids import SequentialIds as SequentialIds
    from pipeline_core.ids import UuidIds as UuidIds
    from pipeline_core.metrics import cohort_funnel as cohort_funnel
    from pipeline_core.metrics import monte_carlo_forecast as monte_carlo_forecast
    from pipeline_core.metrics import stage_conversion as stage_conversion
    from pipeline_core.metrics import weighted_forecast as weighted_forecast
    from pipeline_core.metrics import win_rate as win_rate
    from pipeline_core.records import Account as Account
    from pipeline_core.records import Activity as Activity
    from pipeline_core.records import ActivityKind as ActivityKind
    from pipeline_core.records import Authority as Authority
    from pipeline_core.records import Contact as Contact
    from pipeline_core.records import Intent as Intent
    from pipeline_core.records import JournalEntry as JournalEntry
    from pipeline_core.records import Lead as Lead
    from pipeline_core.records import LeadStatus as LeadStatus
    from pipeline_core.records import Money as Money
    from pipeline_core.records import NeedLevel as NeedLevel
    from pipeline_core.records import NextStep as NextStep
    from pipeline_core.records import Opportunity as Opportunity
    from pipeline_core.records import Outcome as Outcome
    from pipeline_core.records import Role as Role
    from pipeline_core.records import SlaOutcome as SlaOutcome
    from pipeline_core.records import SourceChannel as SourceChannel
    from pipeline_core.records import StageEvent as StageEvent
    from pipeline_core.records import Team as Team
    from pipeline_core.records import Timeline as Timeline
    from pipeline_core.records import User as User
    from pipeline_core.scoring import BANT as BANT
    from pipeline_core.scoring import GradeBands as GradeBands
    from pipeline_core.scoring import GradeChanged as GradeChanged
    from pipeline_core.scoring import Score as Score
    from pipeline_core.scoring import ScoreModel as ScoreModel
    from pipeline_core.scoring import regrade as regrade
    from pipeline_core.sla import Agenda as Agenda
    from pipeline_core.sla import BusinessCalendar as BusinessCalendar
    from pipeline_core.sla import Policy as Policy
    from pipeline_core.sla import SlaEngine as SlaEngine
    from pipeline_core.sla import default_policy as default_policy
    from pipeline_core.stages import History as History
    from pipeline_core.stages import Pipeline as Pipeline
    from pipeline_core.stages import Stage as Stage
    from pipeline_core.stages import StageKind as StageKind
    from pipeline_core.stages import convert as convert
    from pipeline_core.stages import open_post_sale as open_post_sale
    from pipeline_core.storage import InMemoryStore as InMemoryStore
    from pipeline_core.storage import SQLiteStore as SQLiteStore
    from pipeline_core.storage import open as _open

    open_store = _open

_PACKAGE: Final = __name__

_EXPORTS: Final[dict[str, str]] = {
    # foundation: time, ids, errors
    "Clock": "pipeline_core.clock",
    "ManualClock": "pipeline_core.clock",
    "SystemClock": "pipeline_core.clock",
    "IdFactory": "pipeline_core.ids",
    "SeededIds": "pipeline_core.ids",
    "SequentialIds": "pipeline_core.ids",
    "UuidIds": "pipeline_core.ids",
    "PipelineCoreError": "pipeline_core.errors",
    "ConcurrencyError": "pipeline_core.errors",
    "ConfigError": "pipeline_core.errors",
    "NotFoundError": "pipeline_core.errors",
    "TransitionError": "pipeline_core.errors",
    "ValidationError": "pipeline_core.errors",
    # records and their vocabularies
    "Account": "pipeline_core.records",
    "Activity": "pipeline_core.records",
    "Contact": "pipeline_core.records",
    "JournalEntry": "pipeline_core.records",
    "Lead": "pipeline_core.records",
    "Money": "pipeline_core.records",
    "NextStep": "pipeline_core.records",
    "Opportunity": "pipeline_core.records",
    "SlaOutcome": "pipeline_core.records",
    "StageEvent": "pipeline_core.records",
    "Team": "pipeline_core.records",
    "User": "pipeline_core.records",
    "ActivityKind": "pipeline_core.records",
    "Authority": "pipeline_core.records",
    "Intent": "pipeline_core.records",
    "LeadStatus": "pipeline_core.records",
    "NeedLevel": "pipeline_core.records",
    "Outcome": "pipeline_core.records",
    "Role": "pipeline_core.records",
    "SourceChannel": "pipeline_core.records",
    "Timeline": "pipeline_core.records",
    # stages
    "Pipeline": "pipeline_core.stages",
    "Stage": "pipeline_core.stages",
    "StageKind": "pipeline_core.stages",
    "History": "pipeline_core.stages",
    "convert": "pipeline_core.stages",
    "open_post_sale": "pipeline_core.stages",
    "templates": "pipeline_core.templates",
    # scoring
    "BANT": "pipeline_core.scoring",
    "ScoreModel": "pipeline_core.scoring",
    "Score": "pipeline_core.scoring",
    "GradeBands": "pipeline_core.scoring",
    "GradeChanged": "pipeline_core.scoring",
    "regrade": "pipeline_core.scoring",
    # sla
    "SlaEngine": "pipeline_core.sla",
    "Agenda": "pipeline_core.sla",
    "BusinessCalendar": "pipeline_core.sla",
    "Policy": "pipeline_core.sla",
    "default_policy": "pipeline_core.sla",
    # storage
    "InMemoryStore": "pipeline_core.storage",
    "SQLiteStore": "pipeline_core.storage",
    "open_store": "pipeline_core.storage:open",
    # metrics
    "cohort_funnel": "pipeline_core.metrics",
    "stage_conversion": "pipeline_core.metrics",
    "win_rate": "pipeline_core.metrics",
    "weighted_forecast": "pipeline_core.metrics",
    "monte_carlo_forecast": "pipeline_core.metrics",
}
"""Every top-level name, once: ``name -> "module"`` (the module's attribute of the same name),
``name -> "module:attribute"`` (exported under another name), or ``name -> "pipeline_core.name"``
(the submodule itself)."""

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> object:
    """Import ``name`` from its module on first use (PEP 562) and cache it in this module.

    Raises :class:`AttributeError` for a name that is not in :data:`_EXPORTS`.
    """
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}")
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    value = module if module_name == f"{_PACKAGE}.{name}" else getattr(module, attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (:data:`__all__`, every lazy export whether imported yet or not), the
    public subpackages already imported, and the module's dunders; not the helpers this module
    uses itself (``importlib``, ``TYPE_CHECKING``, the export map)."""
    public = {
        name
        for name, value in globals().items()
        if (name.startswith("__") and name.endswith("__"))
        or (
            not name.startswith("_")
            and isinstance(value, ModuleType)
            and value.__name__ == f"{_PACKAGE}.{name}"
        )
    }
    return sorted({*public, *__all__})
