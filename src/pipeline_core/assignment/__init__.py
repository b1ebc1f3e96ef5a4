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
from pipeline_core.assignment import routing
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
from pipeline_core.assignment.routing import *  # noqa: F403  (its __all__, listed there once)
from pipeline_core.assignment.service import IntakeResult, apply_merge, commit, intake

__all__ = [
    "Handover",
    "HandoverReminder",
    "IntakeResult",
    "PoolLimitError",
    "PoolPolicy",
    "apply_merge",
    "claim",
    "claims_within_day",
    "commit",
    "handover_summary",
    "intake",
    "ownership_history",
    "pool_reason",
    "release",
    "sweep",
    "transfer",
]

__all__ += routing.__all__

# Every name of these packages' ``__all__`` that used to be served here (the tables are theirs).
_MOVED_TO: tuple[str, ...] = (
    "pipeline_core.access",
    "pipeline_core.identity",
    "pipeline_core.metrics.segments",
)

__getattr__ = moved(
    __name__,
    {"Reminder": "pipeline_core.assignment.ownership:HandoverReminder"},
    packages=_MOVED_TO,
)
