"""Writers for people's spreadsheets: CSV with a byte-order mark (Excel), Chinese headers, .xlsx.

Every expected value below is written out by hand from the layout in ``docs/storage.md``."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError
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
    write_csv,
)
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
