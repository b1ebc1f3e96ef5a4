"""Import and export: CSV and JSON Lines, lossless round trips, row-level error reports."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core.errors import DuplicateError
from pipeline_core.records import Lead, Money, NextStep, Opportunity
from pipeline_core.storage import InMemoryStore, SQLiteStore
from pipeline_core.storage.io import (
    ImportRejectedError,
    csv_columns,
    export_records,
    import_records,
    kinds,
    read_csv,
    read_jsonl,
    write_csv,
    write_jsonl,
)
from pipeline_core.testing import strategies as pcst
from pipeline_core.testing.storage_contract import T0, make_opportunity

STRATEGIES: dict[str, Any] = {
    "lead": pcst.leads(),
    "opportunity": pcst.opportunities(),
    "account": pcst.accounts(),
    "contact": pcst.contacts(),
    "user": pcst.users(),
    "team": pcst.teams(),
    "activity": pcst.activities(),
    "stage_event": pcst.stage_events(),
    "sla_outcome": pcst.sla_outcomes(),
    "journal_entry": pcst.journal_entries(),
}


def test_every_kind_has_a_strategy_here() -> None:
    assert sorted(kinds()) == sorted(STRATEGIES)


def _csv_round_trip(kind: str, records: list[Any]) -> list[Any]:
    buf = io.StringIO(newline="")
    assert write_csv(kind, records, buf) == len(records)
    buf.seek(0)
    out = []
    for _, item in read_csv(kind, buf):
        assert not isinstance(item, list), item
        out.append(item)
    return out


def _jsonl_round_trip(kind: str, records: list[Any]) -> list[Any]:
    buf = io.StringIO()
    write_jsonl(kind, records, buf)
    buf.seek(0)
    return [item for _, item in read_jsonl(kind, buf)]


@settings(max_examples=60)
@given(data=st.data())
def test_csv_export_then_import_is_lossless(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(STRATEGIES)))
    records = data.draw(st.lists(STRATEGIES[kind], max_size=4))
    assert _csv_round_trip(kind, records) == records


@settings(max_examples=60)
@given(data=st.data())
def test_jsonl_export_then_import_is_lossless(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(STRATEGIES)))
    records = data.draw(st.lists(STRATEGIES[kind], max_size=4))
    assert _jsonl_round_trip(kind, records) == records


@pytest.mark.parametrize(
    "value",
    [
        "",
        "42",
        "true",
        "null",
        '"quoted"',
        "[1, 2]",
        " 5",
        "plain",
        42,
        1.5,
        -0.0,
        True,
        None,
        1e300,
    ],
)
def test_custom_values_keep_their_type(value: Any) -> None:
    opp = make_opportunity(1, custom={"x": value})
    [back] = _csv_round_trip("opportunity", [opp])
    assert back.custom == opp.custom
    assert type(back.custom["x"]) is type(value)


@pytest.mark.parametrize(
    "tags",
    [frozenset({"a;b", "c\\d"}), frozenset({"[x"}), frozenset({"\\"}), frozenset({";"})],
)
def test_tags_with_separators_survive(tags: frozenset[str]) -> None:
    opp = make_opportunity(1, tags=tags)
    assert _csv_round_trip("opportunity", [opp]) == [opp]


def test_spreadsheet_friendly_layout() -> None:
    cols = csv_columns("opportunity", ["region"])
    assert "expected_amount.amount" in cols
    assert "expected_amount.currency" in cols
    assert "next_step.due_at" in cols
    assert "custom.region" in cols
    opp = make_opportunity(
        1,
        tags=frozenset({"vip", "q1"}),
        custom={"region": "华东"},
        next_step=NextStep(action="call", due_at=T0),
    )
    buf = io.StringIO(newline="")
    write_csv("opportunity", [opp], buf)
    header, row = buf.getvalue().splitlines()[:2]
    cells = dict(zip(header.split(","), row.split(","), strict=True))
    assert cells["tags"] == "q1;vip"
    assert cells["expected_amount.amount"] == "1000.50"
    assert cells["expected_amount.currency"] == "CNY"
    assert cells["custom.region"] == "华东"
    assert cells["next_step.due_at"] == "2025-01-06T09:00:00Z"
    assert cells["probability"] == ""


def test_a_hand_written_sheet_imports(tmp_path: Path) -> None:
    sheet = tmp_path / "leads.csv"
    sheet.write_text(
        "\ufeffid,created_at,source,company,company_size,budget.amount,budget.currency,tags,custom.score\n"
        "L1,2025-01-06T09:00:00+08:00,website,北京某某科技有限公司,120,50000,CNY,vip;hot,7\n"
        "\n"
        "L2,2025-01-07T09:00:00+08:00,event,,,,,,\n",
        encoding="utf-8",
    )
    store = InMemoryStore()
    report = import_records(store, "lead", sheet)
    assert (report.rows, report.written, report.errors) == (2, 2, ())
    l1 = store.leads.get("L1")
    assert l1.company_size == 120
    assert l1.budget == Money.of(50000, "CNY")
    assert l1.tags == frozenset({"vip", "hot"})
    assert l1.custom == {"score": 7}
    l2 = store.leads.get("L2")
    assert (l2.company, l2.budget, l2.tags) == (None, None, frozenset())


BAD_SHEET = (
    "id,created_at,source,company_size,budget.amount,budget.currency\n"
    "L1,2025-01-06T09:00:00+08:00,website,12,100,CNY\n"  # row 2: good
    "L2,2025-01-06T09:00:00,website,,,\n"  # row 3: naive time
    "L3,2025-01-06T09:00:00Z,web site,many,1.5,XXX\n"  # row 4: size, currency
    "L4,2025-01-06T09:00:00Z,event,3,,\n"  # row 5: good
    ",2025-01-06T09:00:00Z,,,,\n"  # row 6: id and source missing
)


def test_bad_rows_are_all_reported_and_nothing_is_written(tmp_path: Path) -> None:
    sheet = tmp_path / "leads.csv"
    sheet.write_text(BAD_SHEET, encoding="utf-8")
    store = SQLiteStore(tmp_path / "s.db")
    with pytest.raises(ImportRejectedError) as info:
        import_records(store, "lead", sheet)
    errors = {(e.row, e.field) for e in info.value.errors}
    assert (3, "created_at") in errors
    assert (4, "company_size") in errors
    assert (4, "budget.currency") in errors
    assert (6, "id") in errors
    assert (6, "source") in errors
    assert not any(row in (2, 5) for row, _ in errors)
    bad_size = next(e for e in info.value.errors if (e.row, e.field) == (4, "company_size"))
    assert bad_size.value == "many"
    assert bad_size.message
    assert store.leads.count() == 0
    store.close()


def test_skip_invalid_writes_the_good_rows(tmp_path: Path) -> None:
    sheet = tmp_path / "leads.csv"
    sheet.write_text(BAD_SHEET, encoding="utf-8")
    store = InMemoryStore()
    report = import_records(store, "lead", sheet, skip_invalid=True)
    assert report.rows == 5
    assert report.written == 2
    assert sorted({e.row for e in report.errors}) == [3, 4, 6]
    assert [lead.id for lead in store.leads.all()] == ["L1", "L4"]


def test_unknown_column_rejects_the_file(tmp_path: Path) -> None:
    sheet = tmp_path / "leads.csv"
    sheet.write_text("id,created_at,source,colour\nL1,2025-01-06T09:00:00Z,web,red\n")
    with pytest.raises(ImportRejectedError) as info:
        import_records(InMemoryStore(), "lead", sheet, skip_invalid=True)
    assert [(e.row, e.field) for e in info.value.errors] == [(1, "colour")]


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "opps.jsonl"
    good = make_opportunity(1).to_dict()
    bad = {**make_opportunity(2).to_dict(), "probability": 3}
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps(bad) + "\n[1]\n")
    with pytest.raises(ImportRejectedError) as info:
        import_records(InMemoryStore(), "opportunity", path)
    assert [(e.row, e.field) for e in info.value.errors] == [
        (2, "<line>"),
        (3, "probability"),
        (4, "<line>"),
    ]


def test_store_export_then_import_is_lossless(tmp_path: Path) -> None:
    source = SQLiteStore(tmp_path / "a.db")
    opps = [
        make_opportunity(i, custom={"n": i, "s": str(i)}, tags=frozenset({f"t{i % 3}"}))
        for i in range(30)
    ]
    source.opportunities.bulk_add(opps)
    for fmt in ("csv", "jsonl"):
        path = tmp_path / f"opps.{fmt}"
        assert export_records(source, "opportunity", path) == 30
        target = InMemoryStore()
        seen: list[int] = []
        report = import_records(target, "opportunity", path, batch_size=7, progress=seen.append)
        assert report.written == 30
        assert seen == [7, 14, 21, 28, 30]
        assert list(target.opportunities.all()) == list(source.opportunities.all())
    source.close()


def test_import_of_an_existing_id_writes_nothing(tmp_path: Path) -> None:
    store = InMemoryStore()
    store.opportunities.add(make_opportunity(5))
    path = tmp_path / "o.jsonl"
    write_jsonl("opportunity", [make_opportunity(i) for i in range(10)], path)
    with pytest.raises(DuplicateError):
        import_records(store, "opportunity", path, batch_size=3)
    assert store.opportunities.count() == 1


def test_log_import_is_idempotent(tmp_path: Path) -> None:
    from pipeline_core.records import StageEvent

    events = [
        StageEvent(id=f"e{i}", opportunity_id="o", to_stage="new", at=T0, by="u") for i in range(5)
    ]
    path = tmp_path / "e.csv"
    write_csv("stage_event", events, path)
    store = InMemoryStore()
    assert import_records(store, "stage_event", path).written == 5
    assert import_records(store, "stage_event", path).written == 0
    assert store.stage_events.count() == 5


def test_unknown_kind_and_format() -> None:
    with pytest.raises(ValueError, match="unknown record kind"):
        csv_columns("widget")
    with pytest.raises(ValueError, match="format"):
        import_records(InMemoryStore(), "lead", io.StringIO(""))


def test_wrong_record_type_for_export() -> None:
    lead = Lead(id="l", created_at=T0, source="web")
    with pytest.raises(TypeError):
        write_jsonl("opportunity", [lead], io.StringIO())
    assert isinstance(make_opportunity(1), Opportunity)
