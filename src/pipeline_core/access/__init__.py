"""Authorisation: who may read, write and export which records, masking, and the scoped store.

- :mod:`~pipeline_core.access.policy`: :class:`AccessPolicy` (config as data), :class:`AccessRole`,
  :class:`Scope`, :class:`Grant`, :class:`Directory`, :class:`AccessDecision`;
- :mod:`~pipeline_core.access.masking`: :func:`mask_phone`, :func:`mask_email`, :func:`mask_name`,
  :func:`mask_text`, :func:`mask_known`, :func:`mask_record`;
- :mod:`~pipeline_core.access.store`: :class:`ScopedStore` enforces a policy on every read, query,
  export and write of a store (a decorator on the store's backend; decisions in
  :mod:`~pipeline_core.access.guard`, parents and subjects in :mod:`~pipeline_core.access.subjects`);
- :mod:`~pipeline_core.access.audit`: :func:`audit`, :func:`access_findings` (stored records the
  rules treat otherwise than their writers meant).
"""

from pipeline_core.access import masking, policy
from pipeline_core.access.audit import access_findings, audit
from pipeline_core.access.masking import *  # noqa: F403  (its __all__, listed there once)
from pipeline_core.access.policy import *  # noqa: F403  (its __all__, listed there once)
from pipeline_core.access.store import ScopedStore
from pipeline_core.access.subjects import reference_collection, subject_collection

__all__ = [
    "ScopedStore",
    "access_findings",
    "audit",
    "reference_collection",
    "subject_collection",
]
__all__ += masking.__all__
__all__ += policy.__all__
