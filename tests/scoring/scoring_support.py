"""Shared strategies and helpers for the scoring tests (imported as scoring_support)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from pipeline_core.records import Authority, Intent, Lead, Money, NeedLevel, Timeline

AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

# Amounts around the BANT budget limits (30k, 100k, 500k) so every edge is hit often.
EDGES = [0, 1, 29_999, 30_000, 30_001, 99_999, 100_000, 100_001, 499_999, 500_000, 500_001]
amounts = (
    st.one_of(st.sampled_from(EDGES), st.integers(min_value=0, max_value=5_000_000)) | st.none()
)


def _opt(values: list[str]) -> st.SearchStrategy[str | None]:
    return st.sampled_from(values) | st.none()


rows: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "budget": amounts,
        "authority": _opt([a.value for a in Authority]),
        "need": _opt([n.value for n in NeedLevel]),
        "intent": _opt([i.value for i in Intent]),
        "timeline": _opt([t.value for t in Timeline]),
        "industry": _opt(["manufacturing", "saas", "education", "finance", "retail"]),
        "company_size": st.integers(min_value=0, max_value=20_000) | st.none(),
        "source": st.sampled_from(["website", "referral", "event", "social_media"]),
    }
)


def lead_from_row(row: dict[str, Any], i: int = 0) -> Lead:
    """The same data as a Lead record (strings become enums, the budget a Money)."""
    budget = row.get("budget")
    return Lead(
        id=f"lead-{i}",
        created_at=AT,
        source=row.get("source") or "website",
        industry=row.get("industry"),
        company_size=row.get("company_size"),
        budget=None if budget is None else Money(amount=Decimal(budget), currency="CNY"),
        authority=None if row.get("authority") is None else Authority(row["authority"]),
        need=None if row.get("need") is None else NeedLevel(row["need"]),
        intent=None if row.get("intent") is None else Intent(row["intent"]),
        timeline=None if row.get("timeline") is None else Timeline(row["timeline"]),
    )
