"""The team layer: who works which record. Lead routing, the public pool, ownership handover.

- :mod:`~pipeline_core.assignment.routing`: :class:`RoutingPolicy`, :class:`Router` (round-robin,
  weighted, load-aware, rule-based; fallback queue; explained, deterministic decisions);
- :mod:`~pipeline_core.assignment.pool`: the public pool (公海), :class:`PoolPolicy`,
  :func:`sweep`, :func:`claim`;
- :mod:`~pipeline_core.assignment.ownership`: :func:`transfer` with a :class:`Handover` summary;
- :mod:`~pipeline_core.assignment.service`: :func:`intake` (dedup, then route), :func:`commit`.

Who is the same customer (duplicates, merge) is :mod:`pipeline_core.identity`; who may see and
change what (access policies, masking, the scoped store) is :mod:`pipeline_core.access`; customer
segments are :mod:`pipeline_core.metrics.segments`. Their names are still served from here (and
from the old modules ``assignment.dedup``, ``.merge``, ``.access``, ``.scoped``, ``.segments``) for
one release, with a :class:`DeprecationWarning`.
"""

from pipeline_core._deprecation import moved
from pipeline_core.assignment.ownership import (
    Handover,
    HandoverReminder,
    handover_summary,
    ownership_history,
    transfer,
)
from pipeline_core.assignment.pool import (
    PoolLimitError,
    PoolPolicy,
    claim,
    claims_within_day,
    pool_reason,
    release,
    sweep,
)
from pipeline_core.assignment.routing import (
    RepCapacity,
    Router,
    RouterState,
    RoutingDecision,
    RoutingPolicy,
    RoutingRule,
    Strategy,
    lead_facts,
)
from pipeline_core.assignment.service import IntakeResult, apply_merge, commit, intake

__all__ = [
    "Handover",
    "HandoverReminder",
    "IntakeResult",
    "PoolLimitError",
    "PoolPolicy",
    "RepCapacity",
    "Router",
    "RouterState",
    "RoutingDecision",
    "RoutingPolicy",
    "RoutingRule",
    "Strategy",
    "apply_merge",
    "claim",
    "claims_within_day",
    "commit",
    "handover_summary",
    "intake",
    "lead_facts",
    "ownership_history",
    "pool_reason",
    "release",
    "sweep",
    "transfer",
]

_MOVED = {
    **{
        name: f"pipeline_core.access:{name}"
        for name in (
            "AccessDecision",
            "AccessPolicy",
            "AccessRole",
            "Directory",
            "Grant",
            "Scope",
            "ScopedStore",
            "audit",
            "mask_email",
            "mask_phone",
        )
    },
    **{
        name: f"pipeline_core.identity:{name}"
        for name in (
            "BRANCH_SUFFIXES",
            "COMPANY_SUFFIXES",
            "PLUS_ADDRESSING_DOMAINS",
            "CompanyName",
            "DedupIndex",
            "Match",
            "MergePlan",
            "company_similarity",
            "merged_subjects",
            "normalise_company",
            "normalise_email",
            "normalise_phone",
            "parse_company",
            "plan_merge",
        )
    },
    **{
        name: f"pipeline_core.metrics.segments:{name}"
        for name in (
            "CustomerFacts",
            "SegmentPolicy",
            "SegmentRule",
            "customer_facts",
            "refresh",
            "segment_column",
        )
    },
    "Reminder": "pipeline_core.assignment.ownership:HandoverReminder",
}

__getattr__ = moved(__name__, _MOVED)
