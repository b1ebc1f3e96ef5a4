"""Deprecated: moved to :mod:`pipeline_core.access` (this module is removed in 0.4).

Every name it had still resolves here for one release, with a :class:`DeprecationWarning` saying
where it lives now (``from ... import *`` included).
"""

from pipeline_core._deprecation import moved

_MOVED = {
    "AccessDecision": "pipeline_core.access.policy:AccessDecision",
    "AccessPolicy": "pipeline_core.access.policy:AccessPolicy",
    "AccessRole": "pipeline_core.access.policy:AccessRole",
    "Action": "pipeline_core.access.policy:Action",
    "Directory": "pipeline_core.access.policy:Directory",
    "Grant": "pipeline_core.access.policy:Grant",
    "Scope": "pipeline_core.access.policy:Scope",
    "FREE_TEXT_FIELDS": "pipeline_core.access.masking:FREE_TEXT_FIELDS",
    "MASK_PHONE_REGIONS": "pipeline_core.access.masking:MASK_PHONE_REGIONS",
    "PERSONAL_FIELDS": "pipeline_core.access.masking:PERSONAL_FIELDS",
    "mask_email": "pipeline_core.access.masking:mask_email",
    "mask_known": "pipeline_core.access.masking:mask_known",
    "mask_name": "pipeline_core.access.masking:mask_name",
    "mask_phone": "pipeline_core.access.masking:mask_phone",
    "mask_text": "pipeline_core.access.masking:mask_text",
}

# the old public names, so that ``from ... import *`` still imports them (each warns)
__all__ = sorted(_MOVED)
__getattr__ = moved(__name__, _MOVED)
