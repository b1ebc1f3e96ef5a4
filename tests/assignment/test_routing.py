"""Routing: rules, strategies, limits, the fallback queue, explanations, determinism."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from team_support import T0, at, lead

from pipeline_core.assignment import Router, RoutingPolicy, Strategy
from pipeline_core.errors import ConfigError, ValidationError


def policy(**kw: Any) -> RoutingPolicy:
    data: dict[str, Any] = {
        "reps": [
            {"id": "bob", "max_open": 20},
            {"id": "amy", "max_open": 20},
            {"id": "cat", "max_open": 20},
        ],
        "rules": [
            {"name": "east-china", "territory": ["上海", "杭州"], "reps": ["bob", "amy"]},
            {"name": "finance", "industry": ["finance"], "reps": ["cat"]},
        ],
    }
    data.update(kw)
    return RoutingPolicy.from_dict(data)


def test_rule_routes_and_explains() -> None:
    router = Router(policy(), open_counts={"bob": 12})
    d = router.route(lead("l1", region="上海"))
    assert d.owner_id == "bob"
    assert d.rule == "east-china"
    assert d.reason == "to bob: rule 'east-china' (round_robin), load 12/20"
    assert router.open_count("bob") == 13


def test_round_robin_alternates_within_rule() -> None:
    router = Router(policy())
    owners = [router.route(lead(f"l{i}", region="杭州")).owner_id for i in range(5)]
    assert owners == ["bob", "amy", "bob", "amy", "bob"]


def test_first_matching_rule_wins_and_conditions_are_all_of() -> None:
    router = Router(policy())
    assert router.route(lead("l1", region="上海", industry="finance")).rule == "east-china"
    assert router.route(lead("l2", region="北京", industry="finance")).rule == "finance"
    assert router.route(lead("l3", region="北京")).rule == "default"


def test_full_rule_falls_through_to_default_then_queue() -> None:
    p = policy(
        reps=[
            {"id": "bob", "max_open": 1},
            {"id": "amy", "max_open": 1},
            {"id": "cat", "max_open": 1},
        ],
        default=["cat"],
    )
    router = Router(p)
    first = [router.route(lead(f"l{i}", region="上海")) for i in range(3)]
    assert [d.owner_id for d in first] == ["bob", "amy", "cat"]
    assert first[2].rule == "default"
    queued = router.route(lead("l9", region="上海"))
    assert queued.owner_id is None
    assert queued.queue == "unassigned"
    assert (
        queued.reason
        == "to queue 'unassigned': no rep under its limits in rule 'east-china', 'default'"
    )


def test_no_default_means_queue() -> None:
    router = Router(policy(default=[]))
    d = router.route(lead("l1", region="北京"))
    assert d.owner_id is None
    assert "no rule matched" in d.reason


def test_daily_quota_from_monthly_capacity_odoo() -> None:
    # Odoo: daily quota = round(monthly capacity / 30); 75/30 = 2.5 rounds (half to even) to 2.
    p = RoutingPolicy.from_dict(
        {"reps": [{"id": "bob", "monthly_capacity": 75}], "default": ["bob"]}
    )
    assert p.reps[0].quota == 2
    router = Router(p)
    ds = [router.route(lead(f"l{i}"), at=at(i)) for i in range(3)]
    assert [d.owner_id for d in ds] == ["bob", "bob", None]
    assert ds[1].reason.endswith("today 1/2")
    # 24 hours after the first assignment its slot frees up again.
    assert router.route(lead("l9"), at=at(24)).owner_id == "bob"


def test_weighted_follows_weights() -> None:
    p = RoutingPolicy.from_dict(
        {
            "reps": [{"id": "a", "weight": 3}, {"id": "b", "weight": 1}],
            "rules": [{"name": "all", "reps": ["a", "b"], "strategy": "weighted"}],
        }
    )
    router = Router(p)
    owners = [router.route(lead(f"l{i}")).owner_id for i in range(8)]
    assert Counter(owners) == {"a": 6, "b": 2}
    assert owners[:4].count("a") == 3  # smooth: spread out, not a burst


def test_least_loaded_uses_relative_load_and_order_for_ties() -> None:
    p = RoutingPolicy.from_dict(
        {
            "reps": [{"id": "a", "max_open": 10}, {"id": "b", "max_open": 40}],
            "rules": [{"name": "r", "reps": ["a", "b"], "strategy": "least_loaded"}],
        }
    )
    router = Router(p, open_counts={"a": 2, "b": 4})  # 20% vs 10%
    assert router.route(lead("l1")).owner_id == "b"
    router2 = Router(p, open_counts={"a": 1, "b": 4})  # 10% vs 10%: order
    assert router2.route(lead("l1")).owner_id == "a"


def test_inactive_rep_skipped_and_close_frees_capacity() -> None:
    p = RoutingPolicy.from_dict(
        {"reps": [{"id": "a", "active": False}, {"id": "b", "max_open": 1}], "default": ["a", "b"]}
    )
    router = Router(p)
    assert router.route(lead("l1")).owner_id == "b"
    assert router.route(lead("l2")).owner_id is None
    router.close("b")
    assert router.route(lead("l3")).owner_id == "b"


def test_grade_and_language_facts() -> None:
    p = RoutingPolicy.from_dict(
        {
            "reps": [{"id": "a"}, {"id": "b"}],
            "rules": [
                {"name": "a-grade", "grade": ["A"], "reps": ["a"]},
                {"name": "english", "language": ["en"], "reps": ["b"]},
            ],
            "default": [],
        }
    )
    router = Router(p)
    assert router.route(lead("l1"), grade="A").owner_id == "a"
    assert router.route(lead("l2", custom={"grade": "A"})).owner_id == "a"
    assert router.route(lead("l3", custom={"language": "en"})).owner_id == "b"
    assert router.route(lead("l4")).owner_id is None


def test_config_errors_list_everything() -> None:
    with pytest.raises(ConfigError) as err:
        RoutingPolicy.from_dict(
            {
                "reps": [{"id": "a", "weight": 0}, {"id": "a"}],
                "rules": [
                    {"name": "r", "reps": ["zz"]},
                    {"name": "r", "reps": ["a"], "strategy": "random"},
                ],
                "colour": "red",
            }
        )
    fields = set(err.value.fields)
    assert {"reps[0].weight", "rules[1].strategy", "colour"} <= fields
    with pytest.raises(ConfigError) as err2:
        RoutingPolicy.from_dict(
            {
                "reps": [{"id": "a"}, {"id": "a"}],
                "rules": [{"name": "r", "reps": ["zz"]}, {"name": "r", "reps": ["a"]}],
                "default": ["q"],
            }
        )
    assert set(err2.value.fields) == {
        "reps[1].id",
        "rules[0].reps[0]",
        "rules[1].name",
        "default[0]",
    }


def test_round_trip_and_schema() -> None:
    p = policy(default=["cat"], default_strategy="round_robin")
    assert RoutingPolicy.from_dict(p.to_dict()) == p
    schema = RoutingPolicy.json_schema()
    assert "reps" in schema["required"]


def test_unknown_reps_in_state_and_naive_time() -> None:
    with pytest.raises(ConfigError):
        Router(policy(), open_counts={"zed": 1})
    with pytest.raises(ValidationError):
        Router(policy()).route(lead("l1"), at=T0.replace(tzinfo=None))


# --------------------------------------------------------------------------- properties

regions = st.sampled_from(["上海", "杭州", "北京", None])
industries = st.sampled_from(["finance", "retail", None])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[RoutingPolicy, list[Any], dict[str, int]]:
    n = draw(st.integers(1, 4))
    reps = [
        {
            "id": f"r{i}",
            "weight": draw(st.integers(1, 4)),
            "max_open": draw(st.none() | st.integers(0, 6)),
            "daily_quota": draw(st.none() | st.integers(0, 4)),
        }
        for i in range(n)
    ]
    ids = [r["id"] for r in reps]
    rules = [
        {
            "name": f"rule{j}",
            "reps": draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True)),
            "strategy": draw(st.sampled_from(list(Strategy))).value,
            "territory": draw(st.none() | st.just(["上海", "杭州"])),
            "industry": draw(st.none() | st.just(["finance"])),
        }
        for j in range(draw(st.integers(0, 3)))
    ]
    default = draw(st.none() | st.lists(st.sampled_from(ids), max_size=3, unique=True))
    p = RoutingPolicy.from_dict({"reps": reps, "rules": rules, "default": default})
    gaps = draw(st.lists(st.integers(0, 30), min_size=1, max_size=40))
    hours = 0
    leads = []
    for i, g in enumerate(gaps):
        hours += g
        leads.append(
            lead(f"l{i}", region=draw(regions), industry=draw(industries), created_at=at(hours))
        )
    open_counts = {rid: draw(st.integers(0, 3)) for rid in ids}
    return p, leads, open_counts


@given(scenarios())
def test_never_exceeds_limits(s: tuple[RoutingPolicy, list[Any], dict[str, int]]) -> None:
    p, leads, open_counts = s
    decisions = Router(p, open_counts=open_counts).route_all(leads)
    reps = {r.id: r for r in p.reps}
    per_rep: dict[str, list[Any]] = {}
    for d in decisions:
        if d.owner_id is not None:
            per_rep.setdefault(d.owner_id, []).append(d.at)
    for rid, times in per_rep.items():
        rep = reps[rid]
        if rep.max_open is not None:
            assert open_counts[rid] + len(times) <= max(rep.max_open, open_counts[rid])
            if open_counts[rid] >= rep.max_open:
                assert times == []
        if rep.quota is not None:
            for t in times:
                window = [u for u in times if t - timedelta(hours=24) < u <= t]
                assert len(window) <= rep.quota


@given(scenarios())
def test_deterministic(s: tuple[RoutingPolicy, list[Any], dict[str, int]]) -> None:
    p, leads, open_counts = s
    a = Router(p, open_counts=open_counts).route_all(leads)
    b = Router(RoutingPolicy.from_dict(p.to_dict()), open_counts=dict(open_counts)).route_all(leads)
    assert a == b


@given(scenarios())
def test_queue_only_when_nobody_eligible(
    s: tuple[RoutingPolicy, list[Any], dict[str, int]],
) -> None:
    p, leads, open_counts = s
    router = Router(p, open_counts=open_counts)
    for ld in leads:
        before = {r.id: router.open_count(r.id) for r in p.reps}
        d = router.route(ld)
        if d.owner_id is None:
            # No candidate rep of a matching rule or the default was under its limits.
            cands = {
                rid
                for rule in p.rules
                if rule.matches(
                    {"territory": ld.region, "industry": ld.industry, "source": ld.source}
                )
                for rid in rule.reps
            }
            cands |= set(p.default if p.default is not None else before)
            for rid in cands:
                rep = next(r for r in p.reps if r.id == rid)
                full = rep.max_open is not None and before[rid] >= rep.max_open
                quota_hit = (
                    rep.quota is not None
                    and router.assigned_within_day(rid, ld.created_at) >= rep.quota
                )
                assert full or quota_hit
