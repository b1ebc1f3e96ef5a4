"""The team layer on the sample company: routing by region, duplicates, and scoped reads."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from pipeline_core import storage
from pipeline_core.access import ScopedStore
from pipeline_core.assignment import Router, RoutingPolicy
from pipeline_core.identity import DedupIndex
from pipeline_core.records import Role
from pipeline_core.samples import SampleConfig, generate


@pytest.fixture(scope="module")
def company():  # type: ignore[no-untyped-def]
    return generate(
        SampleConfig(seed=7, n_leads=400, start=datetime(2025, 1, 6, tzinfo=UTC), days=60)
    )


def test_route_sample_leads_by_team_region(company) -> None:  # type: ignore[no-untyped-def]
    reps = [u for u in company.users if u.role not in (Role.MANAGER, Role.ADMIN, Role.ANALYST)]
    rules = [
        {
            "name": t.region,
            "territory": [t.region],
            "reps": [u.id for u in reps if u.team_id == t.id],
        }
        for t in company.teams
        if t.region and any(u.team_id == t.id for u in reps)
    ]
    policy = RoutingPolicy.from_dict(
        {"reps": [{"id": u.id, "max_open": 40} for u in reps], "rules": rules, "default": []}
    )
    leads = sorted(company.leads(), key=lambda ld: (ld.created_at, ld.id))
    decisions = Router(policy).route_all(leads)
    team_of = {u.id: u.team_id for u in reps}
    region_of = {t.id: t.region for t in company.teams}
    for ld, d in zip(leads, decisions, strict=True):
        if d.owner_id is not None:
            assert region_of[team_of[d.owner_id]] == ld.region  # routed inside its territory
    load = Counter(d.owner_id for d in decisions if d.owner_id is not None)
    assert load and max(load.values()) <= 40


def test_sample_phones_and_emails_dedup(company) -> None:  # type: ignore[no-untyped-def]
    leads = list(company.leads())
    idx = DedupIndex()
    for ld in leads:
        idx.add_lead(ld)
    for ld in leads[:50]:
        found = {m.existing_id for m in idx.find_lead(ld)}
        same = {
            o.id
            for o in leads
            if o.id != ld.id
            and ((ld.phone and o.phone == ld.phone) or (ld.email and o.email == ld.email))
        }
        assert same <= found


def test_scoped_reads_on_sample_store(company) -> None:  # type: ignore[no-untyped-def]
    with storage.open("memory://") as s:
        s.teams.bulk_add(company.teams)
        s.users.bulk_add(company.users)
        s.leads.bulk_add(company.leads())
        s.opportunities.bulk_add(company.opportunities())
        rep = next(u for u in company.users if u.role is Role.AE)
        manager = next(
            u
            for u in company.users
            if u.id == next(t.manager_id for t in company.teams if t.id == rep.team_id)
        )
        team = {u.id for u in company.users if u.team_id == rep.team_id}
        mine = {o.id for o in s.opportunities.all() if o.owner_id == rep.id}
        assert {o.id for o in ScopedStore(s, rep).opportunities.all()} == mine
        seen = {o.owner_id for o in ScopedStore(s, manager).opportunities.all()}
        assert seen and seen <= team
