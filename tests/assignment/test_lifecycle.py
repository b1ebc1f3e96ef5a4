"""Merge, ownership handover, public pool and segments."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from team_support import T0, at, lead

from pipeline_core.assignment import (
    HandoverReminder,
    PoolLimitError,
    PoolPolicy,
    claim,
    handover_summary,
    ownership_history,
    pool_reason,
    release,
    sweep,
    transfer,
)
from pipeline_core.errors import ConfigError, CurrencyMismatchError, ValidationError
from pipeline_core.identity import merged_subjects, plan_merge
from pipeline_core.ids import SequentialIds
from pipeline_core.metrics.segments import (
    CustomerFacts,
    SegmentPolicy,
    customer_facts,
    refresh,
    segment_column,
)
from pipeline_core.records import (
    Activity,
    ActivityKind,
    LeadStatus,
    Money,
    NextStep,
    Opportunity,
    StageEvent,
)
from pipeline_core.stages import templates


def act(id: str, subject: str, hours: float, **kw: object) -> Activity:
    kw.setdefault("owner_id", "a1")
    return Activity(id=id, kind=ActivityKind.CALL, at=at(hours), lead_id=subject, **kw)  # type: ignore[arg-type]


def opp(id: str, **kw: object) -> Opportunity:
    kw.setdefault("created_at", T0)
    kw.setdefault("stage_entered_at", kw["created_at"])
    kw.setdefault("owner_id", "a1")
    kw.setdefault("stage", "first_contact")
    return Opportunity(id=id, name=f"deal {id}", **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- merge


def test_merge_keeps_earliest_owner_fills_fields_unions_tags() -> None:
    first = lead("l1", owner_id="a1", phone="13800138000", tags=frozenset({"vip"}))
    second = lead(
        "l2",
        owner_id="b1",
        created_at=at(5),
        email="x@example.com",
        company="某某",
        tags=frozenset({"expo", "vip"}),
        custom={"k": 1},
    )
    acts = [act("x1", "l1", 1), act("x2", "l2", 6), act("x3", "other", 7)]
    plan = plan_merge(
        [second, first],
        at=at(10),
        by="m1",
        ids=SequentialIds(),
        activities=acts,
        reason="same phone",
    )
    s = plan.survivor
    assert s.id == "l1" and s.owner_id == "a1" and s.version == 2
    assert s.email == "x@example.com" and s.company == "某某" and s.phone == "13800138000"
    assert s.tags == {"vip", "expo"}
    assert s.custom == {"k": 1}
    [m] = plan.merged
    assert m.owner_id == "a1"  # b1 no longer works this customer
    assert m.status is LeadStatus.DISQUALIFIED and m.custom["merged_into"] == "l1"
    assert "merged" in m.tags
    assert plan.displaced_owners == ("b1",)
    p = plan.provenance
    assert p["fields"] == {"email": "l2", "company": "l2"}
    assert p["tags"] == {"vip": ["l1", "l2"], "expo": ["l2"]}
    assert p["activities"] == {"x1": "l1", "x2": "l2"}
    kinds = [e.kind for e in plan.entries]
    assert kinds == ["merge", "merged_into"]
    assert merged_subjects("l1", plan.entries) == ["l1", "l2"]


def test_merge_opportunities_lists_events() -> None:
    o1, o2 = opp("o1"), opp("o2", created_at=at(1), owner_id="b1")
    ev = StageEvent(id="e1", opportunity_id="o2", to_stage="s1", at=at(1), by="b1")
    plan = plan_merge([o1, o2], at=at(2), by="m1", ids=SequentialIds(), events=[ev])
    assert plan.provenance["events"] == {"e1": "o2"}
    assert plan.merged[0].owner_id == "a1"


def test_merge_problems_listed() -> None:
    a = lead("l1")
    with pytest.raises(ValidationError) as err:
        plan_merge(
            [a, a], at=T0.replace(tzinfo=None), by="m", ids=SequentialIds(), survivor_id="zz"
        )
    assert set(err.value.fields) == {"records[1].id", "survivor_id", "at"}
    with pytest.raises(ValidationError):
        plan_merge([a], at=T0, by="m", ids=SequentialIds())
    with pytest.raises(ValidationError):
        plan_merge([a, opp("o1")], at=T0, by="m", ids=SequentialIds())  # type: ignore[list-item]


tags_st = st.frozensets(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=4)


@given(
    st.lists(st.tuples(tags_st, st.integers(0, 100)), min_size=2, max_size=6),
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 200)), max_size=20),
    st.data(),
)
def test_merge_keeps_every_activity_and_tag(
    recs: list[tuple[frozenset[str], int]], acts_spec: list[tuple[int, int]], data: st.DataObject
) -> None:
    leads = [
        lead(f"l{i}", tags=tags, created_at=at(h), owner_id=f"u{i % 3}")
        for i, (tags, h) in enumerate(recs)
    ]
    acts = [act(f"x{j}", f"l{k % len(leads)}", h) for j, (k, h) in enumerate(acts_spec)]
    survivor = data.draw(st.none() | st.sampled_from([r.id for r in leads]))
    plan = plan_merge(
        leads, at=at(500), by="m", ids=SequentialIds(), activities=acts, survivor_id=survivor
    )
    all_tags = frozenset().union(*(r.tags for r in leads))
    assert plan.survivor.tags == all_tags
    for tag, sources in plan.provenance["tags"].items():
        assert sorted(sources) == sorted(r.id for r in leads if tag in r.tags)
    assert set(plan.provenance["activities"]) == {a.id for a in acts}
    for aid, subject in plan.provenance["activities"].items():
        assert next(a for a in acts if a.id == aid).lead_id == subject
    assert {r.owner_id for r in (plan.survivor, *plan.merged)} == {plan.survivor.owner_id}
    assert sorted([plan.survivor.id, *(m.id for m in plan.merged)]) == sorted(r.id for r in leads)
    for m in plan.merged:
        assert m.tags >= next(r for r in leads if r.id == m.id).tags


# --------------------------------------------------------------------------- ownership


def test_transfer_with_handover() -> None:
    rec = lead("l1", owner_id="a1", next_step=NextStep(action="send quote", due_at=at(48)))
    acts = [
        act("x1", "l1", 1, notes="first call"),
        act("x2", "l1", 5, next_action=NextStep(action="demo", due_at=at(30))),
        act("x3", "l1", 3),
        act("x4", "l1", 99),  # after the transfer: not part of the summary
        act("x5", "l9", 2),
    ]
    reminders = [
        HandoverReminder("call back", at(40), "l1"),
        HandoverReminder("silence warning", at(20), "l1"),
    ]
    new, entry, summary = transfer(
        rec,
        "b1",
        at=at(10),
        by="m1",
        reason="a1 on leave",
        ids=SequentialIds(),
        activities=acts,
        reminders=reminders,
    )
    assert new.owner_id == "b1" and new.version == 2
    assert [a.id for a in summary.last_contacts] == ["x2", "x3", "x1"]
    assert [s.action for s in summary.open_next_steps] == ["demo", "send quote"]
    assert [r.what for r in summary.open_reminders] == ["silence warning", "call back"]
    assert entry.kind == "transfer" and entry.reason == "a1 on leave"
    assert entry.payload["from"] == "a1" and entry.payload["to"] == "b1"
    assert len(entry.payload["handover"]["last_contacts"]) == 3
    assert ownership_history([entry], "l1") == [(at(10), "a1", "b1", "a1 on leave")]


def test_transfer_problems() -> None:
    rec = lead("l1", owner_id="a1")
    with pytest.raises(ValidationError) as err:
        transfer(rec, "a1", at=T0.replace(tzinfo=None), by="m", reason=" ", ids=SequentialIds())
    assert set(err.value.fields) == {"reason", "to_owner", "at"}


def test_transfer_opportunity_moves_team() -> None:
    new, entry, _ = transfer(
        opp("o1", team_id="east"),
        "b1",
        at=at(1),
        by="m",
        reason="r",
        ids=SequentialIds(),
        team_id="west",
    )
    assert new.team_id == "west" and entry.payload["team"] == {"from": "east", "to": "west"}


def test_handover_last_n() -> None:
    acts = [act(f"x{i}", "l1", i) for i in range(10)]
    s = handover_summary(lead("l1"), acts, as_of=at(100), last=3)
    assert [a.id for a in s.last_contacts] == ["x9", "x8", "x7"]


# --------------------------------------------------------------------------- pool


def test_pool_rules() -> None:
    pol = PoolPolicy.from_dict({"idle_days": 7, "nurture_lost_reasons": ["budget"]})
    now = at(24 * 10)
    assert (
        pool_reason(lead("l1", owner_id="a1"), as_of=now, policy=pol)
        == "never contacted for 10 days (limit 7)"
    )
    assert (
        pool_reason(lead("l1", owner_id="a1"), as_of=now, policy=pol, last_contact_at=at(24 * 5))
        is None
    )
    assert (
        pool_reason(lead("l1", owner_id="a1"), as_of=now, policy=pol, last_contact_at=at(24 * 3))
        == "no follow-up for 7 days (limit 7)"
    )
    lost = opp("o1", closed_at=at(1), lost_reason="budget")
    with pytest.warns(DeprecationWarning, match="stages="):  # no pipeline: the old reading
        assert pool_reason(lost, as_of=now, policy=pol) == "lost (budget) but worth nurturing"
    assert (
        pool_reason(
            opp("o2", closed_at=at(1), lost_reason="competitor", stage="lost"),
            as_of=now,
            policy=pol,
        )
        is None
    )
    assert (
        pool_reason(lead("l2", status=LeadStatus.NURTURING), as_of=at(1), policy=pol)
        == "lead is being nurtured"
    )
    assert pool_reason(lead("l3", status=LeadStatus.CONVERTED), as_of=now, policy=pol) is None


def test_sweep_and_claim_with_limits() -> None:
    pol = PoolPolicy(idle_days=3, claims_per_day=2, max_held=5)
    ids = SequentialIds()
    recs = [lead(f"l{i}", owner_id="a1") for i in range(4)]
    moves = sweep(recs, at=at(24 * 4), policy=pol, ids=ids, last_contact={"l3": at(24 * 3)})
    assert [r.id for r, _ in moves] == ["l0", "l1", "l2"]
    pooled = [r for r, _ in moves]
    assert all(r.owner_id == "public-pool" and "pool" in r.tags for r in pooled)
    assert moves[0][1].kind == "pool_release" and moves[0][1].payload["from"] == "a1"
    journal = [e for _, e in moves]
    t = at(24 * 4 + 1)
    got, e1 = claim(pooled[0], "b1", at=t, policy=pol, ids=ids, journal=journal)
    assert got.owner_id == "b1" and "pool" not in got.tags and e1.kind == "pool_claim"
    journal.append(e1)
    _, e2 = claim(pooled[1], "b1", at=t, policy=pol, ids=ids, journal=journal)
    journal.append(e2)
    with pytest.raises(PoolLimitError, match="limit 2"):
        claim(pooled[2], "b1", at=t, policy=pol, ids=ids, journal=journal)
    # another rep still may; and b1 may again 24 hours later
    claim(pooled[2], "a2", at=t, policy=pol, ids=ids, journal=journal)
    claim(pooled[2], "b1", at=t + timedelta(hours=24), policy=pol, ids=ids, journal=journal)
    with pytest.raises(PoolLimitError, match="holds 5"):
        claim(pooled[2], "c1", at=t, policy=pol, ids=ids, held=5)
    with pytest.raises(PoolLimitError, match="not in the pool"):
        claim(recs[3], "b1", at=t, policy=pol, ids=ids)
    with pytest.raises(ValidationError):
        release(pooled[0], at=t, by="x", reason="r", policy=pol, ids=ids)


def test_pool_policy_config() -> None:
    pol = PoolPolicy.from_dict({"idle_days": 14, "claims_per_day": 3})
    assert PoolPolicy.from_dict(pol.to_dict()) == pol
    with pytest.raises(ConfigError) as err:
        PoolPolicy.from_dict({"idle_days": 0, "claims_per_day": -1, "pool_id": "has space"})
    assert set(err.value.fields) == {"idle_days", "claims_per_day", "pool_id"}
    assert "idle_days" in PoolPolicy.json_schema()["properties"]


@given(st.lists(st.integers(0, 24 * 5), min_size=1, max_size=30), st.integers(1, 4))
def test_claims_never_exceed_daily_limit(offsets: list[int], limit: int) -> None:
    pol = PoolPolicy(claims_per_day=limit)
    ids = SequentialIds()
    journal = []
    for i, h in enumerate(sorted(offsets)):
        rec = lead(f"l{i}", owner_id="public-pool")
        try:
            _, e = claim(rec, "b1", at=at(h), policy=pol, ids=ids, journal=journal)
            journal.append(e)
        except PoolLimitError:
            pass
    times = [e.at for e in journal]
    for t in times:
        assert sum(1 for u in times if t - timedelta(hours=24) < u <= t) <= limit


# --------------------------------------------------------------------------- segments


def test_default_segments() -> None:
    pol = SegmentPolicy.default()
    now = at(24 * 200)
    rich = CustomerFacts(
        "c1", won_amount=Decimal(150_000), last_contact_at=now - timedelta(days=120)
    )
    assert pol.evaluate(rich, now) == {"high_value", "dormant"}
    assert pol.primary(rich, now) == "high_value"
    warm = CustomerFacts("c2", grade="B", last_contact_at=now - timedelta(days=3))
    assert pol.primary(warm, now) == "potential"
    busy = CustomerFacts("c3", recent_contacts=3, last_contact_at=now - timedelta(days=31))
    assert pol.evaluate(busy, now) == frozenset()
    assert pol.primary(busy, now) == "other"
    never = CustomerFacts("c4", created_at=now - timedelta(days=90))
    assert pol.primary(never, now) == "dormant"


def test_facts_from_events_and_refresh() -> None:
    now = at(24 * 100)
    acts = [
        Activity(id="x1", kind=ActivityKind.CALL, at=at(24 * 95), owner_id="a1", account_id="acc1"),
        Activity(
            id="x2", kind=ActivityKind.CALL, at=at(24 * 96), owner_id="a1", opportunity_id="o1"
        ),
        Activity(id="x3", kind=ActivityKind.CALL, at=at(24 * 97), owner_id="a1", lead_id="l1"),
        Activity(
            id="x4", kind=ActivityKind.CALL, at=at(24 * 101), owner_id="a1", lead_id="l1"
        ),  # future
    ]
    opps = [
        opp("o1", account_id="acc1", expected_amount=Money.of("120000", "CNY")),
        opp(
            "o2",
            account_id="acc1",
            expected_amount=Money.of("5000", "CNY"),
            closed_at=at(2),
            stage="won",
        ),
        opp(
            "o4",
            account_id="acc2",
            expected_amount=Money.of("1", "CNY"),
            closed_at=at(2),
            lost_reason="price",
            stage="lost",
        ),
    ]
    pipeline = templates.get("small_team")
    # a USD deal without rates is refused, never dropped or read as CNY
    usd = opp("o3", account_id="acc1", expected_amount=Money.of("999999", "USD"))
    with pytest.raises(CurrencyMismatchError):
        customer_facts(as_of=now, opportunities=[*opps, usd], stages=pipeline)
    facts = customer_facts(as_of=now, activities=acts, opportunities=opps, stages=pipeline)
    f = facts["acc1"]
    assert f.last_contact_at == at(24 * 96) and f.recent_contacts == 2
    assert f.open_amount == Decimal(120000) and f.won_amount == Decimal(5000)
    assert facts["l1"].recent_contacts == 1
    assert facts["acc2"].won_amount == 0
    pol = SegmentPolicy.default()
    col = segment_column(pol, facts, now)
    assert col["acc1"] == "high_value"
    current, entries = refresh(
        pol, facts, as_of=now, ids=SequentialIds(), previous={"acc1": frozenset({"dormant"})}
    )
    changed = {e.subject_id: e.payload for e in entries}
    assert list(changed["acc1"]["entered"]) == ["high_value"]
    assert list(changed["acc1"]["left"]) == ["dormant"]
    again, none = refresh(pol, facts, as_of=now, ids=SequentialIds(), previous=current)
    assert none == [] and again == current


def test_segment_policy_config() -> None:
    pol = SegmentPolicy.default()
    assert SegmentPolicy.from_dict(pol.to_dict()) == pol
    with pytest.raises(ConfigError) as err:
        SegmentPolicy.from_dict(
            {
                "segments": [
                    {"name": "x", "min_idle_days": -1},
                    {"name": "x"},
                    {"name": "y", "bogus": 1},
                ]
            }
        )
    assert {"segments[0].min_idle_days", "segments[2].bogus"} <= set(err.value.fields)
    with pytest.raises(ConfigError) as err2:
        SegmentPolicy.from_dict({"segments": [{"name": "x"}, {"name": "x"}]})
    assert err2.value.fields == ("segments[1].name",)


@given(
    st.integers(0, 400),
    st.integers(0, 400),
    st.sampled_from(["A", "B", "C", None]),
    st.integers(0, 10),
)
def test_segments_follow_their_definitions(
    idle: int, amount_k: int, grade: str | None, recent: int
) -> None:
    now = at(24 * 1000)
    f = CustomerFacts(
        "c",
        last_contact_at=now - timedelta(days=idle),
        open_amount=Decimal(amount_k * 1000),
        grade=grade,
        recent_contacts=recent,
    )
    segs = SegmentPolicy.default().evaluate(f, now)
    assert ("dormant" in segs) == (idle >= 90)
    assert ("high_value" in segs) == (amount_k >= 100)
    assert ("potential" in segs) == (idle <= 30 and (grade in ("A", "B") or recent >= 3))
