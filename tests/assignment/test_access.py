"""Access policies, and their enforcement on every path of a store (in-memory and SQLite)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from team_support import T0, at, lead

from pipeline_core import storage
from pipeline_core.assignment import (
    AccessPolicy,
    AccessRole,
    Directory,
    PoolPolicy,
    Scope,
    ScopedStore,
    claim,
    commit,
    mask_email,
    mask_phone,
    release,
    transfer,
)
from pipeline_core.assignment.access import mask_name, mask_text
from pipeline_core.errors import ConfigError, NotFoundError, PermissionDeniedError
from pipeline_core.ids import SequentialIds
from pipeline_core.records import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    JournalEntry,
    NextStep,
    Opportunity,
    Role,
    SlaOutcome,
    StageEvent,
    Team,
    User,
)

FAR = T0 + timedelta(days=10_000)
EAST = ["a1", "a2", "m1", "c1"]


# --------------------------------------------------------------------------- pure decisions


def test_default_policy_decisions(org: tuple[list[User], list[Team]]) -> None:
    users, teams = org
    d = Directory.of(users, teams)
    u = {x.id: x for x in users}
    pol = AccessPolicy.default()
    assert pol.decide(u["a1"], "read", "a1", d)
    assert not pol.decide(u["a1"], "read", "a2", d)
    assert pol.decide(u["m1"], "write", "c1", d)  # sub-team east-2 is under east
    assert not pol.decide(u["m1"], "read", "b1", d)
    assert pol.decide(u["m2"], "read", "b1", d)
    assert pol.decide(u["root"], "write", "b1", d)
    assert pol.decide(u["ana"], "read", "b1", d)
    assert not pol.decide(u["ana"], "write", "b1", d)
    assert not pol.decide(u["gone"], "read", "gone", d)
    assert not pol.decide(u["a1"], "export", "a1", d)
    assert pol.decide(u["m1"], "read", "zz", d, team_id="east")  # opportunity team
    assert pol.decide(u["b1"], "read", "public-pool", d)
    assert not pol.decide(u["b1"], "write", "public-pool", d)
    reason = pol.decide(u["a1"], "read", "a2", d).reason
    assert reason == "rep a1 may not read (own scope); owner is a2"


def test_masking() -> None:
    # 11 digits: at most a third (11 // 3 = 3) may show, and at most the last 4 -> 3 shown
    assert mask_phone("13800138000") == "********000"
    assert mask_phone("12345") == "****5"  # 5 // 3 = 1 shown, 4 hidden
    assert mask_phone("123") == "***"  # 3 // 3 = 1 would show; at least 3 stars leaves none
    # "alice" has 4+ characters: its "a" and ".com" (5 of 17 <= 17/3) may show
    assert mask_email("alice@example.com") == "a***@***.com"
    # "joe" is too short to show its first letter; ".example" (8 of 16) is more than a third
    assert mask_email("joe@acme.example") == "***@***"
    assert mask_name("张伟") == "***"  # 1 of 2 would be half of it
    assert mask_name("欧阳娜娜") == "欧***"  # 1 of 4
    pol = AccessPolicy.default()
    rec = lead("l1", phone="13800138000", email="alice@example.com", contact_name="张伟")
    masked = pol.mask(rec)
    assert (masked.phone, masked.email, masked.contact_name, masked.version) == (
        "********000",
        "a***@***.com",
        "***",
        1,
    )
    c = Contact(id="c", name="Li Na", created_at=T0, wechat="wx123", phone="010-12345678")
    # "wx123": 5 // 3 = 1 leading character; "Li Na": the same
    assert (pol.mask(c).wechat, pol.mask(c).name) == ("w****", "L****")
    # 010-12345678: 12 characters, 4 may show (12 // 3)
    assert pol.mask(c).phone == "********5678"


def test_masking_free_text() -> None:
    text = "回电 13800138000 或 +1 650-253-0000，邮件 zhang.wei@example.com；预算二十万"
    out = mask_text(text)
    for secret in ("13800138000", "650-253-0000", "zhang.wei@example.com", "zhang", "example"):
        assert secret not in out
    assert out.startswith("回电 ") and out.endswith("；预算二十万")  # the words stay
    assert mask_text("no numbers here") == "no numbers here"
    act = Activity(
        id="x",
        kind=ActivityKind.CALL,
        at=T0,
        owner_id="a1",
        lead_id="l1",
        notes="call 13912345678",
        next_action=NextStep(action="mail li@corp.example", due_at=T0),
    )
    masked = AccessPolicy.default().mask(act)
    assert "13912345678" not in masked.notes
    assert masked.next_action is not None and "li@corp.example" not in masked.next_action.action


@given(st.text(min_size=1, max_size=60))
def test_masks_never_show_most_of_a_value(value: str) -> None:
    # whatever the value, no more than a third of its characters are left in place
    for mask in (mask_phone, mask_name):
        out = mask(value)
        shown = sum(1 for a, b in zip(value, out, strict=False) if a == b and b != "*")
        shown += sum(
            1 for a, b in zip(reversed(value), reversed(out), strict=False) if a == b and b != "*"
        )
        assert shown * 3 <= len(value) * 2 or len(value) < 3  # prefix and suffix counted apart
        assert 3 * (len(out) - out.count("*")) <= len(value)


@given(st.from_regex(r"[a-z0-9._]{1,20}@[a-z0-9]{1,12}\.[a-z]{1,8}", fullmatch=True))
def test_email_masks_show_at_most_a_third(email: str) -> None:
    out = mask_email(email)
    assert 3 * (len(out) - out.count("*") - 1) <= len(email)  # the "@" is structure, not data


def test_policy_config() -> None:
    pol = AccessPolicy.from_dict(
        {"grants": {"rep": {"read": "team", "write": "own"}}, "roles": {"ops": "analyst"}}
    )
    assert pol.grants[AccessRole.REP].read is Scope.TEAM
    assert pol.roles[Role.OPS] is AccessRole.ANALYST
    assert AccessPolicy.from_dict(pol.to_dict()) == pol
    with pytest.raises(ConfigError) as err:
        AccessPolicy.from_dict(
            {
                "grants": {"rep": {"read": "everyone", "write": "own"}},
                "roles": {"king": "admin"},
                "x": 1,
            }
        )
    assert len(err.value.problems) == 3
    assert "grants" in AccessPolicy.json_schema()["properties"]


# --------------------------------------------------------------------------- the scoped store


@pytest.fixture(params=["memory://", "sqlite://"])
def store(request: pytest.FixtureRequest, org: tuple[list[User], list[Team]]) -> Iterator[Any]:
    users, teams = org
    s = storage.open(request.param)
    s.teams.bulk_add(teams)
    s.users.bulk_add(users)
    yield s
    s.close()


def _seed(s: Any) -> None:
    s.accounts.add(Account(id="acc-a1", name="某某科技", created_at=T0, owner_id="a1"))
    s.accounts.add(Account(id="acc-b1", name="Acme", created_at=T0, owner_id="b1"))
    s.contacts.add(
        Contact(id="con-a1", name="张三", created_at=T0, account_id="acc-a1", phone="13800138000")
    )
    s.contacts.add(
        Contact(
            id="con-b1", name="Joe", created_at=T0, account_id="acc-b1", email="joe@acme.example"
        )
    )
    s.leads.add(lead("l-a1", owner_id="a1", phone="13800138000", email="zs@example.com"))
    s.leads.add(lead("l-c1", owner_id="c1"))
    s.leads.add(lead("l-b1", owner_id="b1", phone="13900139000"))
    s.leads.add(lead("l-pool", owner_id="public-pool"))
    s.activities.append(
        Activity(id="x-a1", kind=ActivityKind.CALL, at=at(1), owner_id="a1", lead_id="l-a1")
    )
    s.activities.append(
        Activity(id="x-b1", kind=ActivityKind.CALL, at=at(1), owner_id="b1", lead_id="l-b1")
    )


def test_rep_sees_own_only(store: Any) -> None:
    _seed(store)
    a1 = ScopedStore(store, "a1")
    assert [r.id for r in a1.leads.all()] == ["l-a1", "l-pool"]  # own + the public pool
    assert a1.leads.count() == 2
    assert a1.leads.find("l-b1") is None
    with pytest.raises(NotFoundError):
        a1.leads.get("l-b1")
    assert a1.leads.get("l-pool").owner_id == "public-pool"  # the pool is readable
    assert [c.id for c in a1.contacts.all()] == ["con-a1"]
    assert [x.id for x in a1.activities.all()] == ["x-a1"]
    assert [u.id for u in a1.users.by_team("west")] == ["b1", "gone", "m2"]  # directory
    with pytest.raises(PermissionDeniedError):
        list(a1.export("leads"))


def test_manager_sees_team_and_subteams(store: Any) -> None:
    _seed(store)
    m1 = ScopedStore(store, "m1")
    assert sorted(r.id for r in m1.leads.by_owner("c1")) == ["l-c1"]
    assert sorted(r.id for r in m1.leads.all()) == ["l-a1", "l-c1", "l-pool"]
    assert [row["id"] for row in m1.export("accounts")] == ["acc-a1"]


def test_analyst_masked_and_read_only(store: Any) -> None:
    _seed(store)
    ana = ScopedStore(store, "ana")
    got = ana.leads.get("l-a1")
    # 11 digits -> the last 3 shown; "zs" is too short to show, ".com" is 4 of 14 characters
    assert (got.phone, got.email) == ("********000", "***@***.com")
    rows = {r["id"]: r for r in ana.export("leads")}
    assert rows["l-b1"]["phone"] == "********000"
    assert ana.contacts.get("con-b1").email == "***@***"  # see test_masking
    with pytest.raises(PermissionDeniedError):
        ana.leads.save(store.leads.get("l-a1").evolve(needs="x"))
    with pytest.raises(PermissionDeniedError):
        ana.accounts.save(store.accounts.get("acc-a1").evolve(industry="x"))
    assert store.leads.get("l-a1").phone == "13800138000"  # stored value untouched


def test_writes_are_checked(store: Any) -> None:
    _seed(store)
    a1 = ScopedStore(store, "a1")
    a1.leads.save(store.leads.get("l-a1").evolve(needs="ERP"))
    with pytest.raises(NotFoundError):  # b1's lead is hidden from a1: it is not found
        a1.leads.save(store.leads.get("l-b1").evolve(owner_id="a1"))  # taking b1's lead
    with pytest.raises(PermissionDeniedError):
        a1.leads.save(store.leads.get("l-a1").evolve(owner_id="b1"))  # giving one away
    with pytest.raises(PermissionDeniedError):
        a1.leads.add(lead("new", owner_id="b1"))
    with pytest.raises(PermissionDeniedError):
        a1.activities.append(
            Activity(id="x9", kind=ActivityKind.CALL, at=at(2), owner_id="a1", lead_id="l-b1")
        )
    with pytest.raises(PermissionDeniedError):
        a1.leads.bulk_add([lead("ok", owner_id="a1"), lead("bad", owner_id="b1")])
    assert store.leads.find("ok") is None  # nothing half-written

    def half_allowed() -> None:
        with a1.unit_of_work() as uow:
            uow.leads.add(lead("ok2", owner_id="a1"))
            uow.leads.save(store.leads.get("l-b1").evolve(needs="x"))

    with pytest.raises(NotFoundError):
        half_allowed()
    assert store.leads.find("ok2") is None
    with pytest.raises(PermissionDeniedError):
        a1.users.save(store.users.get("a1").evolve(role=Role.ADMIN))


def test_claim_and_transfer_through_scoped_store(store: Any) -> None:
    _seed(store)
    ids = SequentialIds()
    pol = PoolPolicy()
    b1 = ScopedStore(store, "b1")
    got, entry = claim(store.leads.get("l-pool"), "b1", at=at(3), policy=pol, ids=ids)
    commit(b1, [got], [entry])
    assert store.leads.get("l-pool").owner_id == "b1"
    assert [e.kind for e in b1.journal.for_subject("l-pool")] == ["pool_claim"]
    back, e2 = release(
        store.leads.get("l-pool"), at=at(4), by="b1", reason="not interested", policy=pol, ids=ids
    )
    commit(b1, [back], [e2])
    m1 = ScopedStore(store, "m1")
    new, e3, _ = transfer(
        store.leads.get("l-a1"), "a2", at=at(5), by="m1", reason="rebalance", ids=ids
    )
    commit(m1, [new], [e3])
    assert store.leads.get("l-a1").owner_id == "a2"
    out, e4, _ = transfer(store.leads.get("l-a1"), "b1", at=at(6), by="m1", reason="x", ids=ids)
    with pytest.raises(PermissionDeniedError):
        commit(m1, [out], [e4])  # west is outside m1's team scope
    assert store.leads.get("l-a1").owner_id == "a2"
    assert store.journal.find(e4.id) is None


def test_inactive_actor_sees_nothing(store: Any) -> None:
    _seed(store)
    gone = ScopedStore(store, "gone")
    assert list(gone.leads.all()) == [] and list(gone.users.all()) == []
    with pytest.raises(NotFoundError):
        ScopedStore(store, "nobody")


# --------------------------------------------------------------------------- property: nothing leaks

east_users = st.sampled_from(EAST)
tags = st.frozensets(st.sampled_from(["vip", "expo", "hot"]), max_size=2)


@st.composite
def east_world(draw: st.DrawFn) -> dict[str, list[Any]]:
    n_acc = draw(st.integers(1, 3))
    accounts = [
        Account(
            id=f"acc{i}", name=f"A{i}", created_at=T0, owner_id=draw(east_users), tags=draw(tags)
        )
        for i in range(n_acc)
    ]
    contacts = [
        Contact(
            id=f"con{i}",
            name="n",
            created_at=T0,
            account_id=f"acc{draw(st.integers(0, n_acc - 1))}",
            phone="13800138000",
            tags=draw(tags),
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    leads = [
        lead(
            f"l{i}",
            owner_id=draw(east_users),
            tags=draw(tags),
            next_step=NextStep(action="call", due_at=at(i)),
        )
        for i in range(draw(st.integers(1, 4)))
    ]
    opps = [
        Opportunity(
            id=f"o{i}",
            name="d",
            created_at=T0,
            stage_entered_at=T0,
            stage=draw(st.sampled_from(["s1", "s2"])),
            owner_id=draw(east_users),
            team_id=draw(st.sampled_from([None, "east", "east-2"])),
            tags=draw(tags),
            next_step=NextStep(action="x", due_at=at(i)),
            account_id=f"acc{draw(st.integers(0, n_acc - 1))}",
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    subjects = (
        [("lead_id", r.id) for r in leads]
        + [("opportunity_id", o.id) for o in opps]
        + [("account_id", a.id) for a in accounts]
    )
    acts = []
    for i in range(draw(st.integers(0, 5))):
        field, sid = draw(st.sampled_from(subjects))
        acts.append(
            Activity(
                id=f"x{i}",
                kind=ActivityKind.CALL,
                at=at(i),
                owner_id=draw(east_users),
                tags=draw(tags),
                **{field: sid},
            )
        )
    events = [
        StageEvent(id=f"e{i}", opportunity_id=o.id, to_stage=o.stage, at=T0, by=o.owner_id)
        for i, o in enumerate(opps)
    ]
    journal = [
        JournalEntry(
            id=f"j{i}",
            kind=draw(st.sampled_from(["transfer", "merge"])),
            subject_id=sid,
            at=at(i),
            by="m1",
        )
        for i, (_, sid) in enumerate(draw(st.lists(st.sampled_from(subjects), max_size=4)))
    ]
    outcomes = [
        SlaOutcome(
            id=f"s{i}",
            rule="r",
            target="t",
            subject_kind="lead",
            subject_id=r.id,
            started_at=T0,
            due_at=at(3),
            met=True,
            elapsed_seconds=1.0,
            owner_id=draw(st.none() | st.just(r.owner_id)),
        )
        for i, r in enumerate(leads)
    ]
    return {"accounts": accounts, "contacts": contacts, "leads": leads, "opportunities": opps, "activities": acts,
            "stage_events": events, "journal": journal, "sla_outcomes": outcomes}  # fmt: skip


def _every_read(s: Any, world: dict[str, list[Any]]) -> Iterator[Any]:
    """Every public read path of a (scoped) store or unit of work, with arguments from the data."""
    ids = [r.id for rs in world.values() for r in rs]
    owners = [*EAST, "public-pool"]
    names = [
        "leads",
        "opportunities",
        "accounts",
        "contacts",
        "sla_outcomes",
        "activities",
        "stage_events",
        "journal",
    ]
    for name in names:
        repo = getattr(s, name)
        yield from repo.all()
        yield from repo.all(after="", limit=5)
        if repo.count():
            yield f"{name}.count"
        for i in ids:
            if repo.find(i) is not None:
                yield i
            with contextlib.suppress(NotFoundError):
                yield repo.get(i)
    for tag in ["vip", "expo", "hot"]:
        for name in ["leads", "opportunities", "accounts", "contacts", "activities"]:
            yield from getattr(s, name).by_tag(tag)
    for o in owners:
        yield from s.leads.by_owner(o)
        yield from s.opportunities.by_owner(o)
        yield from s.opportunities.open(owner_id=o)
        yield from s.opportunities.due_by(FAR, owner_id=o)
        yield from s.accounts.by_owner(o)
        yield from s.activities.by_owner(o)
        yield from s.activities.between(T0 - timedelta(days=1), FAR, owner_id=o)
        yield from s.sla_outcomes.due_between(T0 - timedelta(days=1), FAR, owner_id=o)
    for team in ["east", "east-2"]:
        yield from s.opportunities.by_team(team)
        yield from s.opportunities.open(team_id=team)
        yield from s.opportunities.due_by(FAR, team_id=team)
    yield from s.opportunities.open()
    yield from s.leads.due_by(FAR)
    yield from s.opportunities.due_by(FAR)
    for stage in ["s1", "s2"]:
        yield from s.opportunities.by_stage(stage)
    for i in ids:
        yield from s.contacts.by_account(i)
        yield from s.activities.for_subject(i)
        yield from s.stage_events.for_opportunity(i)
        yield from s.journal.for_subject(i)
        yield from s.sla_outcomes.for_subject(i)
    yield from s.stage_events.between(T0 - timedelta(days=1), FAR)
    yield from s.activities.between(T0 - timedelta(days=1), FAR)
    for kind in ["transfer", "merge"]:
        yield from s.journal.by_kind(kind)


@settings(
    max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(
    world=east_world(),
    actor=st.sampled_from(["b1", "m2", "gone"]),
    url=st.sampled_from(["memory://", "sqlite://"]),
)
def test_other_team_finds_nothing(
    org: tuple[list[User], list[Team]], world: dict[str, list[Any]], actor: str, url: str
) -> None:
    users, teams = org
    with storage.open(url) as s:
        s.teams.bulk_add(teams)
        s.users.bulk_add(users)
        for name in ["accounts", "contacts", "leads", "opportunities", "sla_outcomes"]:
            getattr(s, name).bulk_add(world[name])
        for name in ["activities", "stage_events", "journal"]:
            getattr(s, name).bulk_append(world[name])
        scoped = ScopedStore(s, actor)
        assert list(_every_read(scoped, world)) == []
        with scoped.unit_of_work() as uow:
            assert list(_every_read(uow, world)) == []
        if actor == "m2":
            for kind in [
                "leads",
                "opportunities",
                "accounts",
                "contacts",
                "activities",
                "stage_events",
                "journal",
                "sla_outcomes",
            ]:
                assert list(scoped.export(kind)) == []
        else:
            with pytest.raises(PermissionDeniedError):
                list(scoped.export("leads"))
        # Every write fails and changes nothing (hidden records are not found).
        for r in world["leads"]:
            with pytest.raises((PermissionDeniedError, NotFoundError)):
                scoped.leads.save(r.evolve(needs="x"))
        for o in world["opportunities"]:
            with pytest.raises((PermissionDeniedError, NotFoundError)):
                scoped.opportunities.save(o.evolve(owner_id=actor))
        for a in world["accounts"]:
            with pytest.raises((PermissionDeniedError, NotFoundError)):
                scoped.accounts.save(a.evolve(industry="x"))
            with pytest.raises((PermissionDeniedError, NotFoundError)):
                scoped.activities.append(
                    Activity(
                        id="evil", kind=ActivityKind.CALL, at=T0, owner_id=actor, account_id=a.id
                    )
                )
        assert s.activities.find("evil") is None
        assert [r.version for r in s.leads.all()] == [1] * len(world["leads"])
        # The same data seen by the east team's admin-level reader is all there (the test can fail).
        assert len(list(ScopedStore(s, "root").leads.all())) == len(world["leads"])


def test_export_records_through_scoped_store(store: Any, tmp_path: Any) -> None:
    from pipeline_core.storage.io import export_records

    _seed(store)
    out = tmp_path / "leads.jsonl"
    n = export_records(ScopedStore(store, "m1"), "lead", out)  # type: ignore[arg-type]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert n == len(lines) == 3  # l-a1, l-c1 (team east and its sub-team) and the pool lead
    assert all('"l-b1"' not in line for line in lines)
    ana = tmp_path / "ana.jsonl"
    export_records(ScopedStore(store, "ana"), "lead", ana)  # type: ignore[arg-type]
    assert "13800138000" not in ana.read_text(encoding="utf-8")
    assert "********000" in ana.read_text(encoding="utf-8")
    with pytest.raises(PermissionDeniedError):
        export_records(ScopedStore(store, "a1"), "lead", tmp_path / "x.jsonl")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        ScopedStore(store, "m1").collection("nonsense")
