"""Helpers shared by the team-layer tests (imported as ``team_support``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline_core.records import Lead

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def at(hours: float = 0) -> datetime:
    """T0 plus some hours."""
    return T0 + timedelta(hours=hours)


def lead(id: str, **kw: object) -> Lead:
    """A lead created at T0 unless told otherwise."""
    kw.setdefault("created_at", T0)
    kw.setdefault("source", "website")
    return Lead(id=id, **kw)  # type: ignore[arg-type]
