"""``check_store``: stored values today's rules refuse are listed, never changed; auditors plug in."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from pipeline_core import storage
from pipeline_core.records import Lead
from pipeline_core.storage.check import DEFAULT_AUDITORS, Finding, check_store


def _lead(i: int) -> Lead:
    return Lead.from_dict(
        {"id": f"lead-{i}", "created_at": "2025-02-03T08:00:00+08:00", "source": "web"}
    )


def test_a_clean_store_reports_nothing_in_every_adapter(store: Any) -> None:
    store.leads.bulk_add([_lead(i) for i in range(3)])
    report = check_store(store)
    assert report.ok and report.total == 0 and report.records == 3


def test_an_auditor_can_be_plugged_in(store: Any) -> None:
    store.leads.add(_lead(1))

    def owners_audit(s: Any) -> Any:
        for lead in s.leads.all():
            if lead.owner_id is None:
                yield Finding("lead", lead.id, "owner_id", None, "no owner", "no_owner", "owners")

    report = check_store(store, (*DEFAULT_AUDITORS, owners_audit))
    assert not report.ok and report.by_kind == {"lead": 1}
    assert [(f.auditor, f.id, f.field) for f in report.findings] == [
        ("owners", "lead-1", "owner_id")
    ]


def test_values_written_before_the_rules_are_listed_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = storage.open(f"sqlite:///{path}")
    store.leads.bulk_add([_lead(i) for i in range(4)])
    store.close()
    # What an older version could store: a Unix time as text, a signed zero amount, a zero-width id.
    edits = {
        "lead-0": {"created_at": "1738540800"},
        "lead-1": {"budget": {"amount": "-0", "currency": "CNY"}},
        "lead-2": {"id": "lead\u200b-2"},
    }
    with sqlite3.connect(path) as conn:
        for id, change in edits.items():
            doc = json.loads(
                conn.execute("SELECT doc FROM leads WHERE id = ?", (id,)).fetchone()[0]
            )
            doc.update(change)
            conn.execute(
                "UPDATE leads SET id = ?, doc = ? WHERE id = ?", (doc["id"], json.dumps(doc), id)
            )
        before = conn.execute("SELECT id, doc FROM leads ORDER BY id").fetchall()
    store = storage.open(f"sqlite:///{path}")
    report = check_store(store)
    store.close()
    found = {(f.id, f.field, f.code) for f in report.findings}
    assert found == {
        ("lead-0", "created_at", "datetime_type"),
        ("lead-1", "budget.amount", "decimal_parsing"),
        ("lead\u200b-2", "id", "id_characters"),
    }
    assert report.total == 3 and report.records == 4
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT id, doc FROM leads ORDER BY id").fetchall() == before


def test_the_check_command_lists_what_the_access_rules_read_differently(tmp_path: Path) -> None:
    """``pipeline-core check`` runs the access audit too: an id used both by a lead and by a deal
    (a reference finds only its own kind since the access rules) is listed, nothing is changed."""
    from datetime import UTC, datetime

    from pipeline_core.cli import main
    from pipeline_core.records import Opportunity

    path = tmp_path / "shared.db"
    store = storage.open(f"sqlite:///{path}")
    t = datetime(2025, 2, 3, tzinfo=UTC)
    store.leads.add(_lead(17))
    store.opportunities.add(
        Opportunity(
            id="lead-17", name="Deal", created_at=t, owner_id="amy", stage="new", stage_entered_at=t
        )
    )
    store.close()
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["check", "--store", f"sqlite:///{path}", "--json"])
    assert rc == 3
    found = json.loads(buf.getvalue())
    access = [f for f in found["findings"] if f["auditor"] == "access"]
    assert [(f["id"], f["field"], f["code"]) for f in access] == [("lead-17", "id", "shared_id")]
    again = storage.open(f"sqlite:///{path}")
    assert again.leads.get("lead-17").id == again.opportunities.get("lead-17").id == "lead-17"
    again.close()
