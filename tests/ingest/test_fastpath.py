"""The fast paths of the ingest (remembered cell readings, skipped lookups, buffered reports) give
what the plain paths give. Expected values are worked out by hand."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core.ingest import MappedRow, RowOutcome, map_rows, sync
from pipeline_core.ingest.mapping import Column, Owners, SheetMapping
from pipeline_core.ingest.report import CsvReportWriter
from pipeline_core.records import Lead, Money, User
from pipeline_core.storage import InMemoryStore, SQLiteStore

CST = timezone(timedelta(hours=8))
AT = datetime(2025, 3, 1, 10, 0, tzinfo=CST)
USERS = (
    User(id="u-zhangwei", name="张伟", role="ae"),
    User(id="u-lina", name="李娜", role="ae", email="li.na@example.com"),
)
LEADS = SheetMapping(
    "lead",
    (
        Column("编号", "id"),
        Column("创建时间", "created_at"),
        Column("来源", "source", aliases={"官网": "website"}),
        Column("预算", "budget"),
        Column("需求", "need", aliases={"强": "strong", "弱": "weak"}),
        Column("负责人", "owner_id"),
        Column("标签", "tags"),
        Column("有效", "custom.valid", parse="bool"),
    ),
    defaults={"source": "import"},
    currency="CNY",
    timezone="Asia/Shanghai",
    time_of_day=datetime(2025, 1, 1, 9).time(),
    external_id="编号",
    missing=("-",),
)

# Small pools of messy texts (good and bad), so that a sheet repeats them.
POOLS: Mapping[str, tuple[Any, ...]] = {
    "创建时间": ("2025/3/21 9:01", "2025年3月21日", " 2025-03-22 14:30 ", "21/03/2025", "x", ""),
    "来源": ("官网", " 官网", "event", "", "-"),
    "预算": ("￥1,200.50", "30万", "1,23", "1.234", " 200,000 ", "", 5, 1.5),
    "需求": ("强", "弱", "中", "strong", ""),
    "负责人": ("张伟", "li.na@example.com", " 李娜 ", "nobody", ""),
    "标签": ("a、b", "SaaS,试用中", "", "x;;y"),
    "有效": ("是", "否", "maybe", ""),
}


def _cells(i: int, picks: dict[str, Any]) -> dict[str, Any]:
    return {"编号": f"XS-{i}", **dict.fromkeys(POOLS, ""), **picks}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({k: st.sampled_from(v) for k, v in POOLS.items()}),
        min_size=1,
        max_size=25,
    )
)
def test_remembered_readings_equal_fresh_ones(sheet: list[dict[str, Any]]) -> None:
    """Each row mapped in one stream (caches warm) is the row mapped alone (caches cold)."""
    rows = [(i + 2, _cells(i, picks)) for i, picks in enumerate(sheet)]
    streamed = list(map_rows(rows, LEADS, users=USERS))
    alone = [next(map_rows([row], LEADS, users=USERS)) for row in rows]
    assert streamed == alone


def test_a_repeated_amount_and_a_repeated_refusal() -> None:
    rows = [
        (2, _cells(1, {"创建时间": "2025/3/21 9:01", "预算": "30万", "需求": "强"})),
        (3, _cells(2, {"创建时间": "2025/3/21 9:01", "预算": "30万", "需求": "强"})),
        (4, _cells(3, {"创建时间": "2025/3/21 9:01", "预算": "1,23", "需求": "强"})),
        (5, _cells(4, {"创建时间": "2025/3/21 9:01", "预算": "1,23", "需求": "强"})),
    ]
    out = list(map_rows(rows, LEADS, users=USERS))
    # 30万 = 30 × 10,000 yuan; 9:01 Beijing time is 01:01 UTC.
    for row in out[:2]:
        assert row.data is not None
        assert row.data["budget"] == Money.of(300_000, "CNY")
        assert row.data["created_at"] == datetime(2025, 3, 21, 1, 1, tzinfo=UTC)
        assert row.data["need"] == "strong"
    # "1,23": a comma not grouping three digits is refused every time it appears.
    for row in out[2:]:
        assert row.data is None
        assert [(p.path, p.value, p.code) for p in row.problems] == [
            (("预算",), "1,23", "ambiguous")
        ]


def test_a_planned_owner_changes_what_a_text_matched_before() -> None:
    """ "bob-2" names user u1 (by name) until a user with id "bob-2" is planned for "Bob 2";
    from then on it names two users."""
    mapping = SheetMapping(
        "lead",
        (Column("id", "id"), Column("owner", "owner_id")),
        defaults={"source": "import", "created_at": "2025-03-01 09:00"},
        timezone="Asia/Shanghai",
        owners=Owners(create_missing=True),
    )
    users = (User(id="u1", name="Bob-2", role="ae"),)
    rows = [(2, {"id": "L1", "owner": "bob-2"}), (3, {"id": "L2", "owner": "Bob 2"})]
    rows.append((4, {"id": "L3", "owner": "bob-2"}))
    mapped = map_rows(rows, mapping, users=users)
    first, second, third = list(mapped)
    assert first.data is not None and first.data["owner_id"] == "u1"
    assert second.data is not None and second.data["owner_id"] == "bob-2"
    assert [u.id for u in mapped.new_users] == ["bob-2"]
    assert third.data is None
    assert [p.code for p in third.problems] == ["ambiguous_owner"]


def _lead(row: int, id: str, company: str) -> MappedRow:
    return MappedRow(row, {"id": id, "created_at": AT, "source": "website", "company": company})


def test_stored_ids_are_still_looked_up(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db") as store:
        store.leads.add(Lead(id="L1", created_at=AT, source="website", company="Old"))
        report = sync(
            store, "lead", [_lead(2, "L1", "New"), _lead(3, "L2", "Other")], by="me", at=AT
        )
        assert (report.added, report.updated, report.unchanged) == (1, 1, 0)
        assert store.leads.get("L1").company == "New"
        assert store.leads.get("L1").version == 2


def test_an_empty_store_still_refuses_an_id_no_store_can_hold() -> None:
    report = sync(
        InMemoryStore(),
        "lead",
        [_lead(2, "L\x00", "NUL"), _lead(3, "L2", "Fine")],
        by="me",
        at=AT,
        skip_invalid=True,
    )
    assert (report.added, report.rejected) == (1, 1)
    assert [(e.row, e.field, e.code) for e in report.errors] == [(2, "id", "nul_character")]


def test_csv_report_cells(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    writer = CsvReportWriter(path)
    writer.write(RowOutcome(3, "rejected", None, "budget", Decimal("1.50"), "=bad"))
    writer.write(RowOutcome(4, "added", "L4"))
    writer.write(RowOutcome(5, "updated", "L5", "company", 7, "version 2"))
    writer.finish()
    assert path.read_bytes().decode("utf-8") == (
        "row,outcome,id,field,value,reason\r\n"
        "3,rejected,,budget,1.50,'=bad\r\n"
        "4,added,L4,,,\r\n"
        "5,updated,L5,company,7,version 2\r\n"
    )
