"""ingest.sync: a re-importable load. Expected values are worked out by hand from the rows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError, Problem
from pipeline_core.facts import BACKFILL_KEY, backfilled_until
from pipeline_core.ids import SequentialIds
from pipeline_core.ingest import (
    EXTERNAL_ID_PREFIX,
    MappedRow,
    RowOutcome,
    SyncRejectedError,
    sync,
)
from pipeline_core.records import Lead, Money, Opportunity
from pipeline_core.stages import Pipeline, Stage
from pipeline_core.storage import BaseStore, InMemoryStore, SQLiteStore
from pipeline_core.storage.io import ImportRejectedError

CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=CST)
AT = datetime(2025, 3, 1, 10, 0, tzinfo=CST)
BY = "importer"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStore]:
    if request.param == "memory":
        s: BaseStore = InMemoryStore()
    elif request.param == "sqlite":
        s = SQLiteStore(tmp_path / "sync.db")
    else:
        url = os.environ.get("PIPELINE_CORE_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("set PIPELINE_CORE_TEST_POSTGRES_URL to run the PostgreSQL sync tests")
        from pipeline_core.storage import PostgresStore

        s = PostgresStore(url, schema=f"pc_sync_{os.getpid()}_{id(request)}")
    try:
        yield s
    finally:
        if request.param == "postgres":
            s.connection.execute(f'DROP SCHEMA IF EXISTS "{s.schema}" CASCADE')  # type: ignore[attr-defined]
        s.close()


def lead(row: int, id: str | None, **fields: Any) -> MappedRow:
    data: dict[str, Any] = {"created_at": T0, "source": "website", "company": "ACME"}
    if id is not None:
        data["id"] = id
    data.update(fields)
    return MappedRow(row, data, key=fields.pop("_key", None))


def keyed(row: int, key: str, **fields: Any) -> MappedRow:
    data: dict[str, Any] = {"created_at": T0, "source": "website", "company": "ACME", **fields}
    return MappedRow(row, data, key=key)


class Collect:
    """A report writer that keeps the entries (for the tests only)."""

    def __init__(self) -> None:
        self.entries: list[RowOutcome] = []
        self.state = "open"

    def write(self, entry: RowOutcome) -> None:
        self.entries.append(entry)

    def finish(self) -> None:
        self.state = "finished"

    def discard(self) -> None:
        self.state = "discarded"


def flow() -> Pipeline:
    return Pipeline(
        id="p",
        name="P",
        stages=[
            Stage("new", "New"),
            Stage("quote", "Quote", required_fields=["expected_amount"]),
            Stage("won", "Won", kind="won"),
            Stage("lost", "Lost", kind="lost"),
        ],
        ids=SequentialIds(),
    )


def deal(row: int, id: str, stage: str = "new", **fields: Any) -> MappedRow:
    data: dict[str, Any] = {
        "id": id,
        "name": f"Deal {id}",
        "created_at": T0,
        "owner_id": "u1",
        "stage": stage,
        "stage_entered_at": T0,
        **fields,
    }
    return MappedRow(row, data)


# --------------------------------------------------------------------------- add, unchanged, update


def test_second_run_of_the_same_rows_is_all_unchanged(store: BaseStore) -> None:
    rows = [lead(2, "l1"), lead(3, "l2", company="Globex"), lead(4, "l3", needs="ERP")]
    first = sync(store, "lead", rows, by=BY, at=AT)
    assert (first.rows, first.added, first.updated, first.unchanged, first.rejected) == (
        3, 3, 0, 0, 0,
    )  # fmt: skip
    second = sync(store, "lead", rows, by=BY, at=AT)
    assert (second.added, second.updated, second.unchanged, second.rejected) == (0, 0, 3, 0)
    assert [r.version for r in store.leads.all()] == [1, 1, 1]


def test_a_changed_owned_field_is_saved_as_the_next_version(store: BaseStore) -> None:
    sync(store, "lead", [lead(2, "l1", needs="CRM")], by=BY, at=AT)
    out = Collect()
    report = sync(store, "lead", [lead(2, "l1", company="ACME Ltd", needs="CRM")], by=BY, at=AT,
                  report=out)  # fmt: skip
    assert (report.updated, report.unchanged) == (1, 0)
    stored = store.leads.get("l1")
    assert (stored.company, stored.needs, stored.version) == ("ACME Ltd", "CRM", 2)
    assert out.entries == [RowOutcome(2, "updated", "l1", "company", None, "version 2")]
    assert out.state == "finished"


def test_fields_the_sheet_does_not_own_are_never_overwritten(store: BaseStore) -> None:
    sync(store, "lead", [lead(2, "l1", needs="CRM", region="East")], by=BY, at=AT)
    # only 'needs' differs, and the sheet owns 'company' alone: nothing to do
    same = sync(store, "lead", [lead(2, "l1", needs="ERP", region="East")], owns={"company"},
                by=BY, at=AT)  # fmt: skip
    assert same.unchanged == 1
    # 'company' and 'needs' differ: only 'company' is taken
    changed = sync(store, "lead", [lead(2, "l1", company="Initech", needs="ERP")],
                   owns={"company", "region"}, by=BY, at=AT)  # fmt: skip
    assert changed.updated == 1
    stored = store.leads.get("l1")
    assert (stored.company, stored.needs, stored.region, stored.version) == (
        "Initech", "CRM", "East", 2,
    )  # fmt: skip


def test_money_is_compared_by_amount_and_currency(store: BaseStore) -> None:
    sync(store, "lead", [lead(2, "l1", budget=Money.of("100.00", "CNY"))], by=BY, at=AT)
    # 100.0 CNY is the same amount written with one place fewer
    same = sync(store, "lead", [lead(2, "l1", budget={"amount": "100.0", "currency": "CNY"})],
                by=BY, at=AT)  # fmt: skip
    assert same.unchanged == 1
    other = sync(store, "lead", [lead(2, "l1", budget={"amount": "100.00", "currency": "USD"})],
                 by=BY, at=AT)  # fmt: skip
    assert other.updated == 1
    assert store.leads.get("l1").budget == Money.of(Decimal("100"), "USD")


def test_custom_fields_in_the_row_are_merged_over_the_stored_ones(store: BaseStore) -> None:
    sync(store, "lead", [lead(2, "l1", custom={"tier": "gold", "region_code": "E1"})], by=BY,
         at=AT)  # fmt: skip
    sync(store, "lead", [lead(2, "l1", custom={"tier": "silver"})], owns={"custom"}, by=BY,
         at=AT)  # fmt: skip
    assert dict(store.leads.get("l1").custom) == {"tier": "silver", "region_code": "E1"}


# --------------------------------------------------------------------------- rejected rows


def test_duplicates_inside_the_file_name_the_first_row(store: BaseStore) -> None:
    out = Collect()
    rows = [lead(2, "l1"), lead(3, "l2"), lead(4, "l1", company="Other")]
    report = sync(store, "lead", rows, by=BY, at=AT, skip_invalid=True, report=out)
    assert (report.added, report.rejected) == (2, 1)
    assert out.entries[-1] == RowOutcome(4, "rejected", "l1", "id", "l1",
                                         "duplicate id: first in row 2")  # fmt: skip
    assert store.leads.get("l1").company == "ACME"


def test_a_validation_error_is_a_rejected_row_with_field_value_and_reason(
    store: BaseStore,
) -> None:
    rows = [lead(2, "l1"), lead(3, "l2", created_at="2025-01-06 09:00")]  # naive: no offset
    with pytest.raises(SyncRejectedError) as info:
        sync(store, "lead", rows, by=BY, at=AT)
    err = info.value
    assert isinstance(err, ImportRejectedError)
    assert [(e.row, e.field, e.value) for e in err.errors] == [
        (3, "created_at", "2025-01-06 09:00")
    ]
    assert (err.report.added, err.report.rejected, err.report.written) == (1, 1, False)
    assert store.leads.count() == 0  # all or nothing: the good row was not kept either


def test_mapping_problems_reject_the_row(store: BaseStore) -> None:
    bad = MappedRow(5, None, (Problem(("预算(元)",), "not an amount", "abc", "money"),))
    report = sync(store, "lead", [lead(2, "l1"), bad], by=BY, at=AT, skip_invalid=True)
    assert (report.added, report.rejected) == (1, 1)
    assert [(e.row, e.field, e.value, e.message) for e in report.errors] == [
        (5, "预算(元)", "abc", "not an amount")
    ]


def test_skip_invalid_keeps_the_good_rows(store: BaseStore) -> None:
    rows = [lead(2, "l1"), lead(3, "l2", source=""), lead(4, "l3")]
    report = sync(store, "lead", rows, by=BY, at=AT, skip_invalid=True)
    assert (report.added, report.rejected, report.written) == (2, 1, True)
    assert [r.id for r in store.leads.all()] == ["l1", "l3"]


def test_a_row_without_id_or_external_id_is_rejected(store: BaseStore) -> None:
    report = sync(store, "lead", [lead(2, None)], by=BY, at=AT, dry_run=True)
    assert report.rejected == 1
    assert report.errors[0].field == "id"


# --------------------------------------------------------------------------- external ids


def test_external_id_adds_then_matches(store: BaseStore) -> None:
    col = "线索编号"
    rows = [keyed(2, "L-001"), keyed(3, "L-002", company="Globex")]
    first = sync(store, "lead", rows, external_id=col, by=BY, at=AT, ids=SequentialIds())
    assert first.added == 2
    stored = store.leads.get("lead-000001")
    assert stored.custom[EXTERNAL_ID_PREFIX + col] == "L-001"
    again = sync(store, "lead", [keyed(2, "L-001"), keyed(3, "L-002", company="Globex Inc")],
                 external_id=col, by=BY, at=AT, ids=SequentialIds())  # fmt: skip
    assert (again.added, again.updated, again.unchanged) == (0, 1, 1)
    assert store.leads.get("lead-000002").company == "Globex Inc"
    assert store.leads.count() == 2


def test_duplicate_external_ids_in_the_file(store: BaseStore) -> None:
    rows = [keyed(2, "L-001"), keyed(3, "L-001", company="Again")]
    report = sync(store, "lead", rows, external_id="crm_id", by=BY, at=AT, skip_invalid=True,
                  ids=SequentialIds())  # fmt: skip
    assert (report.added, report.rejected) == (1, 1)
    assert (report.errors[0].row, report.errors[0].message) == (
        3, "duplicate external id: first in row 2",
    )  # fmt: skip


def test_external_id_needs_custom_fields() -> None:
    with pytest.raises(ConfigError) as info:
        sync(InMemoryStore(), "user", [], external_id="crm_id", by=BY, at=AT)
    assert info.value.fields == ("external_id",)


def test_bad_arguments_are_a_config_error_listing_each() -> None:
    with pytest.raises(ConfigError) as info:
        sync(InMemoryStore(), "opportunity", [], owns={"nope", "id", "closed_at"}, by="a b",
             at=AT, batch_size=0)  # fmt: skip
    assert sorted(p.code for p in info.value.problems) == sorted(
        ["unknown_field", "not_ownable", "not_ownable", "bad_id", "batch_size"]
    )


# --------------------------------------------------------------------------- opportunities


def test_new_opportunities_get_their_placement_event(store: BaseStore) -> None:
    report = sync(store, "opportunity", [deal(2, "o1")], pipeline=flow(), by=BY, at=AT)
    assert (report.added, report.events) == (1, 1)
    [event] = store.stage_events.for_opportunity("o1")
    assert (event.from_stage, event.to_stage, event.at, event.by, event.seq, event.pipeline) == (
        None, "new", T0, BY, 1, "p",
    )  # fmt: skip
    assert store.opportunities.get("o1").pipeline == "p"


def test_a_stage_change_goes_through_move_with_its_event(store: BaseStore) -> None:
    p = flow()
    sync(store, "opportunity", [deal(2, "o1")], pipeline=p, by=BY, at=AT)
    amount = Money.of("5000", "CNY")
    report = sync(store, "opportunity", [deal(2, "o1", "quote", expected_amount=amount)],
                  pipeline=p, by=BY, at=AT)  # fmt: skip
    assert (report.updated, report.moved, report.events) == (1, 1, 1)
    opp = store.opportunities.get("o1")
    assert (opp.stage, opp.stage_entered_at, opp.expected_amount, opp.version) == (
        "quote", AT, amount, 2,
    )  # fmt: skip
    events = list(store.stage_events.for_opportunity("o1"))
    assert [(e.from_stage, e.to_stage, e.at, e.by, e.seq) for e in events] == [
        (None, "new", T0, BY, 1),
        ("new", "quote", AT, BY, 2),
    ]
    # the same sheet again: nothing moves
    again = sync(store, "opportunity", [deal(2, "o1", "quote", expected_amount=amount)],
                 pipeline=p, by=BY, at=AT)  # fmt: skip
    assert again.unchanged == 1
    assert store.stage_events.count() == 2


def test_a_refused_move_is_a_rejected_row_with_the_unmet_conditions(store: BaseStore) -> None:
    p = flow()
    sync(store, "opportunity", [deal(2, "o1")], pipeline=p, by=BY, at=AT)
    out = Collect()
    with pytest.raises(SyncRejectedError) as info:
        sync(store, "opportunity", [deal(2, "o1", "quote")], pipeline=p, by=BY, at=AT,
             report=out)  # fmt: skip
    [error] = info.value.errors
    assert (error.row, error.field, error.value) == (2, "stage", "quote")
    assert "expected_amount" in error.message
    assert out.state == "discarded"
    opp = store.opportunities.get("o1")
    assert (opp.stage, opp.version) == ("new", 1)
    assert store.stage_events.count() == 1


def test_a_stage_change_without_a_pipeline_is_refused(store: BaseStore) -> None:
    sync(store, "opportunity", [deal(2, "o1")], by=BY, at=AT)
    report = sync(store, "opportunity", [deal(2, "o1", "quote")], by=BY, at=AT, dry_run=True)
    assert report.rejected == 1
    assert report.errors[0].code == "no_pipeline"


def test_activities_are_append_only(store: BaseStore) -> None:
    call = {"id": "a1", "kind": "call", "at": T0, "owner_id": "u1", "lead_id": "l1"}
    assert sync(store, "activity", [MappedRow(2, call)], by=BY, at=AT).added == 1
    assert sync(store, "activity", [MappedRow(2, call)], by=BY, at=AT).unchanged == 1
    email = {**call, "kind": "email"}
    report = sync(store, "activity", [MappedRow(2, email)], by=BY, at=AT, skip_invalid=True)
    assert (report.rejected, report.errors[0].code) == (1, "append_only")
    assert store.activities.get("a1").kind == "call"


# --------------------------------------------------------------------------- dry run, all or nothing


def test_dry_run_writes_nothing(store: BaseStore) -> None:
    sync(store, "lead", [lead(2, "l1")], by=BY, at=AT)
    rows = [lead(2, "l1", company="New name"), lead(3, "l2"), lead(4, "l2")]
    report = sync(store, "lead", rows, by=BY, at=AT, dry_run=True)
    assert (report.added, report.updated, report.rejected, report.written) == (1, 1, 1, False)
    assert store.leads.count() == 1
    assert store.leads.get("l1").company == "ACME"


def test_a_store_error_mid_sync_leaves_nothing(store: BaseStore, tmp_path: Path) -> None:
    def rows() -> Iterator[MappedRow]:
        yield lead(2, "l1")
        raise RuntimeError("the reader broke")

    path = tmp_path / "report.csv"
    with pytest.raises(RuntimeError):
        sync(store, "lead", rows(), by=BY, at=AT, report=path, batch_size=1)
    assert store.leads.count() == 0
    assert list(tmp_path.glob("*report*")) == []


# --------------------------------------------------------------------------- report files


def test_the_report_streams_to_a_csv_file(tmp_path: Path) -> None:
    store = InMemoryStore()
    path = tmp_path / "report.csv"
    rows = [lead(2, "l1"), lead(3, "l1"), lead(4, "l2", company="=1+1")]
    report = sync(store, "lead", rows, by=BY, at=AT, skip_invalid=True, report=path)
    assert (report.added, report.rejected) == (2, 1)
    assert path.read_text(encoding="utf-8").splitlines() == [
        "row,outcome,id,field,value,reason",
        "2,added,l1,,,",
        "3,rejected,l1,id,l1,duplicate id: first in row 2",
        "4,added,l2,,,",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_the_report_streams_to_a_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    sync(InMemoryStore(), "lead", [lead(2, "l1"), lead(3, None)], by=BY, at=AT,
         skip_invalid=True, report=path)  # fmt: skip
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"row": 2, "outcome": "added", "id": "l1", "field": None, "value": None,
                        "reason": None}  # fmt: skip
    assert (lines[1]["row"], lines[1]["outcome"], lines[1]["field"]) == (3, "rejected", "id")


def test_a_rejected_sync_leaves_no_report_file(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    with pytest.raises(SyncRejectedError):
        sync(InMemoryStore(), "lead", [lead(2, "l1"), lead(3, "l1")], by=BY, at=AT, report=path)
    assert list(tmp_path.iterdir()) == []


def test_a_formula_in_the_csv_report_is_neutralised(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    sync(InMemoryStore(), "lead", [lead(2, "=cmd"), lead(3, "=cmd")], by=BY, at=AT,
         skip_invalid=True, report=path)  # fmt: skip
    assert path.read_text(encoding="utf-8").splitlines()[1:] == [
        "2,added,'=cmd,,,",
        "3,rejected,'=cmd,id,'=cmd,duplicate id: first in row 2",
    ]


# --------------------------------------------------------------------------- property


def _snapshot(store: InMemoryStore) -> list[dict[str, Any]]:
    return [r.to_dict() for r in store.leads.all()]


row_sets = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(["l1", "l2", "l3"]),
            st.sampled_from(["A", "B", "C"]),
            st.sampled_from([None, "CRM", "ERP"]),
        ),
        max_size=4,
    ),
    max_size=4,
)


@given(row_sets)
def test_syncing_each_row_set_twice_equals_syncing_it_once(sets: list[Any]) -> None:
    once, twice = InMemoryStore(), InMemoryStore()
    for rows in sets:
        mapped = [lead(n, i, company=c, needs=nd) for n, (i, c, nd) in enumerate(rows, start=2)]
        sync(once, "lead", mapped, by=BY, at=AT, skip_invalid=True)
        sync(twice, "lead", mapped, by=BY, at=AT, skip_invalid=True)
        repeat = sync(twice, "lead", mapped, by=BY, at=AT, skip_invalid=True)
        assert (repeat.added, repeat.updated) == (0, 0)
    assert _snapshot(once) == _snapshot(twice)


def test_a_stored_lead_is_a_lead() -> None:
    store = InMemoryStore()
    sync(store, "lead", [lead(2, "l1")], by=BY, at=AT)
    assert isinstance(store.leads.get("l1"), Lead)
    assert not isinstance(store.leads.get("l1"), Opportunity)


# --------------------------------------------------------------------------- backfill mark


def test_backfill_marks_the_added_records_only(store: BaseStore) -> None:
    sync(store, "lead", [lead(2, "live")], by=BY, at=AT)
    rows = [lead(2, "live", company="Renamed"), lead(3, "old")]
    sync(store, "lead", rows, by=BY, at=AT, backfill=True)
    assert backfilled_until(store.leads.get("old")) == AT
    assert store.leads.get("old").custom[BACKFILL_KEY] == "2025-03-01T10:00:00+08:00"
    assert backfilled_until(store.leads.get("live")) is None  # updated, not imported history
    # a second run of the backfill finds nothing to change
    assert sync(store, "lead", rows, by=BY, at=AT, backfill=True).unchanged == 2


offsets = st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30), timezones=offsets
)


@given(instants)
def test_a_backfill_mark_reads_back_as_the_instant_written(at: datetime) -> None:
    opp = Opportunity(
        id="o1", name="D", created_at=T0, owner_id="u1", stage="new", stage_entered_at=T0,
        custom={BACKFILL_KEY: at.isoformat()},
    )  # fmt: skip
    got = backfilled_until(opp)
    assert got == at
    assert got is not None and got.utcoffset() == at.utcoffset()


@pytest.mark.parametrize("mark", ["2025-03-01", "yesterday", "2025-03-01T10:00:00", 20250301])
def test_an_unreadable_backfill_mark_is_an_error_not_no_mark(mark: object) -> None:
    from pipeline_core.errors import ValidationError

    opp = Opportunity(
        id="o1", name="D", created_at=T0, owner_id="u1", stage="new", stage_entered_at=T0,
        custom={BACKFILL_KEY: mark},
    )  # fmt: skip
    with pytest.raises(ValidationError) as info:
        backfilled_until(opp)
    assert info.value.fields == (f"custom.{BACKFILL_KEY}",)


# --------------------------------------------------------------------------- backfill and the SLA


def _first_touch_items(store: BaseStore, lead_id: str, as_of: datetime) -> list[tuple[str, str]]:
    from pipeline_core.sla import SlaEngine, default_policy, state_from_records

    engine = SlaEngine(default_policy())
    state = state_from_records(store.leads.get(lead_id))
    items = engine.evaluate(state, as_of)
    assert [i.id for i in engine.evaluate_batch([state], as_of)] == [i.id for i in items]
    return [(i.kind, i.due_at.isoformat()) for i in items if i.rule == "lead.first_touch"]  # type: ignore[union-attr]


def test_an_imported_overdue_first_touch_raises_no_alert_with_backfill() -> None:
    # created Mon 2025-01-06 09:00 Shanghai, never touched: 3 working hours (09:00-12:00) make the
    # deadline 12:00 = 04:00 UTC; the reminder fires at 11:00, the breach at 12:00, the escalation
    # 2 working hours later (13:30-15:30). Imported on Sat 1 March: all of it is history.
    as_of = datetime(2025, 3, 3, 12, 0, tzinfo=CST)
    live, imported = InMemoryStore(), InMemoryStore()
    sync(live, "lead", [lead(2, "l1")], by=BY, at=AT)
    sync(imported, "lead", [lead(2, "l1")], by=BY, at=AT, backfill=True)
    due = "2025-01-06T04:00:00+00:00"
    assert _first_touch_items(live, "l1", as_of) == [
        ("reminder", due), ("breach", due), ("escalation", due),
    ]  # fmt: skip
    assert _first_touch_items(imported, "l1", as_of) == []


def test_a_deadline_after_the_import_instant_still_alerts() -> None:
    # created Fri 2025-02-28 17:00 Shanghai: 1 working hour on Friday (17:00-18:00), 2 on Monday
    # (09:00-11:00): due Mon 3 March 11:00 = 03:00 UTC, after the import (Sat 1 March 10:00).
    store = InMemoryStore()
    created = datetime(2025, 2, 28, 17, 0, tzinfo=CST)
    sync(store, "lead", [lead(2, "l1", created_at=created)], by=BY, at=AT, backfill=True)
    as_of = datetime(2025, 3, 3, 12, 0, tzinfo=CST)
    assert _first_touch_items(store, "l1", as_of) == [
        ("reminder", "2025-03-03T03:00:00+00:00"), ("breach", "2025-03-03T03:00:00+00:00"),
    ]  # fmt: skip
