"""Cross-team attack: every read and write path, as a rep and a manager of another team and as an
analyst, on every adapter (memory, SQLite, PostgreSQL), the command line and the example service.

The victim is team east: rep ``er`` owns an account with a contact, a lead, a deal with its stage
history, an activity, an SLA outcome and a journal entry. The attackers are ``wr`` (a rep of team
west), ``wm`` (west's manager) and ``an`` (an analyst, who may read everything masked and write
nothing). Each probe counts

- **paths tried**: read calls and write attempts made;
- **records leaked**: victim records a rep or manager got back from a read (for the analyst: values
  shown unmasked, i.e. a victim's personal data found in what was returned);
- **writes allowed**: write attempts touching the victim's records that were not refused, plus
  victim records found changed afterwards.

Every probe asserts 0 leaks and 0 wrongful writes, and prints its counts (``pytest -s``). The
same read probe run as the victim's own manager finds the victim's records (the detector can fail).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest

from pipeline_core import storage
from pipeline_core.access import ScopedStore
from pipeline_core.cli import main
from pipeline_core.errors import PipelineCoreError
from pipeline_core.records import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    JournalEntry,
    Lead,
    Opportunity,
    Role,
    SlaOutcome,
    StageEvent,
    Team,
    User,
)

T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
FAR = T0 + timedelta(days=3650)
TESTS = Path(__file__).resolve().parents[1]
ATTACKERS = ("wr", "wm", "an")

# The victim's records, by collection, and the personal data an analyst must never see.
VICTIM: dict[str, set[str]] = {
    "accounts": {"acc-e"},
    "contacts": {"con-e"},
    "leads": {"lead-e"},
    "opportunities": {"opp-e"},
    "stage_events": {"ev-e"},
    "activities": {"act-e"},
    "sla_outcomes": {"out-e"},
    "journal": {"jr-e"},
}
SECRETS = (
    "13800138000",
    "13912345678",
    "zhang.wei@example.com",
    "li.na@example.com",
    "张伟强",
    "李娜娜",
    "er.private@corp.example",
)
DIRECTORY_DATA = ("er.private@corp.example",)
COLLECTIONS = tuple(VICTIM)
KIND_OF = {
    Account: "accounts",
    Contact: "contacts",
    Lead: "leads",
    Opportunity: "opportunities",
    StageEvent: "stage_events",
    Activity: "activities",
    SlaOutcome: "sla_outcomes",
    JournalEntry: "journal",
}


def _org() -> tuple[list[Team], list[User]]:
    teams = [
        Team(id="east", name="East", manager_id="em"),
        Team(id="west", name="West", manager_id="wm"),
    ]
    users = [
        User(id="er", name="Erin", role=Role.AE, team_id="east", email="er.private@corp.example"),
        User(id="em", name="Emma", role=Role.MANAGER, team_id="east"),
        User(id="wr", name="Wes", role=Role.AE, team_id="west"),
        User(id="wm", name="Walt", role=Role.MANAGER, team_id="west"),
        User(id="an", name="Ana", role=Role.ANALYST),
        User(id="root", name="Root", role=Role.ADMIN),
    ]
    return teams, users


def seed(s: Any) -> None:
    """The organisation, the victim's records and a few of team west's own."""
    teams, users = _org()
    s.teams.bulk_add(teams)
    s.users.bulk_add(users)
    s.accounts.bulk_add(
        [
            Account(id="acc-e", name="East Customer", created_at=T0, owner_id="er"),
            Account(id="acc-w", name="West Customer", created_at=T0, owner_id="wr"),
        ]
    )
    s.contacts.add(
        Contact(
            id="con-e",
            name="李娜娜",
            created_at=T0,
            account_id="acc-e",
            phone="13912345678",
            email="li.na@example.com",
            wechat="lina-wx-8",
        )
    )
    s.leads.bulk_add(
        [
            Lead(
                id="lead-e",
                created_at=T0,
                source="website",
                owner_id="er",
                company="East Customer",
                contact_name="张伟强",
                phone="13800138000",
                email="zhang.wei@example.com",
                tags=frozenset({"vip"}),
            ),
            Lead(
                id="lead-w", created_at=T0, source="website", owner_id="wr", tags=frozenset({"vip"})
            ),
        ]
    )
    s.opportunities.bulk_add(
        [
            Opportunity(
                id="opp-e",
                name="East deal",
                created_at=T0,
                owner_id="er",
                team_id="east",
                stage="first_contact",
                stage_entered_at=T0,
                pipeline="small_team",
                lead_id="lead-e",
                account_id="acc-e",
                tags=frozenset({"vip"}),
            ),
            Opportunity(
                id="opp-w",
                name="West deal",
                created_at=T0,
                owner_id="wr",
                team_id="west",
                stage="first_contact",
                stage_entered_at=T0,
                pipeline="small_team",
            ),
        ]
    )
    s.stage_events.bulk_append(
        [
            StageEvent(id="ev-e", opportunity_id="opp-e", to_stage="first_contact", at=T0, by="er"),
            StageEvent(id="ev-w", opportunity_id="opp-w", to_stage="first_contact", at=T0, by="wr"),
        ]
    )
    s.activities.append(
        Activity(
            id="act-e",
            kind=ActivityKind.CALL,
            at=T0,
            owner_id="er",
            lead_id="lead-e",
            opportunity_id="opp-e",
            notes="回电 13800138000，邮件 zhang.wei@example.com",
            tags=frozenset({"vip"}),
        )
    )
    s.sla_outcomes.add(
        SlaOutcome(
            id="out-e",
            rule="first-response",
            target="t",
            subject_kind="opportunity",
            subject_id="opp-e",
            started_at=T0,
            due_at=T0 + timedelta(hours=2),
            met=False,
            elapsed_seconds=60.0,
            owner_id="er",
        )
    )
    s.journal.append(
        JournalEntry(
            id="jr-e",
            kind="transfer",
            subject_id="opp-e",
            at=T0,
            by="em",
            reason="call 13800138000",
            payload={"subject_kind": "opportunity", "from": "em", "to": "er"},
        )
    )


# --------------------------------------------------------------------------- counting


@attrs.define
class Tally:
    """Counts of one probe."""

    surface: str
    actor: str
    paths: int = 0
    leaked: int = 0
    writes: int = 0
    details: list[str] = attrs.field(factory=list)

    def leak(self, what: str, n: int = 1) -> None:
        self.leaked += n
        self.details.append(f"leak: {what}")

    def wrote(self, what: str) -> None:
        self.writes += 1
        self.details.append(f"write: {what}")

    def report(self) -> str:
        return (
            f"{self.surface:<10} as {self.actor:<4} paths tried {self.paths:>4}  "
            f"records leaked {self.leaked}  writes allowed {self.writes}"
        )


TOTALS: list[Tally] = []


def settle(t: Tally) -> None:
    """Print and keep the counts; fail on any leak or wrongful write."""
    TOTALS.append(t)
    print(t.report())
    assert (t.leaked, t.writes) == (0, 0), t.details[:20]


def judge_records(t: Tally, path: str, records: Iterable[Any]) -> None:
    """Leaks among records a read path returned."""
    for r in records:
        if r is None:
            continue
        kind = KIND_OF.get(type(r))
        if t.actor == "an":
            shown = [s for s in SECRETS if s in repr(r)]
            if shown:
                t.leak(f"{path}: {kind} {r.id} shows {shown}")
        elif kind is not None and r.id in VICTIM[kind]:
            t.leak(f"{path}: {kind} {r.id}")


def judge_text(t: Tally, path: str, text: str, victim_ids: Iterable[str] = ()) -> None:
    """Leaks in a text answer (CLI output, a file, an HTTP body). The user directory (names,
    work e-mails) is open to every active colleague: only the analyst's view masks it."""
    secrets = SECRETS if t.actor == "an" else [s for s in SECRETS if s not in DIRECTORY_DATA]
    shown = [s for s in secrets if s in text]
    if shown:
        t.leak(f"{path}: shows {shown}", len(shown))
    if t.actor != "an":
        named = [i for i in victim_ids if re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", text)]
        if named:
            t.leak(f"{path}: names {named}", len(named))


# --------------------------------------------------------------------------- the store probe


def read_paths(s: Any) -> Iterator[tuple[str, Callable[[], Iterable[Any]]]]:
    """Every read of the storage port, with arguments aimed at the victim."""
    ids = sorted({i for v in VICTIM.values() for i in v} | {"lead-w", "opp-w", "acc-w"})
    owners, teams, window = (
        ["er", "em", "wr", "public-pool"],
        ["east", "west"],
        (T0 - timedelta(days=1), FAR),
    )
    for name in (*COLLECTIONS, "users", "teams"):
        repo = getattr(s, name)
        yield f"{name}.all", repo.all
        yield f"{name}.all(after)", lambda repo=repo: repo.all(after="a", limit=50)
        for i in ids:
            yield f"{name}.find({i})", lambda repo=repo, i=i: [repo.find(i)]
            yield f"{name}.get({i})", lambda repo=repo, i=i: _get(repo, i)
    for tag in ("vip", "pool"):
        for name in ("leads", "opportunities", "accounts", "contacts", "activities"):
            yield f"{name}.by_tag", lambda name=name, tag=tag: getattr(s, name).by_tag(tag)
    for o in owners:
        yield "leads.by_owner", lambda o=o: s.leads.by_owner(o)
        yield "opportunities.by_owner", lambda o=o: s.opportunities.by_owner(o)
        yield "opportunities.open(owner)", lambda o=o: s.opportunities.open(owner_id=o)
        yield "opportunities.due_by(owner)", lambda o=o: s.opportunities.due_by(FAR, owner_id=o)
        yield "accounts.by_owner", lambda o=o: s.accounts.by_owner(o)
        yield "activities.by_owner", lambda o=o: s.activities.by_owner(o)
        yield "activities.between(owner)", lambda o=o: s.activities.between(*window, owner_id=o)
        yield (
            "sla_outcomes.due_between(owner)",
            lambda o=o: s.sla_outcomes.due_between(*window, owner_id=o),
        )
    for team in teams:
        yield "opportunities.by_team", lambda team=team: s.opportunities.by_team(team)
        yield "opportunities.open(team)", lambda team=team: s.opportunities.open(team_id=team)
        yield (
            "opportunities.due_by(team)",
            lambda team=team: s.opportunities.due_by(FAR, team_id=team),
        )
        yield "users.by_team", lambda team=team: s.users.by_team(team)
        yield "teams.children", lambda team=team: s.teams.children(team)
    yield "opportunities.open", s.opportunities.open
    yield "opportunities.by_stage", lambda: s.opportunities.by_stage("first_contact")
    yield "opportunities.due_by", lambda: s.opportunities.due_by(FAR)
    yield "leads.due_by", lambda: s.leads.due_by(FAR)
    yield "stage_events.between", lambda: s.stage_events.between(*window)
    yield "activities.between", lambda: s.activities.between(*window)
    yield "sla_outcomes.due_between", lambda: s.sla_outcomes.due_between(*window)
    for i in ids:
        yield f"contacts.by_account({i})", lambda i=i: s.contacts.by_account(i)
        yield f"activities.for_subject({i})", lambda i=i: s.activities.for_subject(i)
        yield f"stage_events.for_opportunity({i})", lambda i=i: s.stage_events.for_opportunity(i)
        yield f"journal.for_subject({i})", lambda i=i: s.journal.for_subject(i)
        yield f"sla_outcomes.for_subject({i})", lambda i=i: s.sla_outcomes.for_subject(i)
    for kind in ("transfer", "pool_claim", "note"):
        yield f"journal.by_kind({kind})", lambda kind=kind: s.journal.by_kind(kind)


def _get(repo: Any, i: str) -> list[Any]:
    try:
        return [repo.get(i)]
    except PipelineCoreError:
        return []


def probe_reads(t: Tally, s: Any, label: str = "") -> None:
    for path, read in read_paths(s):
        t.paths += 1
        try:
            got = list(read())
        except PipelineCoreError:
            continue  # refused: nothing shown
        judge_records(t, label + path, got)
    for name in COLLECTIONS:  # a count may not reveal hidden records either
        t.paths += 1
        repo = getattr(s, name)
        if repo.count() != sum(1 for _ in repo.all()):
            t.leak(f"{label}{name}.count")


def probe_exports(t: Tally, scoped: ScopedStore, tmp: Path) -> None:
    from pipeline_core.storage.io import export_records

    for name in COLLECTIONS:
        t.paths += 2
        try:
            rows = list(scoped.export(name))
        except PipelineCoreError:
            rows = []
        judge_text(
            t, f"export({name})", json.dumps(rows, default=str, ensure_ascii=False), VICTIM[name]
        )
        out = tmp / f"{t.actor}-{name}.jsonl"
        try:
            export_records(scoped, name, out)  # type: ignore[arg-type]
        except PipelineCoreError:
            continue
        judge_text(t, f"export_records({name})", out.read_text(encoding="utf-8"), VICTIM[name])


def write_attempts(s: Any, raw: Any, me: str) -> Iterator[tuple[str, Callable[[], Any]]]:
    """Every write of the storage port, aimed at the victim's records (``raw`` reads them)."""
    lead_e, opp_e = raw.leads.get("lead-e"), raw.opportunities.get("opp-e")
    acc_e, con_e, out_e = (
        raw.accounts.get("acc-e"),
        raw.contacts.get("con-e"),
        raw.sla_outcomes.get("out-e"),
    )
    n = iter(range(10_000))

    def nid(prefix: str) -> str:
        return f"{prefix}-{me}-{next(n)}"

    def act(**kw: Any) -> Activity:
        kw.setdefault("owner_id", me)
        return Activity(id=nid("act"), kind=ActivityKind.CALL, at=T0, notes="x", **kw)

    def event(opp: str, by: str = me) -> StageEvent:
        return StageEvent(
            id=nid("ev"),
            opportunity_id=opp,
            from_stage="first_contact",
            to_stage="lost",
            at=T0,
            by=by,
        )

    def outcome(subject: str, kind: str = "opportunity") -> SlaOutcome:
        return SlaOutcome(
            id=nid("out"),
            rule="r",
            target="t",
            subject_kind=kind,
            subject_id=subject,
            started_at=T0,
            due_at=T0,
            met=True,
            elapsed_seconds=1.0,
            owner_id=me,
        )

    def entry(subject: str, **payload: Any) -> JournalEntry:
        return JournalEntry(
            id=nid("jr"), kind="note", subject_id=subject, at=T0, by=me, payload=payload
        )

    yield "leads.save(edit)", lambda: s.leads.save(lead_e.evolve(needs="hijacked"))
    yield "leads.save(take)", lambda: s.leads.save(lead_e.evolve(owner_id=me))
    yield "leads.save(to pool)", lambda: s.leads.save(lead_e.evolve(owner_id="public-pool"))
    yield "opportunities.save(edit)", lambda: s.opportunities.save(opp_e.evolve(stage="lost"))
    yield (
        "opportunities.save(take)",
        lambda: s.opportunities.save(opp_e.evolve(owner_id=me, team_id="west")),
    )
    yield "accounts.save", lambda: s.accounts.save(acc_e.evolve(industry="x"))
    yield "contacts.save", lambda: s.contacts.save(con_e.evolve(phone="10086"))
    yield "contacts.save(move)", lambda: s.contacts.save(con_e.evolve(account_id="acc-w"))
    yield "sla_outcomes.save", lambda: s.sla_outcomes.save(out_e.evolve(met=True))
    yield (
        "leads.add(victim's name)",
        lambda: s.leads.add(Lead(id=nid("l"), created_at=T0, source="web", owner_id="er")),
    )
    yield (
        "leads.add(taken id)",
        lambda: s.leads.add(Lead(id="lead-e", created_at=T0, source="web", owner_id=me)),
    )
    yield (
        "leads.add(link)",
        lambda: s.leads.add(
            Lead(
                id=nid("l"),
                created_at=T0,
                source="web",
                owner_id=me,
                account_id="acc-e",
                opportunity_id="opp-e",
            )
        ),
    )
    yield (
        "opportunities.add(team east)",
        lambda: s.opportunities.add(
            attrs.evolve(opp_e, id=nid("o"), team_id="east", owner_id="er")
        ),
    )
    yield (
        "opportunities.add(child of)",
        lambda: s.opportunities.add(
            attrs.evolve(
                opp_e,
                id=nid("o"),
                owner_id=me,
                team_id="west",
                parent_id="opp-e",
                lead_id="lead-e",
                account_id="acc-e",
            )
        ),
    )
    yield (
        "accounts.add(victim's name)",
        lambda: s.accounts.add(Account(id=nid("a"), name="x", created_at=T0, owner_id="er")),
    )
    yield (
        "contacts.add(under victim)",
        lambda: s.contacts.add(Contact(id=nid("c"), name="x", created_at=T0, account_id="acc-e")),
    )
    yield (
        "contacts.add(taken id)",
        lambda: s.contacts.add(Contact(id="con-e", name="x", created_at=T0, account_id="acc-w")),
    )
    yield "activities.append(their deal)", lambda: s.activities.append(act(opportunity_id="opp-e"))
    yield (
        "activities.append(own + theirs)",
        lambda: s.activities.append(act(lead_id="lead-w", opportunity_id="opp-e")),
    )
    yield (
        "activities.append(forged author)",
        lambda: s.activities.append(act(owner_id="er", lead_id="lead-w")),
    )
    yield "activities.append(their account)", lambda: s.activities.append(act(account_id="acc-e"))
    yield "stage_events.append", lambda: s.stage_events.append(event("opp-e"))
    yield "stage_events.append(forged)", lambda: s.stage_events.append(event("opp-w", by="er"))
    yield "sla_outcomes.add", lambda: s.sla_outcomes.add(outcome("opp-e"))
    yield "sla_outcomes.add(lead)", lambda: s.sla_outcomes.add(outcome("lead-e", "lead"))
    yield (
        "journal.append(declared)",
        lambda: s.journal.append(entry("opp-e", subject_kind="opportunity")),
    )
    yield "journal.append(undeclared)", lambda: s.journal.append(entry("opp-e"))
    yield (
        "journal.append(fake pool claim)",
        lambda: s.journal.append(
            attrs.evolve(
                entry("opp-e"),
                kind="pool_claim",
                payload={"to": me, "version": 2, "subject_kind": "opportunity"},
            )
        ),
    )
    yield (
        "leads.bulk_add",
        lambda: s.leads.bulk_add([Lead(id=nid("l"), created_at=T0, source="web", owner_id="er")]),
    )
    yield "activities.bulk_append", lambda: s.activities.bulk_append([act(opportunity_id="opp-e")])
    yield "stage_events.bulk_append", lambda: s.stage_events.bulk_append([event("opp-e")])
    yield (
        "journal.bulk_append",
        lambda: s.journal.bulk_append([entry("opp-e", subject_kind="opportunity")]),
    )
    yield "users.save(promote)", lambda: s.users.save(raw.users.get(me).evolve(role=Role.ADMIN))
    yield "users.save(move)", lambda: s.users.save(raw.users.get(me).evolve(team_id="east"))
    yield "users.add", lambda: s.users.add(User(id=nid("u"), name="x", role=Role.ADMIN))
    yield "teams.save", lambda: s.teams.save(raw.teams.get("east").evolve(manager_id=me))

    def in_uow(body: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> None:
            with s.unit_of_work() as uow:
                body(uow)

        return run

    yield "uow.leads.save", in_uow(lambda u: u.leads.save(lead_e.evolve(needs="uow")))
    yield (
        "uow.opportunities.save",
        in_uow(lambda u: u.opportunities.save(opp_e.evolve(owner_id=me))),
    )
    yield (
        "uow.contacts.add",
        in_uow(
            lambda u: u.contacts.add(
                Contact(id=nid("c"), name="x", created_at=T0, account_id="acc-e")
            )
        ),
    )
    yield "uow.stage_events.append", in_uow(lambda u: u.stage_events.append(event("opp-e")))
    yield (
        "uow.activities.append",
        in_uow(lambda u: u.activities.append(act(opportunity_id="opp-e"))),
    )
    yield (
        "uow.journal.append",
        in_uow(lambda u: u.journal.append(entry("opp-e", subject_kind="opportunity"))),
    )
    yield "uow.sla_outcomes.add", in_uow(lambda u: u.sla_outcomes.add(outcome("opp-e")))


def snapshot(raw: Any) -> dict[str, Any]:
    """Everything stored about the victim (and the directory)."""
    out: dict[str, Any] = {
        name: sorted(map(repr, getattr(raw, name).all())) for name in ("users", "teams")
    }
    for name, ids in VICTIM.items():
        out[name] = sorted(repr(getattr(raw, name).find(i)) for i in ids)
    out["children"] = sorted(
        repr(r)
        for r in [
            *raw.contacts.by_account("acc-e"),
            *raw.stage_events.for_opportunity("opp-e"),
            *raw.activities.for_subject("opp-e"),
            *raw.activities.for_subject("acc-e"),
            *raw.journal.for_subject("opp-e"),
            *raw.sla_outcomes.for_subject("opp-e"),
            *raw.leads.by_owner("er"),
            *raw.accounts.by_owner("er"),
            *raw.opportunities.by_team("east"),
        ]
    )
    return out


def probe_writes(t: Tally, s: Any, raw: Any) -> None:
    before = snapshot(raw)
    for path, attempt in write_attempts(s, raw, t.actor):
        t.paths += 1
        try:
            attempt()
        except PipelineCoreError:
            continue
        t.wrote(path)
    after = snapshot(raw)
    for name in before:
        if before[name] != after[name]:
            t.wrote(f"{name} changed")


def probe_collisions(t: Tally, s: Any, raw: Any) -> None:
    """Own records named like the victim's (ids are unique per kind only), then every read."""
    me = t.actor
    for ids in VICTIM.values():
        for i in ids:
            t.paths += 1
            with contextlib.suppress(PipelineCoreError):  # refusing the id is a fine answer
                s.leads.add(Lead(id=i, created_at=T0, source="web", owner_id=me))
            t.paths += 1
            with contextlib.suppress(PipelineCoreError):
                s.accounts.add(Account(id=i, name="mine", created_at=T0, owner_id=me))
    probe_reads(t, s, "after collisions: ")


# --------------------------------------------------------------------------- adapters


def _storage_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "storage_conftest_for_adversarial", TESTS / "storage" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def open_adapter(adapter: str, tmp: Path) -> Iterator[Any]:
    if adapter == "memory":
        s = storage.open("memory://")
    elif adapter == "sqlite":
        s = storage.open(f"sqlite:///{tmp / 'cross.db'}")
    else:
        url = _storage_conftest().postgres_url()  # skips, or fails when CI requires PostgreSQL
        s = storage.open(url, schema=f"pc_cross_{uuid.uuid4().hex[:10]}")
    try:
        yield s
    finally:
        if adapter == "postgres":
            schema = s.schema
            conn = s.connection
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        s.close()


@pytest.mark.parametrize("adapter", ["memory", "sqlite", "postgres"])
@pytest.mark.parametrize("actor", ATTACKERS)
def test_store_paths_leak_nothing(adapter: str, actor: str, tmp_path: Path) -> None:
    with open_adapter(adapter, tmp_path) as raw:
        seed(raw)
        scoped = ScopedStore(raw, actor)
        t = Tally(adapter, actor)
        probe_reads(t, scoped)
        with scoped.unit_of_work() as uow:
            probe_reads(t, uow, "uow: ")
        probe_exports(t, scoped, tmp_path)
        probe_writes(t, scoped, raw)
        probe_collisions(t, ScopedStore(raw, actor), raw)
        settle(t)


def test_the_detector_finds_what_is_visible(tmp_path: Path) -> None:
    """The same probe as the victim's manager counts the victim's records: the test can fail."""
    with open_adapter("memory", tmp_path) as raw:
        seed(raw)
        t = Tally("memory", "em")
        probe_reads(t, ScopedStore(raw, "em"))
        assert t.leaked > 50
        w = Tally("memory", "em")
        probe_writes(w, ScopedStore(raw, "em"), raw)
        assert w.writes > 10


# --------------------------------------------------------------------------- the command line


def cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("actor", ATTACKERS)
def test_cli_leaks_nothing(actor: str, tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with storage.open(f"sqlite:///{db}") as raw:
        seed(raw)
        before = snapshot(raw)
    url = f"sqlite:///{db}"
    victim_ids = sorted({i for v in VICTIM.values() for i in v})
    t = Tally("cli", actor)
    now = "2025-03-10T09:00:00+00:00"
    for argv in (
        ["score", "--store", url, "--json"],
        ["sla", "--store", url, "--now", now, "--json"],
        ["funnel", "--store", url, "--json"],
    ):
        t.paths += 1
        _, text = cli(*argv, "--as", actor)
        judge_text(t, argv[0], text, victim_ids)
    for kind in (
        "lead",
        "opportunity",
        "account",
        "contact",
        "activity",
        "stage_event",
        "sla_outcome",
        "journal_entry",
        "user",
    ):
        t.paths += 1
        out = tmp_path / f"{kind}.jsonl"
        code, text = cli("export", kind, str(out), "--store", url, "--as", actor)
        body = out.read_text(encoding="utf-8") if code == 0 and out.exists() else ""
        judge_text(t, f"export {kind}", text + body, victim_ids)
    # imports: the victim's lead changed, a lead in the victim's name, a contact under their account
    rows = {
        "lead": [
            {"id": "lead-e", "created_at": T0.isoformat(), "source": "web", "owner_id": actor}
        ],
        "contact": [
            {"id": f"c-{actor}", "name": "x", "created_at": T0.isoformat(), "account_id": "acc-e"}
        ],
        "stage_event": [
            {
                "id": f"e-{actor}",
                "opportunity_id": "opp-e",
                "to_stage": "lost",
                "at": T0.isoformat(),
                "by": actor,
            }
        ],
        "activity": [
            {
                "id": f"a-{actor}",
                "kind": "call",
                "at": T0.isoformat(),
                "owner_id": actor,
                "opportunity_id": "opp-e",
            }
        ],
    }
    for kind, data in rows.items():
        t.paths += 1
        f = tmp_path / f"in-{kind}.jsonl"
        f.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
        code, text = cli("import", kind, str(f), "--store", url, "--as", actor, "--json")
        if code == 0 and json.loads(text)["written"]:
            t.wrote(f"import {kind}")
        judge_text(t, f"import {kind}", text, ["er", "em"] if actor != "an" else [])
    with storage.open(url) as raw:
        after = snapshot(raw)
    for name in before:
        if before[name] != after[name]:
            t.wrote(f"{name} changed")
    # the control: the same commands as an administrator do show the victim
    _, admin = cli("score", "--store", url, "--json")
    assert "lead-e" in admin
    settle(t)


# --------------------------------------------------------------------------- the example service


def _service() -> ModuleType:
    path = TESTS.parent / "examples" / "service" / "app.py"
    spec = importlib.util.spec_from_file_location("pipeline_service_adversarial", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("actor", ATTACKERS)
def test_service_leaks_nothing(actor: str, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    url = f"sqlite:///{tmp_path / 'svc.db'}"
    with storage.open(url) as raw:
        seed(raw)
        before = snapshot(raw)
    app = _service().create_app(url, tokens={f"t-{u}": u for u in (*ATTACKERS, "em")})
    victim_ids = sorted({i for v in VICTIM.values() for i in v})
    t = Tally("service", actor)
    with TestClient(app, headers={"Authorization": f"Bearer t-{actor}"}) as client:
        answers = []
        for now in ("2025-03-03T12:00:00Z", "2025-03-20T09:00:00Z"):
            answers.append(client.get("/reminders", params={"now": now}))
            answers.append(client.get("/reminders", params={"now": now, "owner_id": "er"}))
        writes = [
            client.post("/leads/lead-e/convert", json={}),
            client.post("/leads/lead-e/convert", json={"owner_id": actor}),
            client.post("/opportunities/opp-e/move", json={"to": "needs_confirmed"}),
            client.post("/opportunities/opp-e/move", json={"to": "lost", "by": "er"}),
            client.post("/opportunities/opp-w/move", json={"to": "needs_confirmed", "by": "er"}),
            client.post(
                "/leads",
                json={
                    "id": f"n-{actor}",
                    "created_at": T0.isoformat(),
                    "source": "web",
                    "owner_id": "er",
                },
            ),
            client.post(
                "/leads",
                json={
                    "id": "lead-e",
                    "created_at": T0.isoformat(),
                    "source": "web",
                    "owner_id": actor,
                },
            ),
            client.post("/leads/lead-w/convert", json={"by": "er"}),
        ]
        # a duplicate of the victim's customer: refused or not, it must not describe them
        dup = client.post(
            "/leads",
            json={
                "id": f"d-{actor}",
                "created_at": T0.isoformat(),
                "source": "web",
                "owner_id": actor,
                "company": "East Customer",
                "phone": "13800138000",
            },
        )
        answers.append(dup)
        for r in answers:
            t.paths += 1
            judge_text(
                t,
                f"GET {r.request.url.path}",
                r.text,
                victim_ids if r.request.method == "GET" else ["lead-e", "er"],
            )
        for r in writes:
            t.paths += 1
            if r.status_code < 300:
                t.wrote(f"{r.request.method} {r.request.url.path} -> {r.status_code}")
            judge_text(
                t, f"{r.request.method} {r.request.url.path}", r.text, ["er", "East Customer"]
            )
        control = TestClient(app, headers={"Authorization": "Bearer t-em"})
        seen = control.get("/reminders", params={"now": "2025-03-20T09:00:00Z"}).text
        assert "opp-e" in seen  # the victim's manager does see them: the probe can fail
    with storage.open(url) as raw:
        after = snapshot(raw)
    for name in before:
        if before[name] != after[name]:
            t.wrote(f"{name} changed")
    settle(t)


def test_zz_print_totals() -> None:
    """The counts of every probe of this module (run last), for the record."""
    paths = sum(t.paths for t in TOTALS)
    print(
        f"\ncross-team: {len(TOTALS)} probes, {paths} paths tried, "
        f"{sum(t.leaked for t in TOTALS)} records leaked, {sum(t.writes for t in TOTALS)} writes allowed"
    )
    assert all((t.leaked, t.writes) == (0, 0) for t in TOTALS)


def test_cli_as_an_unknown_user_is_bad_input(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with storage.open(f"sqlite:///{db}") as raw:
        seed(raw)
    code, text = cli("score", "--store", f"sqlite:///{db}", "--as", "mallory")
    assert code == 2 and "--as" in text and "lead-e" not in text
