"""pipeline_core: sales-opportunity follow-up management (商机跟进管理) as exact, testable code.

BANT lead scoring and A/B/C grading, opportunity stage state machines, SLA and reminder rules,
funnel metrics, composable objects over pluggable storage. The domain core is pure: no I/O, no global
state, time always injected.

The most used names are importable from here; each capability lives in its own subpackage
(:mod:`pipeline_core.records`, :mod:`pipeline_core.samples`, ...).
"""

import importlib
from typing import TYPE_CHECKING, Any

from pipeline_core._version import __version__
from pipeline_core.clock import Clock, ManualClock, SystemClock
from pipeline_core.errors import (
    ConcurrencyError,
    ConfigError,
    NotFoundError,
    PipelineCoreError,
    TransitionError,
    ValidationError,
)
from pipeline_core.ids import IdFactory, SeededIds, SequentialIds, UuidIds
from pipeline_core.records import (
    Account,
    Activity,
    ActivityKind,
    Authority,
    Contact,
    Intent,
    JournalEntry,
    Lead,
    LeadStatus,
    Money,
    NeedLevel,
    NextStep,
    Opportunity,
    Outcome,
    Role,
    SlaOutcome,
    SourceChannel,
    StageEvent,
    Team,
    Timeline,
    User,
)

if TYPE_CHECKING:
    from pipeline_core import templates
    from pipeline_core.metrics import (
        cohort_funnel,
        monte_carlo_forecast,
        stage_conversion,
        weighted_forecast,
        win_rate,
    )
    from pipeline_core.scoring import BANT, GradeBands, GradeChanged, Score, ScoreModel, regrade
    from pipeline_core.sla import Agenda, BusinessCalendar, Policy, SlaEngine, default_policy
    from pipeline_core.stages import History, Pipeline, Stage, StageKind, convert, open_post_sale
    from pipeline_core.storage import InMemoryStore, SQLiteStore
    from pipeline_core.storage import open as open_store

# Capabilities are imported on first use, so ``import pipeline_core`` stays light.
_LAZY: dict[str, str] = {
    "Pipeline": "pipeline_core.stages",
    "Stage": "pipeline_core.stages",
    "StageKind": "pipeline_core.stages",
    "History": "pipeline_core.stages",
    "convert": "pipeline_core.stages",
    "open_post_sale": "pipeline_core.stages",
    "BANT": "pipeline_core.scoring",
    "ScoreModel": "pipeline_core.scoring",
    "Score": "pipeline_core.scoring",
    "GradeBands": "pipeline_core.scoring",
    "GradeChanged": "pipeline_core.scoring",
    "regrade": "pipeline_core.scoring",
    "SlaEngine": "pipeline_core.sla",
    "Agenda": "pipeline_core.sla",
    "BusinessCalendar": "pipeline_core.sla",
    "Policy": "pipeline_core.sla",
    "default_policy": "pipeline_core.sla",
    "InMemoryStore": "pipeline_core.storage",
    "SQLiteStore": "pipeline_core.storage",
    "cohort_funnel": "pipeline_core.metrics",
    "stage_conversion": "pipeline_core.metrics",
    "win_rate": "pipeline_core.metrics",
    "weighted_forecast": "pipeline_core.metrics",
    "monte_carlo_forecast": "pipeline_core.metrics",
}


def __getattr__(name: str) -> Any:
    if name == "templates":
        return importlib.import_module("pipeline_core.templates")
    if name == "open_store":
        return importlib.import_module("pipeline_core.storage").open
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline_core' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "BANT",
    "Account",
    "Activity",
    "ActivityKind",
    "Agenda",
    "Authority",
    "BusinessCalendar",
    "Clock",
    "ConcurrencyError",
    "ConfigError",
    "Contact",
    "GradeBands",
    "GradeChanged",
    "History",
    "IdFactory",
    "InMemoryStore",
    "Intent",
    "JournalEntry",
    "Lead",
    "LeadStatus",
    "ManualClock",
    "Money",
    "NeedLevel",
    "NextStep",
    "NotFoundError",
    "Opportunity",
    "Outcome",
    "Pipeline",
    "PipelineCoreError",
    "Policy",
    "Role",
    "SQLiteStore",
    "Score",
    "ScoreModel",
    "SeededIds",
    "SequentialIds",
    "SlaEngine",
    "SlaOutcome",
    "SourceChannel",
    "Stage",
    "StageEvent",
    "StageKind",
    "SystemClock",
    "Team",
    "Timeline",
    "TransitionError",
    "User",
    "UuidIds",
    "ValidationError",
    "__version__",
    "cohort_funnel",
    "convert",
    "default_policy",
    "monte_carlo_forecast",
    "open_post_sale",
    "open_store",
    "regrade",
    "stage_conversion",
    "templates",
    "weighted_forecast",
    "win_rate",
]
