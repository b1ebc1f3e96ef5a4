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
from pipeline_core.access import (
    AccessPolicy,
    AccessRole,
    Directory,
    Scope,
    ScopedStore,
    audit,
    mask_email,
    mask_name,
    mask_phone,
    mask_text,
)
from pipeline_core.assignment import PoolLimitError, PoolPolicy, claim, commit, release, transfer
from pipeline_core.clock import ManualClock
from pipeline_core.errors import ConfigError, DuplicateError, NotFoundError, PermissionDeniedError
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


# --------------------------------------------------------------------------- typed references


def _west_deal(s: Any) -> None:
    # b1 (team west) has an account with a contact, and a deal with its first stage event.
    s.accounts.add(Account(id="17", name="West Co", created_at=T0, owner_id="b1"))
    s.contacts.add(
        Contact(id="k17", name="Zhou Li", created_at=T0, account_id="17", phone="13700137000")
    )
    s.opportunities.add(
        Opportunity(
            id="18",
            name="West deal",
            created_at=T0,
            owner_id="b1",
            team_id="west",
            stage="s1",
            stage_entered_at=T0,
        )
    )
    s.stage_events.append(StageEvent(id="e18", opportunity_id="18", to_stage="s1", at=T0, by="b1"))
    s.journal.append(
        JournalEntry(id="j18", kind="note", subject_id="18", at=T0, by="b1", payload={"x": 1})
    )


def test_an_id_of_another_kind_opens_nothing(store: Any) -> None:
    """Spreadsheet ids such as "17" repeat across kinds: a1's own leads named like b1's account
    and deal give her nothing of theirs."""
    _west_deal(store)
    a1 = ScopedStore(store, "a1")
    for taken in ("17", "18"):  # an id another kind holds out of her sight is not available
        with pytest.raises(DuplicateError, match="not available"):
            a1.leads.add(lead(taken, owner_id="a1"))
    # the same ids stored for her anyway (say, an import from two spreadsheets)
    store.leads.bulk_add([lead("17", owner_id="a1"), lead("18", owner_id="a1")])
    assert list(a1.contacts.by_account("17")) == []
    assert a1.contacts.find("k17") is None
    assert list(a1.stage_events.for_opportunity("18")) == []
    assert list(a1.journal.for_subject("18")) == []  # no declared kind: both "18"s must allow
    with pytest.raises(NotFoundError):
        a1.contacts.save(store.contacts.get("k17").evolve(phone="10086"))
    with pytest.raises(PermissionDeniedError):
        a1.stage_events.append(
            StageEvent(
                id="e-x", opportunity_id="18", from_stage="s1", to_stage="s2", at=at(1), by="a1"
            )
        )
    with pytest.raises(PermissionDeniedError):
        a1.contacts.add(Contact(id="k-x", name="Spy", created_at=T0, account_id="17"))
    # a journal entry that declares its subject a lead is about her lead, and only that
    mine = JournalEntry(
        id="j-mine", kind="note", subject_id="18", at=T0, by="a1", payload={"subject_kind": "lead"}
    )
    a1.journal.append(mine)
    assert [e.id for e in a1.journal.for_subject("18")] == ["j-mine"]
    # j18 declares no kind and "18" is now both her lead and b1's deal: shown to neither of them
    # (audit() lists it as ambiguous), only to readers of both
    assert [e.id for e in ScopedStore(store, "b1").journal.for_subject("18")] == []
    assert [e.id for e in ScopedStore(store, "root").journal.for_subject("18")] == ["j-mine", "j18"]
    # links to hidden records are refused too, without saying whose they are
    with pytest.raises(PermissionDeniedError) as refused:
        a1.leads.add(lead("l-link", owner_id="a1", account_id="17"))
    assert "b1" not in str(refused.value)
    assert store.contacts.get("k17").phone == "13700137000"
    assert [e.id for e in store.stage_events.for_opportunity("18")] == ["e18"]


def test_activities_need_every_subject_and_a_true_author(store: Any) -> None:
    _seed(store)
    _west_deal(store)
    a1 = ScopedStore(store, "a1")

    def act(id: str, author: str, **subjects: str) -> Activity:
        return Activity(id=id, kind=ActivityKind.CALL, at=at(1), owner_id=author, **subjects)

    for bad in (
        act("y1", "a1", lead_id="l-a1", opportunity_id="18"),  # her lead and b1's deal
        act("y2", "b1", lead_id="l-a1"),  # her lead, in b1's name
        act("y3", "a2", lead_id="l-a1"),  # a teammate's name: a rep writes only her own
    ):
        with pytest.raises(PermissionDeniedError):
            a1.activities.append(bad)
    a1.activities.append(act("y4", "a1", lead_id="l-a1"))
    # the manager may log a call in a teammate's name on the teammate's lead
    ScopedStore(store, "m1").activities.append(act("y5", "a1", lead_id="l-a1"))
    assert sorted(a.id for a in store.activities.for_subject("l-a1")) == ["x-a1", "y4", "y5"]
    # an activity about a1's lead and b1's deal, stored directly, is not shown to b1's manager
    store.activities.append(act("y6", "a1", lead_id="l-a1", opportunity_id="18"))
    assert ScopedStore(store, "m2").activities.find("y6") is None
    assert ScopedStore(store, "a1").activities.find("y6") is not None  # she wrote it


def test_sla_outcomes_are_decided_by_their_subject(store: Any) -> None:
    _seed(store)
    _west_deal(store)
    a1 = ScopedStore(store, "a1")

    def outcome(id: str, kind: str, subject: str, owner: str | None) -> SlaOutcome:
        return SlaOutcome(
            id=id,
            rule="r",
            target="t",
            subject_kind=kind,
            subject_id=subject,
            started_at=T0,
            due_at=at(1),
            met=True,
            elapsed_seconds=60.0,
            owner_id=owner,
        )

    with pytest.raises(PermissionDeniedError):
        a1.sla_outcomes.add(outcome("o1", "opportunity", "18", "a1"))  # b1's deal
    with pytest.raises(PermissionDeniedError):
        a1.sla_outcomes.add(outcome("o2", "account", "zzz", "a1"))  # nothing there: all scope
    a1.sla_outcomes.add(outcome("o3", "lead", "l-a1", "a1"))
    store.sla_outcomes.add(outcome("o4", "opportunity", "18", "a1"))  # stored before the rules
    assert [o.id for o in a1.sla_outcomes.all()] == ["o3"]
    assert [o.id for o in ScopedStore(store, "b1").sla_outcomes.all()] == ["o4"]


# --------------------------------------------------------------------------- refusals


def test_refusals_over_hidden_records_name_nobody(store: Any) -> None:
    _seed(store)
    a1 = ScopedStore(store, "a1")
    hidden = store.leads.get("l-b1")
    with pytest.raises(NotFoundError) as over:
        a1.leads.save(hidden.evolve(owner_id="a1", company="mine now"))
    with pytest.raises(DuplicateError) as taken:
        a1.leads.add(lead("l-b1", owner_id="a1"))
    for exc in (over.value, taken.value):
        assert "b1" not in str(exc).replace("l-b1", "")
    assert "not available" in str(taken.value)
    assert store.leads.get("l-b1") == hidden
    # a record she can see but not change: refused, still without its owner
    with pytest.raises(PermissionDeniedError) as pool:
        a1.leads.save(store.leads.get("l-pool").evolve(owner_id="a1", company="x"))
    assert "public-pool" not in str(pool.value)


# --------------------------------------------------------------------------- the pool


def _pool_world(n: int) -> Any:
    users, teams = org_users()
    s = storage.open("memory://")
    s.teams.bulk_add(teams)
    s.users.bulk_add(users)
    s.leads.bulk_add(
        lead(f"p{i:02d}", owner_id="public-pool", company="Pool Co", tags=frozenset({"pool"}))
        for i in range(n)
    )
    return s


def org_users() -> tuple[list[User], list[Team]]:
    """Rep a1 of team east (what the pool tests need of the org)."""
    return [User(id="a1", name="Ann", role=Role.AE, team_id="east")], [Team(id="east", name="East")]


def test_pool_claims_through_save_obey_the_policy() -> None:
    s = _pool_world(6)
    clock = ManualClock(at(0))
    a1 = ScopedStore(s, "a1", pool=PoolPolicy(claims_per_day=2, max_held=3), clock=clock)

    def grab(i: int, **edits: Any) -> None:
        stored = s.leads.get(f"p{i:02d}")
        a1.leads.save(stored.evolve(owner_id="a1", **edits))

    with pytest.raises(PermissionDeniedError):
        grab(0, company="renamed")  # a claim changes only the owner and the pool tag
    grab(0)
    clock.set(at(1))
    grab(1, tags=frozenset())  # dropping the pool tag is part of a claim
    clock.set(at(23))
    with pytest.raises(PoolLimitError):
        grab(2)  # two claims in the last 24 h (at 0 h and 1 h): the limit
    clock.set(at(24))
    grab(2)  # the claim at 0 h is 24 h old now: the window (t - 24 h, t] holds one
    clock.set(at(60))
    with pytest.raises(PoolLimitError):
        grab(3)  # holding p00, p01, p02: max_held 3
    claimed = [x for x in s.leads.all() if x.owner_id == "a1"]
    assert [x.id for x in claimed] == ["p00", "p01", "p02"]
    assert all(x.company == "Pool Co" and "pool" not in x.tags for x in claimed)
    entries = list(s.journal.by_kind("pool_claim"))
    assert [(e.subject_id, e.at, e.payload["subject_kind"]) for e in entries] == [
        ("p00", at(0), "lead"),
        ("p01", at(1), "lead"),
        ("p02", at(24), "lead"),
    ]
    # giving one back through save is a release, journaled the same way; then a claim fits again
    a1.leads.save(s.leads.get("p00").evolve(owner_id="public-pool"))
    assert s.leads.get("p00").tags == frozenset({"pool"})
    assert [e.subject_id for e in s.journal.by_kind("pool_release")] == ["p00"]
    grab(3)


@settings(max_examples=40, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=30 * 60), min_size=1, max_size=12),
    per_day=st.integers(min_value=0, max_value=3),
)
def test_no_24_hours_hold_more_claims_than_the_limit(gaps: list[int], per_day: int) -> None:
    s = _pool_world(len(gaps))
    clock = ManualClock(T0)
    a1 = ScopedStore(s, "a1", pool=PoolPolicy(claims_per_day=per_day), clock=clock)
    t, accepted = T0, []
    for i, gap in enumerate(gaps):
        t += timedelta(minutes=gap)
        clock.set(t)
        # claims in the window (t - 24 h, t], counted by hand from the accepted ones
        recent = sum(1 for c in accepted if t - timedelta(hours=24) < c <= t)
        try:
            a1.leads.save(s.leads.get(f"p{i:02d}").evolve(owner_id="a1"))
        except PoolLimitError:
            assert recent >= per_day
        else:
            assert recent < per_day
            accepted.append(t)
    assert len(list(s.journal.by_kind("pool_claim"))) == len(accepted)


def test_claim_entries_written_by_the_caller_are_not_doubled(store: Any) -> None:
    _seed(store)
    clock = ManualClock(at(3))
    b1 = ScopedStore(store, "b1", clock=clock)
    got, entry = claim(
        store.leads.get("l-pool"), "b1", at=at(3), policy=PoolPolicy(), ids=SequentialIds()
    )
    commit(b1, [got], [entry])
    assert [(e.kind, e.at) for e in store.journal.for_subject("l-pool")] == [("pool_claim", at(3))]


# --------------------------------------------------------------------------- masking


def test_an_analyst_sees_no_personal_data_anywhere(store: Any) -> None:
    _seed(store)
    store.leads.save(store.leads.get("l-a1").evolve(contact_name="张三丰"))
    store.activities.append(
        Activity(
            id="x-note",
            kind=ActivityKind.CALL,
            at=at(2),
            owner_id="a1",
            lead_id="l-a1",
            notes="请回电 13800138000 或写信 zs@example.com",
        )
    )
    ana = ScopedStore(store, "ana")
    seen = [ana.leads.get("l-a1"), ana.contacts.get("con-a1"), ana.activities.get("x-note")]
    seen += list(ana.users.all())
    text = " ".join(repr(r) for r in seen) + " ".join(str(row) for row in ana.export("leads"))
    for secret in ("13800138000", "zs@example.com", "张三丰", "张三", "ann@corp.example"):
        assert secret not in text


# --------------------------------------------------------------------------- audit


def test_audit_lists_what_the_rules_now_treat_differently(store: Any) -> None:
    _seed(store)
    _west_deal(store)
    store.leads.add(lead("18", owner_id="a1"))  # "18" is b1's deal too (journal j18 is ambiguous)
    store.stage_events.append(
        StageEvent(id="e-lost", opportunity_id="l-a1", to_stage="s1", at=T0, by="a1")
    )  # names a lead where a deal is meant
    store.contacts.add(Contact(id="k-orphan", name="Nobody", created_at=T0, account_id="acc-x"))
    store.sla_outcomes.add(
        SlaOutcome(
            id="o-odd",
            rule="r",
            target="t",
            subject_kind="ticket",
            subject_id="l-a1",
            started_at=T0,
            due_at=at(1),
            met=True,
            elapsed_seconds=0.0,
        )
    )
    store.activities.append(
        Activity(
            id="x-mixed",
            kind=ActivityKind.CALL,
            at=T0,
            owner_id="a1",
            lead_id="l-a1",
            opportunity_id="18",
        )
    )
    before = {name: getattr(store, name).count() for name in ("leads", "journal", "activities")}
    found = {(p.code, p.path) for p in audit(store)}
    assert found == {
        ("shared_id", ("leads", "18", "id")),
        ("ambiguous_subject", ("journal", "j18", "subject_id")),
        ("wrong_kind", ("stage_events", "e-lost", "opportunity_id")),
        ("missing_parent", ("contacts", "k-orphan", "account_id")),
        ("unknown_subject_kind", ("sla_outcomes", "o-odd", "subject_id")),
        ("mixed_subjects", ("activities", "x-mixed", "lead_id")),
    }
    assert {name: getattr(store, name).count() for name in before} == before  # nothing dropped


# --------------------------------------------------------------------------- a model of the rules

_IDS = st.sampled_from(["1", "2", "3"])  # few ids, so kinds share them often
_OWNERS = st.sampled_from(["a1", "b1", "public-pool"])


@st.composite
def tangled_world(draw: Any) -> dict[str, list[Any]]:
    """Records of a1 (east), b1 (west) and the pool whose ids repeat across kinds, with children
    pointing at random ids."""
    out: dict[str, list[Any]] = {}
    out["leads"] = [lead(i, owner_id=draw(_OWNERS)) for i in draw(st.sets(_IDS, max_size=3))]
    out["accounts"] = [
        Account(id=i, name="x", created_at=T0, owner_id=draw(_OWNERS))
        for i in draw(st.sets(_IDS, max_size=3))
    ]
    out["opportunities"] = [
        Opportunity(
            id=i, name="x", created_at=T0, owner_id=draw(_OWNERS), stage="s1", stage_entered_at=T0
        )
        for i in draw(st.sets(_IDS, max_size=3))
    ]
    n = draw(st.integers(0, 4))
    out["contacts"] = [
        Contact(id=f"k{j}", name="x", created_at=T0, account_id=draw(_IDS)) for j in range(n)
    ]
    out["stage_events"] = [
        StageEvent(id=f"e{j}", opportunity_id=draw(_IDS), to_stage="s1", at=T0, by="b1")
        for j in range(draw(st.integers(0, 4)))
    ]
    acts = []
    for j in range(draw(st.integers(0, 5))):
        subjects = draw(
            st.lists(
                st.sampled_from(["lead_id", "opportunity_id", "account_id"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        acts.append(
            Activity(
                id=f"x{j}",
                kind=ActivityKind.CALL,
                at=T0,
                owner_id=draw(st.sampled_from(["a1", "b1"])),
                **{s: draw(_IDS) for s in subjects},
            )
        )
    out["activities"] = acts
    out["sla_outcomes"] = [
        SlaOutcome(
            id=f"o{j}",
            rule="r",
            target="t",
            subject_kind=draw(st.sampled_from(["lead", "opportunity", "account", "ticket"])),
            subject_id=draw(_IDS),
            started_at=T0,
            due_at=T0,
            met=True,
            elapsed_seconds=0.0,
        )
        for j in range(draw(st.integers(0, 3)))
    ]
    out["journal"] = [
        JournalEntry(
            id=f"j{j}",
            kind="note",
            subject_id=draw(_IDS),
            at=T0,
            by="b1",
            payload=draw(
                st.sampled_from([{}, {"subject_kind": "lead"}, {"subject_kind": "opportunity"}])
            ),
        )
        for j in range(draw(st.integers(0, 4)))
    ]
    return out


def _expected_visible(world: dict[str, list[Any]], me: str) -> dict[str, set[str]]:
    """What a rep may read, worked out from the rules as stated (not from the store's code):
    a record of her own or in the pool; a child whose parent, looked up in its declared kind,
    she may read; an activity she wrote or whose every subject she may read; an undeclared
    journal subject readable only if every kind holding that id is."""
    readable = {"leads": set(), "opportunities": set(), "accounts": set()}
    held: dict[str, dict[str, str]] = {k: {} for k in readable}
    for kind in readable:
        for r in world[kind]:
            held[kind][r.id] = r.owner_id
            if r.owner_id in (me, "public-pool"):
                readable[kind].add(r.id)

    def through(kind: str | None, i: str) -> bool:
        if kind is None:
            holders = [k for k in held if i in held[k]]
            return bool(holders) and all(i in readable[k] for k in holders)
        return kind in readable and i in readable[kind]

    declared = {"lead": "leads", "opportunity": "opportunities", "account": "accounts"}
    out = {k: set(v) for k, v in readable.items()}
    out["contacts"] = {c.id for c in world["contacts"] if through("accounts", c.account_id)}
    out["stage_events"] = {
        e.id for e in world["stage_events"] if through("opportunities", e.opportunity_id)
    }
    out["activities"] = {
        a.id
        for a in world["activities"]
        if a.owner_id == me
        or all(
            through(k, v)
            for k, v in (
                ("leads", a.lead_id),
                ("opportunities", a.opportunity_id),
                ("accounts", a.account_id),
            )
            if v is not None
        )
    }
    out["sla_outcomes"] = {
        o.id
        for o in world["sla_outcomes"]
        if o.subject_kind in declared and through(declared[o.subject_kind], o.subject_id)
    }
    out["journal"] = {
        e.id
        for e in world["journal"]
        if through(declared.get(e.payload.get("subject_kind", "")), e.subject_id)
    }
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=tangled_world(), me=st.sampled_from(["a1", "b1"]))
def test_reads_follow_the_rules_whatever_the_ids(
    org: tuple[list[User], list[Team]], world: dict[str, list[Any]], me: str
) -> None:
    users, teams = org
    with storage.open("memory://") as s:
        s.teams.bulk_add(teams)
        s.users.bulk_add(users)
        for name in ("leads", "opportunities", "accounts", "contacts", "sla_outcomes"):
            getattr(s, name).bulk_add(world[name])
        for name in ("stage_events", "activities", "journal"):
            getattr(s, name).bulk_append(world[name])
        scoped = ScopedStore(s, me)
        expected = _expected_visible(world, me)
        for name, ids in expected.items():
            assert {r.id for r in getattr(scoped, name).all()} == ids, name


def test_scoped_transactions_are_the_inner_stores(store: Any) -> None:
    """A scoped unit of work commits and rolls back through the inner backend's atomic(); the
    scoped backend never runs transaction steps of its own (no reach into the inner one's)."""
    _seed(store)
    a1 = ScopedStore(store, "a1")
    with a1.unit_of_work() as uow:
        uow.leads.add(lead("l-a2", owner_id="a1"))
    assert store.leads.find("l-a2") is not None
    with contextlib.suppress(RuntimeError), a1.unit_of_work() as uow:
        uow.leads.add(lead("l-a3", owner_id="a1"))
        raise RuntimeError("roll back")
    assert store.leads.find("l-a3") is None
    with pytest.raises(NotImplementedError, match="use atomic"):
        a1.backend._begin()
