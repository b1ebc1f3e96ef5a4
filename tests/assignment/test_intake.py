"""Intake: dedup before routing keeps one customer with one rep; commit writes all or nothing."""

from __future__ import annotations

import pytest
from team_support import at, lead

from pipeline_core import storage
from pipeline_core.assignment import Router, RoutingPolicy, apply_merge, commit, intake
from pipeline_core.errors import ConcurrencyError
from pipeline_core.identity import DedupIndex, plan_merge
from pipeline_core.ids import SequentialIds


def _router() -> Router:
    return Router(
        RoutingPolicy.from_dict(
            {"reps": [{"id": "a1"}, {"id": "b1"}], "default_strategy": "round_robin"}
        )
    )


def test_duplicate_goes_to_existing_owner() -> None:
    idx = DedupIndex()
    owners = {"old": "b1"}
    idx.add("old", phone="13800138000")
    res = intake(
        lead("new", phone="+86 138-0013-8000"), index=idx, router=_router(), owner_of=owners.get
    )
    assert res.lead.owner_id == "b1"
    assert res.decision.reason == "to b1: duplicate of old (same phone +8613800138000)"
    assert res.duplicate_of == "old"
    # the new lead is now indexed too
    assert [m.existing_id for m in idx.find(phone="13800138000")] == ["old", "new"]


def test_unowned_duplicate_or_weak_match_is_routed() -> None:
    idx = DedupIndex(threshold=50)
    idx.add("pooled", phone="13800138000")
    idx.add("similar", company="杭州云帆科技")
    router = _router()
    r1 = intake(lead("n1", phone="13800138000"), index=idx, router=router, owner_of=lambda _: None)
    assert r1.decision.rule == "default" and r1.lead.owner_id == "a1"
    assert r1.duplicate_of is None and r1.matches[0].existing_id == "pooled"
    r2 = intake(
        lead("n2", company="杭州云帆"),
        index=idx,
        router=router,
        owner_of={"similar": "a1"}.get,
        add_to_index=False,
    )
    assert r2.matches and r2.matches[0].score < 0.9
    assert r2.decision.rule == "default" and r2.lead.owner_id == "b1"


def test_apply_merge_and_commit_are_atomic() -> None:
    with storage.open("memory://") as s:
        l1, l2 = lead("l1", owner_id="a1"), lead("l2", owner_id="b1", created_at=at(1))
        s.leads.bulk_add([l1, l2])
        plan = plan_merge([l1, l2], at=at(2), by="m1", ids=SequentialIds())
        apply_merge(s, plan)
        assert s.leads.get("l2").owner_id == "a1"
        assert [e.kind for e in s.journal.all()] == ["merge", "merged_into"]
        stale = l1.evolve(needs="x")  # version 2 again: the merge already wrote version 2
        with pytest.raises(ConcurrencyError):
            commit(s, [s.leads.get("l2").evolve(needs="y"), stale])
        assert s.leads.get("l2").version == 2  # nothing half-written
