"""Deprecated: moved to :mod:`pipeline_core.metrics.segments` (this module is removed in 0.4).

Every name it had still resolves here for one release, with a :class:`DeprecationWarning` saying
where it lives now (``from ... import *`` included).
"""

from pipeline_core._deprecation import moved

_MOVED = {
    "SEGMENT_CHANGE": "pipeline_core.metrics.segments:SEGMENT_CHANGE",
    "CustomerFacts": "pipeline_core.metrics.segments:CustomerFacts",
    "SegmentPolicy": "pipeline_core.metrics.segments:SegmentPolicy",
    "SegmentRule": "pipeline_core.metrics.segments:SegmentRule",
    "customer_facts": "pipeline_core.metrics.segments:customer_facts",
    "refresh": "pipeline_core.metrics.segments:refresh",
    "segment_column": "pipeline_core.metrics.segments:segment_column",
}

# the old public names, so that ``from ... import *`` still imports them (each warns)
__all__ = sorted(_MOVED)
__getattr__ = moved(__name__, _MOVED)
