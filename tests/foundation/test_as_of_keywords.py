"""#18: the evaluation instant is ``as_of`` in every public signature; the old keyword (``t``,
``at``, ``now``) keeps working for one release with a :class:`DeprecationWarning`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pipeline_core import storage
from pipeline_core.ids import SequentialIds
from pipeline_core.metrics.segments import CustomerFacts, SegmentPolicy, refresh
from pipeline_core.money import conversion_instant
from pipeline_core.records import Lead, NextStep, Opportunity
from pipeline_core.sla.instants import to_us
from pipeline_core.sla.recurrence import Recurrence

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)


def test_due_by_reads_as_of_and_the_old_t() -> None:
    store = storage.open("memory://")
    due = NextStep(action="call", due_at=T0 + timedelta(days=1))
    store.leads.add(Lead(id="l1", created_at=T0, source="web", next_step=due))
    assert [x.id for x in store.leads.due_by(as_of=T0 + timedelta(days=2))] == ["l1"]
    assert [x.id for x in store.leads.due_by(T0)] == []
    with pytest.warns(DeprecationWarning, match=r"due_by\(t=\.\.\.\) is deprecated"):
        old = [x.id for x in store.opportunities.due_by(t=T0 + timedelta(days=2))]
    assert old == []


def test_conversion_instant_reads_as_of_and_the_old_at() -> None:
    closed = T0 + timedelta(days=3)
    won = Opportunity(
        id="w", name="A", created_at=T0, owner_id="u", stage="won", stage_entered_at=T0,
        closed_at=closed,
    )  # fmt: skip
    assert conversion_instant(won, as_of=T0 + timedelta(days=5)) == closed
    with pytest.warns(DeprecationWarning, match=r"conversion_instant\(at=\.\.\.\)"):
        assert conversion_instant(won, at=T0 + timedelta(days=1)) == T0 + timedelta(days=1)


def test_segments_refresh_reads_as_of_and_the_old_at() -> None:
    facts = {"c1": CustomerFacts(id="c1", last_contact_at=T0 - timedelta(days=100))}
    policy = SegmentPolicy.default()
    new, entries = refresh(policy, facts, as_of=T0, ids=SequentialIds())
    with pytest.warns(DeprecationWarning, match=r"refresh\(at=\.\.\.\)"):
        old, old_entries = refresh(policy, facts, at=T0, ids=SequentialIds())
    assert new == old and entries == old_entries
    assert [e.at for e in entries] == [T0]  # the entries are recorded at the evaluation instant


def test_recurrence_after_and_back_read_as_of_and_the_old_now() -> None:
    weekly = Recurrence("FREQ=WEEKLY", ZoneInfo("Asia/Shanghai"))
    start, as_of = to_us(T0), to_us(T0 + timedelta(days=15))
    week = to_us(T0 + timedelta(days=7)) - start
    assert weekly.after(start, as_of=as_of) == start + 3 * week
    assert list(weekly.back(start, as_of=as_of)) == [start + 2 * week, start + week]
    with pytest.warns(DeprecationWarning, match=r"after\(now=\.\.\.\)"):
        assert weekly.after(start, now=as_of) == start + 3 * week
    with pytest.warns(DeprecationWarning, match=r"back\(now=\.\.\.\)"):
        assert list(weekly.back(start, now=as_of)) == [start + 2 * week, start + week]
