"""Writers for people's spreadsheets: CSV with a byte-order mark (Excel), Chinese headers, .xlsx.

Every expected value below is written out by hand from the layout in ``docs/storage.md``."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError, ValidationError
from pipeline_core.records import Lead, Money, NextStep
from pipeline_core.storage import InMemoryStore
from pipeline_core.storage.io import (
    LABELS_ZH,
    ImportRejectedError,
    csv_columns,
    export_records,
    import_records,
    kinds,
    read_csv,
    read_xlsx,
    write_csv,
    write_xlsx,
)
from pipeline_core.storage.io._xlsx import xml_text
from pipeline_core.testing import strategies as pcst

T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
LEAD_ZH_HEADER = (
    "编号,创建时间,来源,公司,联系人,电话,邮箱,行业,公司规模,地区,需求描述,痛点,意向,"
    "预算金额,预算币种,决策权,需求强度,决策周期,预计金额,预计金额币种,负责人,状态,"
    "下一步行动,下一步截止时间,关联客户,关联联系人,关联商机,无效原因,标签,版本,评级时间"
)


def _lead(**kw: Any) -> Lead:
    base: dict[str, Any] = {
        "id": "L1",
        "created_at": T0,
        "source": "referral",
        "company": "远航制造",
        "owner_id": "u1",
    }
    return Lead(**{**base, **kw})


def _store(*leads: Lead) -> InMemoryStore:
    store = InMemoryStore()
    store.leads.bulk_add(list(leads))
    return store


# --------------------------------------------------------------------------- CSV with a BOM


def test_bom_export_starts_with_the_utf8_mark_and_ends_lines_crlf(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    assert export_records(_store(_lead()), "lead", path, bom=True) == 1
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfid,created_at,source,company,")
    # 31 columns; the record row by hand: id, created_at, source, company, then empties,
    # status "new" (column 22), version 1 (column 30)
    row = "L1,2025-03-03T09:00:00Z,referral,远航制造," + "," * 16 + "u1,new,,,,,,,,1,"
    assert data.decode("utf-8-sig").split("\r\n") == [",".join(csv_columns("lead")), row, ""]
    assert data.count(b"\xef\xbb\xbf") == 1  # one mark, at the start only


def test_without_bom_the_file_starts_with_the_header(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    export_records(_store(_lead()), "lead", path)
    assert path.read_bytes().startswith(b"id,created_at,")


def test_a_bom_file_imports_back_from_a_path_and_from_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    export_records(_store(_lead(), _lead(id="L2", company="星河")), "lead", path, bom=True)
    back = InMemoryStore()
    assert import_records(back, "lead", path).written == 2
    assert back.leads.get("L2").company == "星河"
    stream = io.StringIO(path.read_bytes().decode("utf-8"), newline="")  # the mark kept as text
    assert stream.getvalue().startswith("\ufeffid,")
    again = InMemoryStore()
    assert import_records(again, "lead", stream, format="csv").written == 2
    assert again.leads.get("L1") == back.leads.get("L1") == _lead()


def test_bom_to_an_open_stream() -> None:
    buf = io.StringIO(newline="")
    write_csv("lead", [_lead()], buf, bom=True)
    assert buf.getvalue().startswith("\ufeffid,created_at,")


# --------------------------------------------------------------------------- headers in Chinese


def test_zh_headers_are_the_table_labels() -> None:
    buf = io.StringIO(newline="")
    write_csv("lead", [_lead()], buf, headers="zh")
    assert buf.getvalue().split("\r\n")[0] == LEAD_ZH_HEADER


def test_every_column_of_every_kind_has_one_zh_label_and_no_label_is_a_field_name() -> None:
    every = {c for k in kinds() for c in csv_columns(k)}
    assert every <= set(LABELS_ZH)
    labels = list(LABELS_ZH.values())
    assert len(labels) == len(set(labels))
    assert not set(labels) & every


def test_zh_headers_read_back_automatically_and_by_name(tmp_path: Path) -> None:
    lead = _lead(
        budget=Money(amount=Decimal("1200.50"), currency="CNY"),
        next_step=NextStep(action="回访", due_at=datetime(2025, 3, 5, 2, tzinfo=UTC)),
        tags=frozenset({"vip"}),
        custom={"等级": "A", "score": 7},
    )
    path = tmp_path / "线索.csv"
    export_records(_store(lead), "lead", path, headers="zh", bom=True)
    header = path.read_bytes().decode("utf-8-sig").split("\r\n")[0]
    assert header.endswith(",标签,自定义.score,自定义.等级,版本,评级时间")  # custom after tags
    for how in (None, "zh"):
        back = InMemoryStore()
        assert import_records(back, "lead", path, headers=how).written == 1
        assert back.leads.get("L1") == lead


def test_a_custom_label_mapping_round_trips_and_must_be_given_back() -> None:
    labels = {"company": "Firma", "created_at": "Angelegt", "custom.": "extra:"}
    buf = io.StringIO(newline="")
    write_csv("lead", [_lead(custom={"x": 1})], buf, headers=labels)
    head = buf.getvalue().split("\r\n")[0].split(",")
    assert head[:4] == ["id", "Angelegt", "source", "Firma"]
    assert head[-3:] == ["extra:x", "version", "graded_at"]
    buf.seek(0)
    [(row, record)] = list(read_csv("lead", buf, headers=labels))
    assert row == 2
    assert record == _lead(custom={"x": 1})
    buf.seek(0)
    with pytest.raises(ImportRejectedError) as info:
        list(read_csv("lead", buf))  # not a built-in language: unknown columns
    assert [(e.row, e.field) for e in info.value.errors] == [
        (1, "Angelegt"),
        (1, "Firma"),
        (1, "extra:x"),
    ]


def test_row_errors_name_the_column_as_the_file_writes_it() -> None:
    # 31 cells: 4 given, 17 empty, status (22nd) "new", 9 empty
    text = LEAD_ZH_HEADER + "\r\nL1,yesterday,referral,远航制造" + "," * 18 + "new" + "," * 9

    [(row, errors)] = list(read_csv("lead", io.StringIO(text, newline="")))
    assert row == 2
    assert isinstance(errors, list)
    assert [(e.field, e.value) for e in errors] == [("创建时间", "yesterday")]


def test_a_label_and_its_field_name_in_one_header_are_the_same_column_twice() -> None:
    text = "id,编号,created_at,source,company\r\n"
    with pytest.raises(ImportRejectedError) as info:
        list(read_csv("lead", io.StringIO(text, newline="")))
    [error] = info.value.errors
    assert (error.row, error.field, error.code) == (1, "编号", "duplicate_column")
    assert "'id' and '编号'" in error.message


@pytest.mark.parametrize(
    ("labels", "code"),
    [
        ({"company": "名称", "name": "名称"}, "duplicate_label"),
        ({"company": "source"}, "label_is_field"),
        ({"no_such_column": "x"}, "unknown"),
        ({"company": ""}, "invalid"),
    ],
)
def test_label_tables_that_read_back_two_ways_are_refused(
    labels: dict[str, str], code: str
) -> None:
    with pytest.raises(ConfigError) as info:
        write_csv("lead", [_lead()], io.StringIO(), headers=labels)
    assert code in [p.code for p in info.value.problems]


def test_an_unknown_language_is_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    with pytest.raises(ConfigError, match="a language of zh"):
        export_records(_store(_lead()), "lead", path, headers="fr")  # type: ignore[arg-type]
    assert not path.exists()


# --------------------------------------------------------------------------- round trips


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    leads=st.lists(pcst.leads(), max_size=5, unique_by=lambda lead: lead.id),
    bom=st.booleans(),
    zh=st.booleans(),
    safe=st.booleans(),
)
def test_csv_round_trip_with_bom_and_zh_headers(
    leads: list[Lead], bom: bool, zh: bool, safe: bool
) -> None:
    buf = io.StringIO(newline="")
    write_csv("lead", leads, buf, bom=bom, headers="zh" if zh else "fields", spreadsheet_safe=safe)
    buf.seek(0)
    back = [item for _, item in read_csv("lead", buf, spreadsheet_safe=safe)]
    assert back == leads


# --------------------------------------------------------------------------- xlsx


def _xlsx_lead() -> Lead:
    return _lead(
        company='=HYPERLINK("http://x.invalid")',
        budget=Money(amount=Decimal("1200.50"), currency="CNY"),
        expected_amount=Money(amount=Decimal("12345678901234567.89"), currency="CNY"),
        company_size=250,
        custom={"score": 7, "code": "42"},
    )


def test_xlsx_cells_are_typed_and_text_is_never_a_formula(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    path = tmp_path / "leads.xlsx"
    assert export_records(_store(_xlsx_lead()), "lead", path) == 1
    sheet = openpyxl.load_workbook(path).active
    assert sheet.title == "lead"
    head = [c.value for c in sheet[1]]
    assert head == csv_columns("lead", ["code", "score"])
    row = {h: (c.value, c.data_type) for h, c in zip(head, sheet[2], strict=True)}
    assert row["company"] == ('=HYPERLINK("http://x.invalid")', "s")
    assert row["created_at"] == ("2025-03-03T09:00:00Z", "s")  # ISO text, not an Excel date
    assert row["budget.amount"] == (1200.5, "n")  # the same amount, as a number
    # 19 significant digits: Excel would round it, so it stays text
    assert row["expected_amount.amount"] == ("12345678901234567.89", "s")
    assert row["company_size"] == (250, "n")
    assert row["version"] == (1, "n")
    assert row["custom.score"] == (7, "n")
    assert row["custom.code"] == ('"42"', "s")  # the text "42", as in CSV
    assert row["contact_name"][0] is None
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml


def test_xlsx_reads_back_through_ingest_read_rows(tmp_path: Path) -> None:
    from pipeline_core.ingest import read_rows

    path = tmp_path / "leads.xlsx"
    export_records(_store(_xlsx_lead()), "lead", path, headers="zh")
    with read_rows(path) as source:
        assert source.format == "xlsx"
        assert source.headers[:4] == ("编号", "创建时间", "来源", "公司")
        [(row, cells)] = list(source)
    assert row == 2
    assert cells["编号"] == "L1"
    assert cells["预算金额"] == 1200.5
    assert cells["公司规模"] == 250
    assert cells["自定义.score"] == 7


def test_xlsx_imports_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "leads.xlsx"
    export_records(_store(_xlsx_lead(), _lead(id="L2")), "lead", path, headers="zh")
    back = InMemoryStore()
    assert import_records(back, "lead", path).written == 2
    assert back.leads.get("L1") == _xlsx_lead()
    assert back.leads.get("L2") == _lead(id="L2")


def test_control_characters_round_trip_and_a_too_long_cell_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "leads.xlsx"
    odd = "a\x0bb\r\nc_x000D_d"  # a vertical tab, CRLF, and text that looks like an escape
    export_records(_store(_lead(needs=odd)), "lead", path)
    back = InMemoryStore()
    import_records(back, "lead", path)
    assert back.leads.get("L1").needs == odd
    path.unlink()
    store = _store(_lead(), _lead(id="L2", needs="x" * 32_768))
    with pytest.raises(ValidationError) as info:
        export_records(store, "lead", path)
    [problem] = info.value.problems
    assert (problem.path, problem.code) == ((3, "needs"), "xlsx_cell")
    assert "32,768 characters" in problem.message
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file left either


def test_an_excel_date_typed_by_a_person_is_a_row_error(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "created_at", "source", "company", "status"])
    sheet.append(["L1", datetime(2025, 3, 3, 9), "referral", "甲", "new"])
    sheet.append(["L2", "2025-03-03T09:00:00+08:00", "referral", "乙", "new"])
    path = tmp_path / "typed.xlsx"
    book.save(path)
    rows = list(read_xlsx("lead", path))
    assert [n for n, _ in rows] == [2, 3]
    errors = rows[0][1]
    assert isinstance(errors, list)
    assert [(e.row, e.field, e.code) for e in errors] == [(2, "created_at", "excel_datetime")]
    assert rows[1][1] == _lead(
        id="L2", company="乙", owner_id=None, created_at=datetime(2025, 3, 3, 1, tzinfo=UTC)
    )


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    leads=st.lists(pcst.leads(), max_size=4, unique_by=lambda lead: lead.id),
    zh=st.booleans(),
    safe=st.booleans(),
)
def test_xlsx_round_trip(leads: list[Lead], zh: bool, safe: bool) -> None:
    buf = io.BytesIO()
    write_xlsx("lead", leads, buf, headers="zh" if zh else "fields", spreadsheet_safe=safe)
    buf.seek(0)
    back = [item for _, item in read_xlsx("lead", buf, spreadsheet_safe=safe)]
    assert back == leads


@given(st.text(max_size=30))
def test_xml_text_leaves_no_control_character_or_cr(text: str) -> None:
    out = xml_text(text)
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\r]", out)
    assert xml_text("a\rb_x0041_") == "a_x000D_b_x005F_x0041_"
    assert xml_text(" \n") == "_x0020__x000A_"  # white space only: all escaped


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12),
        max_size=8,
    )
)
def test_any_text_reads_back_from_a_string_cell_exactly(texts: list[str]) -> None:
    # a custom text field carries any text but NUL (records refuse it)
    leads = [_lead(id=f"L{i}", custom={"t": t}) for i, t in enumerate(texts)]
    buf = io.BytesIO()
    write_xlsx("lead", leads, buf)
    buf.seek(0)
    assert [r for _, r in read_xlsx("lead", buf)] == leads
