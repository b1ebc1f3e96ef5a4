"""The storage contract's example records and helpers (internal to
:mod:`pipeline_core.testing.storage_contract`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pipeline_core.errors import (
    ConcurrencyError,
)
from pipeline_core.records import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    JournalEntry,
    Lead,
    Money,
    Opportunity,
    Role,
    SlaOutcome,
    StageEvent,
    Team,
    User,
)
from pipeline_core.storage.ports import Store

__all__ = [
    "HOSTILE_TEXTS",
    "LOGS",
    "T0",
    "VERSIONED",
    "ContractBase",
    "has_nul",
    "ids_of",
    "make_activity",
    "make_event",
    "make_journal",
    "make_lead",
    "make_opportunity",
    "make_sla_outcome",
    "one_of_each",
    "race",
]

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
"""The base instant of the contract's example records."""

HOSTILE_TEXTS: tuple[str, ...] = (
    'O\'Brien "Quoted" `back` \\ slash',
    "'; DROP TABLE opportunities; --",
    "Robert'); DELETE FROM stage_events WHERE ('1'='1",
    "%s %(name)s ? :name $1 {0}",
    "emoji 😀👍🏽 and 北京某某科技有限公司 and עברית and Ünïcödé",
    "line\nbreaks\r\nand\ttabs",
    "a literal \\u0000 and \\x00 are not NUL",
    "x" * 100_000,
)
"""Text that has broken storage code before: quotes, SQL, placeholders, emoji, CJK, 100 KB."""


def make_opportunity(i: int | str, **changes: Any) -> Opportunity:
    """A valid open opportunity ``opp-<i>`` created at :data:`T0`; ``changes`` override fields."""
    values: dict[str, Any] = {
        "id": f"opp-{i}",
        "name": f"Deal {i}",
        "created_at": T0,
        "owner_id": "u1",
        "stage": "new",
        "stage_entered_at": T0,
        "team_id": "t1",
        "expected_amount": Money.of("1000.50", "CNY"),
    }
    values.update(changes)
    return Opportunity(**values)


def make_lead(i: int | str, **changes: Any) -> Lead:
    """A valid lead ``lead-<i>`` created at :data:`T0`; ``changes`` override fields."""
    values: dict[str, Any] = {"id": f"lead-{i}", "created_at": T0, "source": "website"}
    values.update(changes)
    return Lead(**values)


def make_event(i: int | str, opp: str = "opp-1", **changes: Any) -> StageEvent:
    """A stage event ``ev-<i>`` of ``opp`` (new to qualified at :data:`T0`)."""
    values: dict[str, Any] = {
        "id": f"ev-{i}",
        "opportunity_id": opp,
        "to_stage": "qualified",
        "from_stage": "new",
        "at": T0,
        "by": "u1",
    }
    values.update(changes)
    return StageEvent(**values)


def make_activity(i: int | str, **changes: Any) -> Activity:
    """A call ``act-<i>`` on ``opp-1`` at :data:`T0`."""
    values: dict[str, Any] = {
        "id": f"act-{i}",
        "kind": ActivityKind.CALL,
        "at": T0,
        "owner_id": "u1",
        "opportunity_id": "opp-1",
    }
    values.update(changes)
    return Activity(**values)


def make_journal(i: int | str, **changes: Any) -> JournalEntry:
    """A transfer journal entry ``j-<i>`` of ``opp-1`` at :data:`T0`."""
    values: dict[str, Any] = {
        "id": f"j-{i}",
        "kind": "transfer",
        "subject_id": "opp-1",
        "at": T0,
        "by": "u1",
        "payload": {"from": "u1", "to": "u2"},
    }
    values.update(changes)
    return JournalEntry(**values)


def make_sla_outcome(i: int | str, **changes: Any) -> SlaOutcome:
    """A met first-touch SLA outcome ``sla-<i>`` of ``lead-1``."""
    values: dict[str, Any] = {
        "id": f"sla-{i}",
        "rule": "first_touch",
        "target": "first_touch",
        "subject_kind": "lead",
        "subject_id": "lead-1",
        "started_at": T0,
        "due_at": T0 + timedelta(hours=4),
        "met": True,
        "elapsed_seconds": 600.0,
        "owner_id": "u1",
    }
    values.update(changes)
    return SlaOutcome(**values)


def one_of_each() -> dict[str, Any]:
    """One record for each versioned collection, keyed by collection name."""
    return {
        "leads": make_lead(1, budget=Money.of(5000, "USD"), tags=frozenset({"vip"})),
        "opportunities": make_opportunity(1, tags=frozenset({"vip", "q1"}), custom={"x": 1}),
        "accounts": Account(id="acc-1", name="北京某某科技有限公司", created_at=T0, owner_id="u1"),
        "contacts": Contact(id="c-1", name="张三", created_at=T0, account_id="acc-1"),
        "users": User(id="u1", name="Wang Fang", role=Role.AE, team_id="t1"),
        "teams": Team(id="t1", name="East", parent_id="t0"),
        "sla_outcomes": make_sla_outcome(1),
    }


VERSIONED = ("leads", "opportunities", "accounts", "contacts", "users", "teams", "sla_outcomes")
"""The versioned collections of a store."""
LOGS = ("stage_events", "activities", "journal")
"""The append-only logs of a store."""


def has_nul(value: Any) -> bool:
    """Whether the NUL character is anywhere in ``value`` (text, keys, nested lists and dicts)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def ids_of(records: Iterator[Any]) -> list[str]:
    """The ids of ``records``, in order."""
    return [r.id for r in records]


def race(saves: list[tuple[Store, Opportunity]]) -> dict[int, str]:
    """Run ``store.opportunities.save(record)`` for each pair at once, one thread each (released
    together by a barrier); ``{index: "won" | "conflict" | the unexpected error}``."""
    barrier = threading.Barrier(len(saves), timeout=60)
    outcomes: dict[int, str] = {}

    def run(i: int, store: Store, record: Opportunity) -> None:
        try:
            barrier.wait()
            store.opportunities.save(record)
            outcomes[i] = "won"
        except ConcurrencyError:
            outcomes[i] = "conflict"
        except BaseException as exc:  # reported by the assertion, not lost in the thread
            outcomes[i] = repr(exc)

    threads = [
        threading.Thread(target=run, args=(i, s, r), daemon=True) for i, (s, r) in enumerate(saves)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return outcomes


class ContractBase:
    """What every part of the contract may ask of the adapter's test class."""

    allows_nul: ClassVar[bool] = True
    """Whether the backend can store the NUL character in text (PostgreSQL cannot)."""

    def connect(self, store: Store) -> Store | None:
        """A second connection to the data of ``store`` (closed by the test), or ``None``: the
        race tests then run on ``store`` itself from two threads. Override it for a database
        adapter (the built-in SQLite and PostgreSQL contracts do)."""
        return None
