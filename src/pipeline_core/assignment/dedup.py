"""Deprecated: moved to :mod:`pipeline_core.identity` (this module is removed in 0.4).

Every name it had still resolves here for one release, with a :class:`DeprecationWarning` saying
where it lives now (``from ... import *`` included).
"""

from pipeline_core._deprecation import moved

# ruff: noqa: F822 (the names are served by __getattr__ below)
# the old public names, so that ``from ... import *`` still imports them (each warns)
__all__ = [
    "BRANCH_SUFFIXES",
    "COMPANY_SUFFIXES",
    "PLUS_ADDRESSING_DOMAINS",
    "REGIONS",
    "CompanyName",
    "DedupIndex",
    "Match",
    "company_similarity",
    "normalise_company",
    "normalise_email",
    "normalise_phone",
    "parse_company",
]

__getattr__ = moved(
    __name__,
    {
        "PLUS_ADDRESSING_DOMAINS": "pipeline_core.identity.normalise:PLUS_ADDRESSING_DOMAINS",
        "normalise_email": "pipeline_core.identity.normalise:normalise_email",
        "normalise_phone": "pipeline_core.identity.normalise:normalise_phone",
        "BRANCH_SUFFIXES": "pipeline_core.identity.company:BRANCH_SUFFIXES",
        "COMPANY_SUFFIXES": "pipeline_core.identity.company:COMPANY_SUFFIXES",
        "LATIN_BRANCH_WORDS": "pipeline_core.identity.company:LATIN_BRANCH_WORDS",
        "REGIONS": "pipeline_core.identity.company:REGIONS",
        "CompanyName": "pipeline_core.identity.company:CompanyName",
        "company_similarity": "pipeline_core.identity.company:company_similarity",
        "normalise_company": "pipeline_core.identity.company:normalise_company",
        "parse_company": "pipeline_core.identity.company:parse_company",
        "DedupIndex": "pipeline_core.identity.dedup:DedupIndex",
        "Match": "pipeline_core.identity.dedup:Match",
    },
)
