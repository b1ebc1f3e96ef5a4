"""Deprecated: moved to :mod:`pipeline_core.access` (this module is removed in 0.4).

Every name it had still resolves here for one release, with a :class:`DeprecationWarning` saying
where it lives now (``from ... import *`` included).
"""

from pipeline_core._deprecation import moved

_MOVED = {
    "ScopedStore": "pipeline_core.access.store:ScopedStore",
    "access_findings": "pipeline_core.access.audit:access_findings",
    "audit": "pipeline_core.access.audit:audit",
    "reference_collection": "pipeline_core.access.subjects:reference_collection",
    "subject_collection": "pipeline_core.access.subjects:subject_collection",
}

# the old public names, so that ``from ... import *`` still imports them (each warns)
__all__ = sorted(_MOVED)
__getattr__ = moved(__name__, _MOVED)
