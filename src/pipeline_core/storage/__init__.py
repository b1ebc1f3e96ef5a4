"""Storage: one port (:mod:`pipeline_core.storage.ports`), adapters for memory, SQLite and PostgreSQL."""

from pipeline_core.storage.ports import (
    AccountRepository,
    ActivityLog,
    AppendLog,
    ContactRepository,
    JournalLog,
    LeadRepository,
    OpportunityRepository,
    Progress,
    Repositories,
    Repository,
    SlaOutcomeRepository,
    StageEventLog,
    Store,
    TeamRepository,
    UnitOfWork,
    UserRepository,
)

__all__ = [
    "AccountRepository",
    "ActivityLog",
    "AppendLog",
    "ContactRepository",
    "JournalLog",
    "LeadRepository",
    "OpportunityRepository",
    "Progress",
    "Repositories",
    "Repository",
    "SlaOutcomeRepository",
    "StageEventLog",
    "Store",
    "TeamRepository",
    "UnitOfWork",
    "UserRepository",
]
