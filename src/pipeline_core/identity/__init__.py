"""Customer identity: who is the same customer (contact keys, company names, duplicates) and merging.

- :mod:`~pipeline_core.identity.normalise`: :func:`normalise_phone` (E.164),
  :func:`normalise_email`;
- :mod:`~pipeline_core.identity.company`: :func:`parse_company` (core, region, branch),
  :func:`normalise_company`, :func:`company_similarity`;
- :mod:`~pipeline_core.identity.dedup`: :class:`DedupIndex` (near-linear duplicate checks),
  :class:`Match`;
- :mod:`~pipeline_core.identity.merge`: :func:`plan_merge` (nothing lost, provenance, one owner),
  :func:`merged_subjects`.

``phonenumbers`` and ``rapidfuzz`` (extra ``team``) are imported only when a phone number or a
company name is compared.
"""

from pipeline_core.identity.company import (
    BRANCH_SUFFIXES,
    COMPANY_SUFFIXES,
    LATIN_BRANCH_WORDS,
    REGIONS,
    CompanyName,
    company_similarity,
    normalise_company,
    parse_company,
    qualifiers_agree,
)
from pipeline_core.identity.dedup import DedupIndex, Match
from pipeline_core.identity.merge import (
    MERGE,
    MERGED_INTO,
    MERGED_TAG,
    MergePlan,
    merged_subjects,
    plan_merge,
)
from pipeline_core.identity.normalise import (
    PLUS_ADDRESSING_DOMAINS,
    normalise_email,
    normalise_phone,
)

__all__ = [
    "BRANCH_SUFFIXES",
    "COMPANY_SUFFIXES",
    "LATIN_BRANCH_WORDS",
    "MERGE",
    "MERGED_INTO",
    "MERGED_TAG",
    "PLUS_ADDRESSING_DOMAINS",
    "REGIONS",
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
    "qualifiers_agree",
]
