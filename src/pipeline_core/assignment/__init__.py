"""The team layer: lead routing, duplicates and merge, ownership handover, public pool, segments,
access policies.

- :mod:`~pipeline_core.assignment.routing`: :class:`RoutingPolicy`, :class:`Router` (round-robin,
  weighted, load-aware, rule-based; fallback queue; explained, deterministic decisions);
- :mod:`~pipeline_core.assignment.dedup`: :func:`normalise_phone`, :func:`normalise_email`,
  :func:`normalise_company`, :class:`DedupIndex` (near-linear duplicate checks), :class:`Match`;
- :mod:`~pipeline_core.assignment.merge`: :func:`plan_merge` (nothing lost, provenance, one owner);
- :mod:`~pipeline_core.assignment.ownership`: :func:`transfer` with a :class:`Handover` summary;
- :mod:`~pipeline_core.assignment.pool`: the public pool (公海), :class:`PoolPolicy`,
  :func:`sweep`, :func:`claim`;
- :mod:`~pipeline_core.assignment.segments`: :class:`SegmentPolicy`, :func:`customer_facts`,
  :func:`refresh`, :func:`segment_column`;
- :mod:`~pipeline_core.assignment.access`: :class:`AccessPolicy`, roles and scopes;
  :mod:`~pipeline_core.assignment.scoped`: :class:`ScopedStore` enforces them on a store;
- :mod:`~pipeline_core.assignment.service`: :func:`intake` (dedup, then route), :func:`commit`.

``phonenumbers`` and ``rapidfuzz`` (extra ``team``) are imported only when a phone number or a
company name is compared.
"""

from pipeline_core.assignment.access import (
    AccessDecision,
    AccessPolicy,
    AccessRole,
    Directory,
    Grant,
    Scope,
    mask_email,
    mask_phone,
)
from pipeline_core.assignment.dedup import (
    BRANCH_SUFFIXES,
    COMPANY_SUFFIXES,
    PLUS_ADDRESSING_DOMAINS,
    CompanyName,
    DedupIndex,
    Match,
    company_similarity,
    normalise_company,
    normalise_email,
    normalise_phone,
    parse_company,
)
from pipeline_core.assignment.merge import MergePlan, merged_subjects, plan_merge
from pipeline_core.assignment.ownership import (
    Handover,
    Reminder,
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
from pipeline_core.assignment.scoped import ScopedStore, audit
from pipeline_core.assignment.segments import (
    CustomerFacts,
    SegmentPolicy,
    SegmentRule,
    customer_facts,
    refresh,
    segment_column,
)
from pipeline_core.assignment.service import IntakeResult, apply_merge, commit, intake

__all__ = [
    "BRANCH_SUFFIXES",
    "COMPANY_SUFFIXES",
    "PLUS_ADDRESSING_DOMAINS",
    "AccessDecision",
    "AccessPolicy",
    "AccessRole",
    "CompanyName",
    "CustomerFacts",
    "DedupIndex",
    "Directory",
    "Grant",
    "Handover",
    "IntakeResult",
    "Match",
    "MergePlan",
    "PoolLimitError",
    "PoolPolicy",
    "Reminder",
    "RepCapacity",
    "Router",
    "RouterState",
    "RoutingDecision",
    "RoutingPolicy",
    "RoutingRule",
    "Scope",
    "ScopedStore",
    "SegmentPolicy",
    "SegmentRule",
    "Strategy",
    "apply_merge",
    "audit",
    "claim",
    "claims_within_day",
    "commit",
    "company_similarity",
    "customer_facts",
    "handover_summary",
    "intake",
    "lead_facts",
    "mask_email",
    "mask_phone",
    "merged_subjects",
    "normalise_company",
    "normalise_email",
    "normalise_phone",
    "ownership_history",
    "parse_company",
    "plan_merge",
    "pool_reason",
    "refresh",
    "release",
    "segment_column",
    "sweep",
    "transfer",
]
