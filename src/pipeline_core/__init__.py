"""pipeline_core: sales-opportunity follow-up management (商机跟进管理) as exact, testable code.

BANT lead scoring and A/B/C grading, opportunity stage state machines, SLA and reminder rules,
funnel metrics, composable objects over pluggable storage. The domain core is pure: no I/O, no global
state, time always injected.

The most used names are importable from here; each capability lives in its own subpackage
(:mod:`pipeline_core.records`, :mod:`pipeline_core.samples`, ...).
"""

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

__all__ = [
    "Account",
    "Activity",
    "ActivityKind",
    "Authority",
    "Clock",
    "ConcurrencyError",
    "ConfigError",
    "Contact",
    "IdFactory",
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
    "PipelineCoreError",
    "Role",
    "SeededIds",
    "SequentialIds",
    "SlaOutcome",
    "SourceChannel",
    "StageEvent",
    "SystemClock",
    "Team",
    "Timeline",
    "TransitionError",
    "User",
    "UuidIds",
    "ValidationError",
    "__version__",
]
