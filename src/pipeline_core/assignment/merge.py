"""Deprecated: moved to :mod:`pipeline_core.identity.merge` (this module is removed in 0.4).

Every name it had still resolves here for one release, with a :class:`DeprecationWarning` saying
where it lives now (``from ... import *`` included).
"""

from pipeline_core._deprecation import moved

_MOVED = {
    "MERGE": "pipeline_core.identity.merge:MERGE",
    "MERGED_INTO": "pipeline_core.identity.merge:MERGED_INTO",
    "MERGED_TAG": "pipeline_core.identity.merge:MERGED_TAG",
    "MergePlan": "pipeline_core.identity.merge:MergePlan",
    "merged_subjects": "pipeline_core.identity.merge:merged_subjects",
    "plan_merge": "pipeline_core.identity.merge:plan_merge",
}

# the old public names, so that ``from ... import *`` still imports them (each warns)
__all__ = sorted(_MOVED)
__getattr__ = moved(__name__, _MOVED)
