"""Review #19, fix 2: rejected rows' report entries keep the row's id; a duplicate id is said
once; a stored record whose external-id tag was removed gets it back. Values worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from pipeline_core.errors import Problem
from pipeline_core.ingest import EXTERNAL_ID_PREFIX, MappedRow, RowOutcome, sync
from pipeline_core.storage import InMemoryStore

CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=CST)
AT = datetime(2025, 3, 1, 10, 0, tzinfo=CST)


class Collect:
    def __init__(self) -> None:
        self.entries: list[RowOutcome] = []

    def write(self, entry: RowOutcome) -> None:
        self.entries.append(entry)

    def finish(self) -> None:
        pass

    def discard(self) -> None:
        pass


def _lead(row: int, id: str, key: str | None = None, **fields: Any) -> MappedRow:
    data = {"id": id, "created_at": T0, "source": "website", "company": "ACME", **fields}
    return MappedRow(row, data, key=key)


def test_a_row_refused_by_validation_keeps_its_id_in_the_report() -> None:
    out = Collect()
    rows = [_lead(2, "l1", email="not-an-email")]
    report = sync(InMemoryStore(), "lead", rows, by="i", at=AT, dry_run=True, report=out)
    assert report.rejected == 1
    assert [(e.row, e.outcome, e.id) for e in out.entries] == [(2, "rejected", "l1")]


def test_a_duplicate_id_that_is_also_the_external_id_is_said_once() -> None:
    out = Collect()
    rows = [_lead(2, "L-1", key="L-1"), _lead(3, "L-1", key="L-1", company="Again")]
    report = sync(InMemoryStore(), "lead", rows, external_id="编号", by="i", at=AT,
                  skip_invalid=True, report=out)  # fmt: skip
    assert (report.added, report.rejected, report.error_count) == (1, 1, 1)
    assert out.entries[-1] == RowOutcome(3, "rejected", "L-1", "id", "L-1",
                                         "duplicate id: first in row 2")  # fmt: skip


def test_a_row_rejected_while_mapping_names_the_stored_record_of_its_key() -> None:
    store = InMemoryStore()
    sync(store, "lead", [_lead(2, "l1", key="K1")], external_id="编号", by="i", at=AT)
    out = Collect()
    bad = MappedRow(2, None, (Problem(("预算",), "not money", "abc", "money"),), key="K1")
    sync(store, "lead", [bad], external_id="编号", by="i", at=AT, dry_run=True, report=out)
    assert [(e.id, e.field, e.value) for e in out.entries] == [("l1", "预算", "abc")]


def test_a_removed_external_id_tag_is_restored_and_the_row_counted_updated() -> None:
    store = InMemoryStore()
    sync(store, "lead", [_lead(2, "l1", key="K1")], external_id="编号", by="i", at=AT)
    tag = EXTERNAL_ID_PREFIX + "编号"
    stored = store.leads.get("l1")
    assert stored.custom == {tag: "K1"}
    store.leads.save(stored.evolve(custom={}))  # someone removed the tag: version 2
    out = Collect()
    again = sync(store, "lead", [_lead(2, "l1", key="K1")], external_id="编号", by="i", at=AT,
                 report=out)  # fmt: skip
    assert (again.updated, again.unchanged) == (1, 0)
    assert store.leads.get("l1").custom == {tag: "K1"}
    assert store.leads.get("l1").version == 3
    third = sync(store, "lead", [_lead(2, "l1", key="K1")], external_id="编号", by="i", at=AT)
    assert (third.updated, third.unchanged) == (0, 1)
