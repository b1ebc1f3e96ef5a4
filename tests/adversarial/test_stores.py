"""Adversarial store suite: hostile values and keys through every adapter, failures injected into
units of work, and a deadlock that is retried.

Every input is tried on the in-memory, SQLite and PostgreSQL stores and sorted into:

- ``same``: stored and read back byte-for-byte equal (the record's JSON, offsets and microseconds
  included), and found again by the queries that should find it;
- ``typed``: refused with a :mod:`pipeline_core.errors` error;
- ``untyped``: any other exception (a bug);
- ``silent``: stored but read back different, or not found where it should be (a bug).

The closing counts are printed (``pytest -s``, or ``-rA`` shows them) and must show 0 untyped and
0 silent on every adapter. PostgreSQL runs when ``PIPELINE_CORE_TEST_POSTGRES_URL`` is set (and
must when ``PIPELINE_CORE_REQUIRE_POSTGRES=1``, as in CI).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pydantic
import pytest

from pipeline_core.errors import (
    ConcurrencyError,
    PipelineCoreError,
    StorageError,
    TransactionAbortedError,
)
from pipeline_core.records import Account, Opportunity
from pipeline_core.storage import InMemoryStore, SQLiteStore
from pipeline_core.storage._base import TABLES
from pipeline_core.storage.frames import opportunities_frame

T0 = datetime(2025, 9, 1, 9, tzinfo=UTC)
_OPP = pydantic.TypeAdapter(Opportunity)
ADAPTERS = ("memory", "sqlite", "postgres")

# ------------------------------------------------------------------------------ the stores


def _postgres_url() -> str | None:
    url = os.environ.get("PIPELINE_CORE_TEST_POSTGRES_URL")
    required = os.environ.get("PIPELINE_CORE_REQUIRE_POSTGRES") == "1"
    if not url:
        if required:
            pytest.fail(
                "PIPELINE_CORE_REQUIRE_POSTGRES=1 but PIPELINE_CORE_TEST_POSTGRES_URL is unset"
            )
        return None
    return url


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[tuple[str, str] | None]:
    """(url, schema) of this module's own PostgreSQL schema, dropped at the end; None without one."""
    url = _postgres_url()
    if url is None:
        yield None
        return
    import psycopg

    schema = f"pc_adv_{uuid.uuid4().hex[:10]}"
    try:
        yield url, schema
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _empty_postgres(url: str, schema: str) -> Any:
    from pipeline_core.storage import PostgresStore

    store = PostgresStore(url, schema=schema)
    names = ", ".join(t.name + (f", {t.name}_tags" if t.tags else "") for t in TABLES)
    store.connection.execute(f"TRUNCATE {names}")
    return store


@pytest.fixture
def stores(tmp_path: Path, pg_schema: tuple[str, str] | None) -> Iterator[dict[str, Any]]:
    """A fresh store of every adapter (PostgreSQL only when a server is configured)."""
    out: dict[str, Any] = {"memory": InMemoryStore(), "sqlite": SQLiteStore(tmp_path / "a.db")}
    if pg_schema is not None:
        out["postgres"] = _empty_postgres(*pg_schema)
    yield out
    for store in out.values():
        store.close()


class Tally:
    """Outcome counts per adapter, printed as the closing note of a test."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.counts: dict[str, Counter[str]] = {a: Counter() for a in ADAPTERS}
        self.problems: list[str] = []

    def add(self, adapter: str, outcome: str, detail: str = "") -> None:
        self.counts[adapter]["inputs"] += 1
        self.counts[adapter][outcome] += 1
        if outcome in ("untyped", "silent"):
            self.problems.append(f"{adapter}: {outcome}: {detail}"[:400])

    def report(self) -> None:
        print(f"\n{self.title}")
        for adapter, c in self.counts.items():
            if c["inputs"]:
                print(
                    f"  {adapter:9} inputs {c['inputs']:5}  same {c['same']:5}  "
                    f"typed {c['typed']:4}  untyped {c['untyped']}  silent {c['silent']}"
                    + (f"  interrupted {c['interrupted']}" if c["interrupted"] else "")
                )
        assert not self.problems, "\n".join(self.problems[:20])


def _attempt(action: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", result), ("typed", error) or ("untyped", error)."""
    try:
        return "ok", action()
    except PipelineCoreError as exc:
        return "typed", exc
    except Exception as exc:
        return "untyped", exc


# ------------------------------------------------------------------------------ hostile values

HOSTILE_TEXT = [
    # what CSV readers and dataframes take for a missing value
    "NA",
    "N/A",
    "NULL",
    "null",
    "None",
    "nan",
    "NaN",
    "-nan",
    "#N/A",
    "<NA>",
    "",
    # white space and line ends
    " ",
    "  x  ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "a\nb",
    "\u00a0",
    "\u2028",
    "\u3000",
    # quoting, escapes, placeholders and SQL
    "'",
    '"',
    '""',
    "\\",
    "\\N",
    "\\.",
    "\\x00",
    "\\u0000",
    "%s",
    "%(x)s",
    "?",
    "?1",
    ":x",
    "$1",
    "'; DROP TABLE opportunities; --",
    "') OR ('1'='1",
    "a,b;c|d",
    "{}",
    "[]",
    '{"a": 1}',
    # Unicode beyond ASCII: CJK, emoji, combining marks, direction marks, BOM, zero-width
    "北京某某科技有限公司",
    "😀",
    "👩🏽‍💻",
    "e\u0301",
    "\u202eevil",
    "\ufeffbom",
    "a\u200bb",
    # control characters (the input rules may refuse some; a store must not change them)
    "\x1b[31mred",
    "\x07",
    "\x7f",
    "\x01",
    # the character PostgreSQL cannot store (refused there with a typed error)
    "a\x00b",
    # long
    "x" * 300,
    "長" * 300,
]

CUSTOM_VALUES: list[Any] = [
    0,
    -1,
    2**53 + 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    0.0,
    -0.0,
    0.1,
    1 / 3,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1e-300,
    True,
    False,
    None,
    "",
    "0",
    "-0",
    "1e3",
    "true",
    "null",
    "NaN",
]

OFFSETS = [
    timedelta(hours=-12),
    timedelta(hours=-9, minutes=-30),
    timedelta(0),
    timedelta(hours=5, minutes=45),
    timedelta(hours=5, minutes=53, seconds=28),
    timedelta(hours=12, minutes=45),
    timedelta(hours=14),
    timedelta(hours=13, minutes=59, seconds=59, microseconds=999_999),
]
WALLS = [
    datetime(2025, 1, 6, 9, 0, 0, 1),
    datetime(2025, 1, 6, 9, 0, 0, 999_999),
    datetime(1969, 12, 31, 23, 59, 59, 999_999),
    datetime(1, 1, 1),
    datetime(9999, 12, 31, 23, 59, 59),
]

AMOUNTS = [
    ("0", "CNY"),
    ("0.01", "CNY"),
    ("1999.50", "CNY"),
    ("9999999999999999999.99", "CNY"),
    ("1", "JPY"),
    ("123456789012345678901", "JPY"),
    ("0.001", "KWD"),
    ("1E+3", "EUR"),
    ("10.10", "USD"),
]


def _candidates() -> Iterator[tuple[str, Callable[[int], Opportunity]]]:
    """(label, builder of an opportunity with that hostile value and the given number)."""

    def deal(i: int, **fields: Any) -> Opportunity:
        base: dict[str, Any] = {
            "id": f"h-{i:04d}",
            "name": "Deal",
            "created_at": T0,
            "owner_id": "owner",
            "stage": "new",
            "stage_entered_at": T0,
        }
        return Opportunity(**(base | fields))

    for text in HOSTILE_TEXT:
        for field in ("name", "owner_id", "team_id", "stage", "source", "needs", "lost_reason"):
            yield f"{field}={text!r}", lambda i, f=field, t=text: deal(i, **{f: t})
        yield f"tag={text!r}", lambda i, t=text: deal(i, tags=frozenset({t, "plain"}))
        yield f"custom key={text!r}", lambda i, t=text: deal(i, custom={t: 1})
        yield f"custom value={text!r}", lambda i, t=text: deal(i, custom={"v": t})
    for value in CUSTOM_VALUES:
        yield f"custom={value!r}", lambda i, v=value: deal(i, custom={"v": v})
    for wall in WALLS:
        for offset in OFFSETS:
            at = wall.replace(tzinfo=timezone(offset))
            yield (
                f"at={at.isoformat()}",
                lambda i, a=at: deal(
                    i, created_at=a, stage_entered_at=a, next_step={"action": "call", "due_at": a}
                ),
            )
    for amount, currency in AMOUNTS:
        yield (
            f"amount={amount} {currency}",
            lambda i, a=amount, c=currency: deal(i, expected_amount={"amount": a, "currency": c}),
        )
    for p in (0.0, 1.0, 5e-324, 0.1, 0.30000000000000004, 1 - 2**-53):
        yield f"probability={p!r}", lambda i, p=p: deal(i, probability=p)


def _same(a: Opportunity, b: Opportunity) -> bool:
    return _OPP.dump_json(a) == _OPP.dump_json(b)


def _found_again(store: Any, deal: Opportunity) -> list[str]:
    """Where the stored deal is missing from a query that must return it."""
    missing = []
    checks: list[tuple[str, Callable[[], Iterator[Opportunity]]]] = [
        ("by_owner", lambda: store.opportunities.by_owner(deal.owner_id)),
        ("by_stage", lambda: store.opportunities.by_stage(deal.stage)),
        ("open", lambda: store.opportunities.open(owner_id=deal.owner_id)),
    ]
    if deal.team_id is not None:
        checks.append(("by_team", lambda: store.opportunities.by_team(deal.team_id)))
    for tag in deal.tags:
        checks.append((f"by_tag {tag!r}", lambda t=tag: store.opportunities.by_tag(t)))
    if deal.next_step is not None:
        due = deal.next_step.due_at
        checks.append(("due_by", lambda: store.opportunities.due_by(due)))
    for name, query in checks:
        status, result = _attempt(lambda q=query: list(q()))
        if status == "typed" and any(p.code == "nul_character" for p in result.problems):
            continue  # a key holding NUL is refused by every adapter (PostgreSQL cannot hold it)
        if status != "ok":
            missing.append(f"{name}: {result!r}")
            continue
        found = [o for o in result if o.id == deal.id]
        if len(found) != 1 or not _same(found[0], deal):
            missing.append(name)
    return missing


def test_hostile_values_come_back_unchanged_or_typed_on_every_adapter(
    stores: dict[str, Any],
) -> None:
    tally = Tally("hostile values through every adapter (record fields, tags, custom, times)")
    refused_by_records = Counter[str]()
    stored_by: dict[str, list[str]] = {}
    for i, (label, build) in enumerate(_candidates()):
        status, deal = _attempt(lambda b=build, n=i: b(n))
        if status != "ok":
            # refused before any store saw it: counted once, under every adapter
            for adapter in stores:
                tally.add(adapter, status, f"{label}: building the record: {deal!r}")
            refused_by_records[status] += 1
            continue
        stored_by[deal.id] = []
        for adapter, store in stores.items():
            status, error = _attempt(lambda s=store, d=deal: s.opportunities.add(d))
            if status != "ok":
                tally.add(adapter, status, f"{label}: {error!r}")
                continue
            status, back = _attempt(lambda s=store, d=deal: s.opportunities.get(d.id))
            if status != "ok":
                tally.add(adapter, status, f"{label}: reading back: {back!r}")
                continue
            if not _same(back, deal):
                tally.add(adapter, "silent", f"{label}: {_OPP.dump_json(back)[:200]!r}")
                continue
            missing = _found_again(store, deal)
            if missing:
                tally.add(adapter, "silent", f"{label}: not found by {missing}")
                continue
            tally.add(adapter, "same")
            stored_by[deal.id].append(adapter)
    # Adapters disagree only where PostgreSQL cannot store the value (NUL), with a typed error.
    everywhere = [deal_id for deal_id, where in stored_by.items() if set(where) == set(stores)]
    partial = {
        deal_id: where
        for deal_id, where in stored_by.items()
        if where and set(where) != set(stores)
    }
    for deal_id in partial:
        doc = _OPP.dump_json(stores["memory"].opportunities.get(deal_id))
        assert b"\\u0000" in doc, f"{deal_id} is stored only by {partial[deal_id]}"
    # The frames agree, cell by cell, on what every adapter stored (compared as Arrow: instants
    # before year 1 UTC have no Python datetime).
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = pa.array(everywhere, pa.string())
    frames = {}
    for adapter, store in stores.items():
        frame = opportunities_frame(store)
        frames[adapter] = frame.filter(pc.is_in(frame["id"], value_set=wanted))
    for adapter, frame in frames.items():
        differing = [c for c in frame.column_names if not frame[c].equals(frames["memory"][c])]
        if differing:
            tally.problems.append(f"{adapter}: frame columns differ from memory: {differing}")
    print(f"\n  records refused at construction: {dict(refused_by_records)}")
    print(f"  stored by every adapter: {len(everywhere)}; by some (NUL text): {len(partial)}")
    tally.report()
    assert len(everywhere) > 400  # the suite really stores hostile values, it does not just refuse


HOSTILE_KEYS: list[Any] = [
    *HOSTILE_TEXT,
    "owner",
    "OWNER",
    "owner ",
    " owner",
    "own%",
    "own_r",
    "own*",
    "\ud800",
    "a\udfffb",
    1,
    0,
    -1,
    1.5,
    True,
    b"owner",
    ["owner"],
    ("owner",),
    {"owner"},
    object(),
]


def test_hostile_lookup_keys_give_the_same_answer_on_every_adapter(
    stores: dict[str, Any],
) -> None:
    tally = Tally(
        "hostile lookup keys (get, find, by_owner, by_tag, all(after=), for_subject, by_kind)"
    )
    for store in stores.values():
        store.opportunities.bulk_add(
            Opportunity(
                id=f"k-{i}",
                name="Deal",
                created_at=T0,
                owner_id="owner",
                stage="new",
                stage_entered_at=T0,
                tags=frozenset({"vip"}),
            )
            for i in range(3)
        )
    lookups: dict[str, Callable[[Any, Any], Any]] = {
        "find": lambda s, k: s.opportunities.find(k),
        "get": lambda s, k: s.opportunities.get(k),
        "by_owner": lambda s, k: [o.id for o in s.opportunities.by_owner(k)],
        "by_tag": lambda s, k: [o.id for o in s.opportunities.by_tag(k)],
        "all(after=)": lambda s, k: [o.id for o in s.opportunities.all(after=k)],
        "for_subject": lambda s, k: [a.id for a in s.activities.for_subject(k)],
        "by_kind": lambda s, k: [e.id for e in s.journal.by_kind(k)],
        "open(team_id=)": lambda s, k: [o.id for o in s.opportunities.open(team_id=k)],
    }
    disagreements = []
    for key in HOSTILE_KEYS:
        for name, lookup in lookups.items():
            answers = {}
            for adapter, store in stores.items():
                status, result = _attempt(lambda s=store, f=lookup, k=key: f(s, k))
                if status == "ok":
                    tally.add(adapter, "same")
                    answers[adapter] = repr(result)
                else:
                    tally.add(adapter, status, f"{name}({key!r}): {result!r}")
                    codes = [p.code for p in getattr(result, "problems", ())]
                    answers[adapter] = f"{type(result).__name__} {codes}"
            if len(set(answers.values())) > 1:
                disagreements.append(f"{name}({key!r}): {answers}")
    tally.report()
    assert not disagreements, "\n".join(disagreements[:10])


# ------------------------------------------------------------------------------ failure injection


def _account(name: str) -> Account:
    return Account(id=name, name=f"Account {name}", created_at=T0)


class Injected(StorageError):
    """The failure this suite injects."""


def _inject(backend: Any, method: str, failure: BaseException, *, after: bool = False) -> None:
    """Make ``backend.<method>`` raise ``failure`` once (before or after doing its work)."""
    real = getattr(backend, method)

    def failing(*args: Any, **kwargs: Any) -> Any:
        setattr(backend, method, real)  # once
        if after:
            real(*args, **kwargs)
        raise failure

    setattr(backend, method, failing)


INJECTIONS: dict[str, tuple[str, Callable[[], BaseException], bool]] = {
    "a write fails before writing": ("insert", lambda: Injected("injected: write refused"), False),
    "a write fails after writing": ("insert", lambda: Injected("injected: write lost"), True),
    "the savepoint rollback fails": (
        "_rollback_to",
        lambda: Injected("injected: no rollback"),
        False,
    ),
    "the commit fails": ("_commit", lambda: Injected("injected: commit failed"), False),
    "Ctrl-C during a write": ("insert", KeyboardInterrupt, True),
}


@pytest.mark.parametrize("injection", list(INJECTIONS))
@pytest.mark.parametrize("caught", [True, False], ids=["caught", "not-caught"])
def test_an_injected_failure_leaves_a_unit_of_work_whole_or_empty(
    stores: dict[str, Any], injection: str, caught: bool
) -> None:
    tally = Tally(f"failure injected: {injection} ({'caught' if caught else 'not caught'} inside)")
    method, failure, after = INJECTIONS[injection]
    for adapter, store in stores.items():
        escaped: BaseException | None = None
        try:
            with store.unit_of_work() as uow:
                uow.accounts.add(_account("A1"))
                if method in ("_rollback_to", "_commit"):
                    _inject(store._backend, method, failure(), after=after)
                    if method == "_rollback_to":  # needs a failing write to roll back
                        _inject(store._backend, "insert", Injected("injected: write refused"))
                else:
                    _inject(store._backend, method, failure(), after=after)
                try:
                    uow.accounts.add(_account("F"))
                except Exception:
                    if not caught:
                        raise
                uow.accounts.add(_account("A2"))
        except BaseException as exc:  # what the test inspects
            escaped = exc
        stored = sorted(a.id for a in store.accounts.all())
        if isinstance(escaped, KeyboardInterrupt):
            tally.add(adapter, "interrupted" if stored == [] else "silent", f"stored {stored}")
        elif escaped is None or isinstance(escaped, PipelineCoreError):
            whole = ["A1", "A2"]  # a failed write undoes itself, even after writing
            if stored == [] or (escaped is None and stored == whole):
                tally.add(adapter, "same" if escaped is None else "typed")
            else:
                tally.add(adapter, "silent", f"stored {stored} after {escaped!r}")
        else:
            tally.add(adapter, "untyped", repr(escaped))
        if injection == "Ctrl-C during a write":
            assert isinstance(escaped, KeyboardInterrupt), f"{adapter}: {escaped!r}"
        if escaped is None:
            # the failing write undid only itself
            assert stored == ["A1", "A2"], f"{adapter}: {stored}"
        # the store goes on working
        store.accounts.add(_account("B"))
        assert store.accounts.find("B") is not None
    tally.report()


def test_a_transaction_the_database_abandoned_is_never_half_committed(
    stores: dict[str, Any],
) -> None:
    # SQLite may roll back the whole transaction on its own after SQLITE_FULL or SQLITE_IOERR;
    # simulated here for every adapter by a database that reports the transaction gone.
    tally = Tally("the database abandons the transaction under a savepoint")
    for adapter, store in stores.items():
        backend = store._backend
        real_state = backend._transaction_state
        real_insert = backend.insert

        def abandoning_insert(*args: Any, b: Any = backend, r: Any = real_insert) -> None:
            b.insert = r
            b._rollback()  # the database gives the whole transaction up
            b._transaction_state = lambda: "gone"
            raise Injected("injected: disk I/O error")

        later: BaseException | None = None
        try:
            with store.unit_of_work() as uow:
                uow.accounts.add(_account("A1"))
                backend.insert = abandoning_insert
                with pytest.raises(Injected):
                    uow.accounts.add(_account("F"))
                try:
                    uow.accounts.add(_account("A2"))
                except TransactionAbortedError as exc:
                    later = exc
                    backend._transaction_state = real_state
                    raise
        except TransactionAbortedError:
            pass
        backend._transaction_state = real_state
        stored = sorted(a.id for a in store.accounts.all())
        if later is not None and stored == [] and "disk I/O" in str(later):
            tally.add(adapter, "typed")
        else:
            tally.add(adapter, "silent", f"stored {stored}, later write gave {later!r}")
        store.accounts.add(_account("B"))
    tally.report()


# ------------------------------------------------------------------------------ deadlock


@pytest.mark.postgres
def test_deadlocked_units_of_work_both_succeed_when_retried(
    pg_schema: tuple[str, str] | None,
) -> None:
    if pg_schema is None:
        pytest.skip("PostgreSQL tests need PIPELINE_CORE_TEST_POSTGRES_URL")
    from pipeline_core.storage import PostgresStore

    setup = _empty_postgres(*pg_schema)
    setup.accounts.bulk_add([_account("X"), _account("Y")])
    first_round = threading.Barrier(2, timeout=20)
    victims: list[BaseException] = []
    attempts = Counter[str]()

    def append_to_both(who: str, order: tuple[str, str]) -> None:
        store = PostgresStore(*pg_schema[:1], schema=pg_schema[1])
        try:
            for attempt in range(5):
                attempts[who] += 1
                try:
                    with store.unit_of_work() as uow:
                        for n, account_id in enumerate(order):
                            account = uow.accounts.get(account_id)
                            uow.accounts.save(account.evolve(name=f"{account.name}+{who}"))
                            if n == 0 and attempt == 0:
                                first_round.wait()  # both hold one row: a deadlock
                    return
                except ConcurrencyError as exc:
                    assert exc.retryable
                    victims.append(exc)
        finally:
            store.close()

    threads = [
        threading.Thread(target=append_to_both, args=("p", ("X", "Y"))),
        threading.Thread(target=append_to_both, args=("q", ("Y", "X"))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    names = {a.id: a.name for a in setup.accounts.all()}
    setup.close()
    print(f"\ndeadlock: attempts {dict(attempts)}, victims {[type(v).__name__ for v in victims]}")
    # the first loser is the deadlock victim; a retry may still meet a stale version (the
    # winner committed in between), which is the same retryable kind of error
    assert victims and type(victims[0]).__name__ == "DeadlockError"
    assert all(isinstance(v, ConcurrencyError) for v in victims)
    # each account got both suffixes exactly once, in the order the units committed
    for account_id in ("X", "Y"):
        suffixes = names[account_id].removeprefix(f"Account {account_id}").split("+")[1:]
        assert sorted(suffixes) == ["p", "q"], names
    assert sum(attempts.values()) == 2 + len(victims)  # every failure was retried once
