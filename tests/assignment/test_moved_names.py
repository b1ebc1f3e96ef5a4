"""The team layer's moved and renamed names still resolve, for one release, with a warning.

``pipeline_core.assignment`` kept routing, the pool, ownership and the service; identity (dedup,
merge) moved to :mod:`pipeline_core.identity`, authorisation to :mod:`pipeline_core.access`,
segments to :mod:`pipeline_core.metrics.segments`; ``ownership.Reminder`` is ``HandoverReminder``;
evaluation instants are ``as_of``.
"""

from __future__ import annotations

import importlib
import warnings
from datetime import UTC, datetime

import pytest

import pipeline_core.access as access
import pipeline_core.assignment as assignment
import pipeline_core.identity as identity
import pipeline_core.metrics.segments as segments
from pipeline_core.assignment import ownership

# old module -> {old name: (new home, new name)}
MOVED: dict[str, dict[str, tuple[object, str]]] = {
    "pipeline_core.assignment": {
        **{n: (access, n) for n in ("AccessDecision", "AccessPolicy", "AccessRole", "Directory")},
        **{n: (access, n) for n in ("Grant", "Scope", "ScopedStore", "audit")},
        **{n: (access, n) for n in ("mask_email", "mask_phone")},
        **{
            n: (identity, n)
            for n in (
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
            n: (segments, n)
            for n in (
                "CustomerFacts",
                "SegmentPolicy",
                "SegmentRule",
                "customer_facts",
                "refresh",
                "segment_column",
            )
        },
        "Reminder": (ownership, "HandoverReminder"),
    },
    "pipeline_core.assignment.ownership": {"Reminder": (ownership, "HandoverReminder")},
    "pipeline_core.assignment.access": {
        n: (access, n)
        for n in (
            "AccessDecision",
            "AccessPolicy",
            "AccessRole",
            "Action",
            "Directory",
            "Grant",
            "Scope",
            "FREE_TEXT_FIELDS",
            "MASK_PHONE_REGIONS",
            "PERSONAL_FIELDS",
            "mask_email",
            "mask_known",
            "mask_name",
            "mask_phone",
            "mask_text",
        )
    },
    "pipeline_core.assignment.scoped": {
        n: (access, n)
        for n in (
            "ScopedStore",
            "access_findings",
            "audit",
            "reference_collection",
            "subject_collection",
        )
    },
    "pipeline_core.assignment.dedup": {
        n: (identity, n)
        for n in (
            "BRANCH_SUFFIXES",
            "COMPANY_SUFFIXES",
            "LATIN_BRANCH_WORDS",
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
        )
    },
    "pipeline_core.assignment.merge": {
        n: (identity, n)
        for n in (
            "MERGE",
            "MERGED_INTO",
            "MERGED_TAG",
            "MergePlan",
            "merged_subjects",
            "plan_merge",
        )
    },
    "pipeline_core.assignment.segments": {
        n: (segments, n)
        for n in (
            "SEGMENT_CHANGE",
            "CustomerFacts",
            "SegmentPolicy",
            "SegmentRule",
            "customer_facts",
            "refresh",
            "segment_column",
        )
    },
}
SHIMS = [
    f"pipeline_core.assignment.{m}" for m in ("access", "dedup", "merge", "scoped", "segments")
]
CASES = [(old, name, *new) for old, names in MOVED.items() for name, new in names.items()]


@pytest.mark.parametrize(("old", "name", "home", "new_name"), CASES)
def test_moved_name_warns_and_resolves(old: str, name: str, home: object, new_name: str) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} is deprecated"):
        got = getattr(module, name)
    assert got is getattr(home, new_name)
    if old not in SHIMS:
        assert name not in getattr(module, "__all__", ())
    elif name != "LATIN_BRANCH_WORDS":  # never in the old module's __all__
        # a shim module lists its old names, so ``from shim import *`` still imports them
        assert name in module.__all__


@pytest.mark.parametrize("old", SHIMS)
def test_star_import_from_a_shim_gives_the_old_names_with_warnings(old: str) -> None:
    names: dict[str, object] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(f"from {old} import *", names)
    imported = sorted(n for n in names if not n.startswith("__"))
    assert imported == sorted(importlib.import_module(old).__all__)
    assert len([w for w in caught if w.category is DeprecationWarning]) == len(imported)


def test_old_from_imports_keep_working() -> None:
    with pytest.warns(DeprecationWarning, match="pipeline_core.access.ScopedStore"):
        from pipeline_core.assignment import ScopedStore
    assert ScopedStore is access.ScopedStore
    with pytest.raises(AttributeError):
        assignment.NoSuchName


T = datetime(2025, 3, 3, 9, tzinfo=UTC)


def test_evaluation_instants_take_the_old_keyword_with_a_warning() -> None:
    from pipeline_core.assignment import PoolPolicy, pool_reason
    from pipeline_core.records import Lead

    lead = Lead(id="l1", created_at=T, source="web", owner_id="a1")
    later = datetime(2025, 6, 1, tzinfo=UTC)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = pool_reason(lead, as_of=later, policy=PoolPolicy())
    with pytest.warns(DeprecationWarning, match="as_of"):
        old = pool_reason(lead, at=later, policy=PoolPolicy())  # type: ignore[call-arg]
    assert old == new is not None
    with pytest.warns(DeprecationWarning, match="as_of"):
        facts = segments.customer_facts(at=later)  # type: ignore[call-arg]
    assert facts == segments.customer_facts(as_of=later)
