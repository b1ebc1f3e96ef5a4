"""map_rows: fields, defaults, blanks, owners, external ids; and the shipped GBK sample."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from importlib import resources

import pytest

from pipeline_core.errors import ConfigError
from pipeline_core.ingest import load_mapping, map_rows, read_rows, starter_mapping
from pipeline_core.ingest.mapping import Column, Owners, SheetMapping, loads_mapping
from pipeline_core.records import Lead, Money, Opportunity, User

CST = timezone(timedelta(hours=8))
# what a minimal lead mapping needs besides the columns a test is about (the required fields)
LEAD_NEEDS = {"id": "L1", "created_at": "2025-01-06 09:00", "source": "import"}
LEAD_AT = datetime(2025, 1, 6, 9, 0, tzinfo=CST)


def _lead(*columns: Column, **settings: object) -> SheetMapping:
    """A lead mapping of ``columns``, the required fields no column fills defaulted."""
    filled = {c.field for c in columns}
    needs = {k: v for k, v in LEAD_NEEDS.items() if k not in filled}
    defaults = {**needs, **settings.pop("defaults", {})}  # type: ignore[dict-item]
    return SheetMapping("lead", columns, defaults=defaults, timezone="Asia/Shanghai", **settings)  # type: ignore[arg-type]


USERS = (
    User(id="u-zhangwei", name="张伟", role="ae"),
    User(id="u-lina", name="李娜", role="ae", email="li.na@example.com"),
    User(id="u-wangfang", name="王芳", role="sdr"),
)


def _deals(**owners: object) -> SheetMapping:
    return SheetMapping(
        "opportunity",
        (
            Column("opportunity_id", "id"),
            Column("sales_agent", "owner_id"),
            Column("engage_date", "created_at"),
            Column("close_value", "expected_amount"),
        ),
        defaults={"stage": "prospecting", "name": "deal"},
        fallbacks={"stage_entered_at": ("engage_date",)},
        currency="USD",
        timezone="UTC",
        external_id="opportunity_id",
        owners=Owners(**owners),  # type: ignore[arg-type]
    )


def test_owner_names_with_spaces_match_users_and_missing_ones_are_planned() -> None:
    users = (
        User(id="u1", name="Moses  Frase", role="ae"),
        User(id="u2", name="Darcel Schlecht", role="ae"),
    )
    rows = [
        (
            2,
            {
                "opportunity_id": "D1",
                "sales_agent": "moses frase",
                "engage_date": "2016-10-20",
                "close_value": "1054",
            },
        ),
        (
            3,
            {
                "opportunity_id": "D2",
                "sales_agent": "Anna Snelling",
                "engage_date": "",
                "close_value": "",
            },
        ),
        (
            4,
            {
                "opportunity_id": "D3",
                "sales_agent": "anna  snelling",
                "engage_date": "",
                "close_value": "",
            },
        ),
    ]
    strict = list(map_rows(rows, _deals(), users=users))
    assert strict[0].problems[0].code == "no_time_of_day"  # a date-only value needs time_of_day
    # the owner; the blank engage date for created_at, then for stage_entered_at (its fallback)
    assert [p.code for p in strict[1].problems] == ["unknown_owner", "missing", "missing"]

    mapping = SheetMapping.from_dict(
        {**_deals(create_missing=True).to_dict(), "time_of_day": "00:00"}
    )
    run = map_rows(rows, mapping, users=users)
    mapped = list(run)
    assert mapped[0].ok and mapped[0].key == "D1"
    assert mapped[0].data == {
        "id": "D1",
        "owner_id": "u1",
        "created_at": datetime(2016, 10, 20, tzinfo=UTC),
        "expected_amount": Money.of("1054", "USD"),
        "stage": "prospecting",
        "name": "deal",
        "stage_entered_at": datetime(2016, 10, 20, tzinfo=UTC),
    }
    # "500 prospecting deals have no date at all": created_at is required, so the blank is named
    assert mapped[1].data is None
    assert [(p.path, p.code) for p in mapped[1].problems] == [(("engage_date",), "missing")] * 2
    assert run.new_users == (User(id="anna-snelling", name="Anna Snelling", role="ae"),)


def test_an_ambiguous_owner_name_is_a_row_problem() -> None:
    users = (*USERS, User(id="u-wangfang-2", name=" 王芳", role="ae"))
    mapping = _lead(Column("负责人", "owner_id"))
    (row,) = map_rows([(2, {"负责人": "王芳"})], mapping, users=users)
    assert row.problems[0].code == "ambiguous_owner"
    assert "u-wangfang, u-wangfang-2" in row.problems[0].message


def test_owner_by_id_email_or_name_only_as_declared() -> None:
    rows = [(2, {"o": "u-lina"}), (3, {"o": "LI.NA@example.com"}), (4, {"o": "李娜"})]
    by_name = _lead(Column("o", "owner_id"), owners=Owners(match=("name",)))
    assert [r.ok for r in map_rows(rows, by_name, users=USERS)] == [False, False, True]
    every = _lead(Column("o", "owner_id"))
    assert [r.data["owner_id"] for r in map_rows(rows, every, users=USERS) if r.data] == [
        "u-lina"
    ] * 3


def test_blanks_defaults_and_missing_texts() -> None:
    mapping = _lead(
        Column("来源", "source"),
        Column("公司", "company"),
        Column("标签", "tags"),
        defaults={"source": "import", "status": "working"},
        missing=("-", "无"),
    )
    (row,) = map_rows([(2, {"来源": " ", "公司": "-", "标签": ""})], mapping)
    assert row.data == {
        "source": "import",
        "company": None,
        "tags": (),
        "id": "L1",
        "created_at": LEAD_AT,
        "status": "working",
    }
    assert row.defaulted == {"source", "id", "created_at", "status"}


def test_blank_sources_without_a_default_are_named() -> None:
    mapping = _lead(Column("Lead Source", "source"))
    (row,) = map_rows([(7, {"Lead Source": float("nan")})], mapping)
    assert (row.row, row.problems[0].path, row.problems[0].missing) == (7, ("Lead Source",), True)


def test_a_bad_cell_names_column_value_and_reason() -> None:
    mapping = _lead(Column("预算", "budget"), currency="CNY")
    (row,) = map_rows([(9, {"预算": "1,234.5,6"})], mapping)
    (problem,) = row.problems
    assert (row.row, problem.path, problem.value, problem.code) == (
        9,
        ("预算",),
        "1,234.5,6",
        "ambiguous",
    )


def test_absent_columns_are_a_config_error() -> None:
    mapping = _lead(Column("a", "company"), Column("b", "phone"), external_id="k")
    with pytest.raises(ConfigError) as caught:
        list(map_rows([(2, {"a": "x"})], mapping))
    # the external-id column no column maps is named as the mapping's external_id
    assert {p.field for p in caught.value.problems} == {"columns.b", "external_id"}


def test_the_gbk_sample_maps_every_row() -> None:
    folder = resources.files("pipeline_core.ingest") / "samples"
    mapping = load_mapping(str(folder / "leads_gbk.toml"))
    with read_rows(str(folder / "leads_gbk.csv")) as source:
        assert (source.encoding, source.detected) == ("gb18030", True)
        rows = list(map_rows(source, mapping, users=USERS))
    assert len(rows) == 30
    assert [r.problems for r in rows if not r.ok] == []
    assert [r.row for r in rows] == list(range(2, 32))
    leads = [Lead.from_dict(r.data) for r in rows if r.data is not None]
    first, second, fourth, fifth, sixth = leads[0], leads[1], leads[3], leads[4], leads[5]
    # XS-2025001: "2025/3/21 9:01" Beijing time, "200,000", 决策人, 强, 1-3个月, owner 张伟
    assert first.created_at == datetime(2025, 3, 21, 1, 1, tzinfo=UTC)
    assert first.budget == Money.of("200000", "CNY")
    assert (first.authority, first.need, first.timeline) == (
        "decision_maker",
        "strong",
        "1_3_months",
    )
    assert first.owner_id == "u-zhangwei"
    assert first.tags == frozenset({"制造业", "重点客户"})
    assert first.custom == {"valid": True}
    # XS-2025002: "2025年3月21日" is date-only: 09:00 in Shanghai = 01:00 UTC; "￥150,000.00"
    assert second.created_at == datetime(2025, 3, 21, 9, 0, tzinfo=CST)
    assert second.budget == Money.of("150000.00", "CNY")
    assert second.owner_id == "u-lina"
    # XS-2025004: "1.2亿" = 120,000,000; owner given as li.na@example.com
    assert fourth.budget == Money.of("120000000", "CNY")
    assert fourth.owner_id == "u-lina"
    # XS-2025005: 来源 blank -> the declared default; owner given by id
    assert (fifth.source, fifth.owner_id) == ("import", "u-zhangwei")
    # XS-2025006: owner " 王芳 " with spaces around; "￥1,200.50"
    assert (sixth.owner_id, sixth.budget) == ("u-wangfang", Money.of("1200.50", "CNY"))
    assert leads[2].budget == Money.of("300000", "CNY")  # "30万"
    assert leads[9].budget is None  # XS-2025010: blank
    # the ten budgets repeat three times: 3 x 123,856,200.50
    total = sum((lead.budget.amount for lead in leads if lead.budget), Decimal(0))
    assert total == Decimal("371568601.50")
    assert [r.key for r in rows][:2] == ["XS-2025001", "XS-2025002"]


def test_starter_mapping_from_the_sample_headers_loads() -> None:
    folder = resources.files("pipeline_core.ingest") / "samples"
    with read_rows(str(folder / "leads_gbk.csv")) as source:
        headers = source.headers
    text = starter_mapping(headers, currency="CNY", timezone="Asia/Shanghai")
    assert '"预算(元)" = "budget"' in text
    assert '"决策周期" = "timeline"' in text
    assert '# "是否有效" = ""' in text
    mapping = loads_mapping(text, "toml")
    assert mapping.external_id == "线索编号"
    assert {c.field for c in mapping.columns} >= {"id", "created_at", "budget", "owner_id", "tags"}


def test_starter_mapping_in_english_and_for_deals() -> None:
    text = starter_mapping(
        [
            "opportunity_id",
            "sales_agent",
            "product",
            "account",
            "deal_stage",
            "engage_date",
            "close_date",
            "close_value",
        ],
        "opportunity",
    )
    mapping_lines = [
        line for line in text.splitlines() if " = " in line and not line.startswith("#")
    ]
    assert '"sales_agent" = "owner_id"' in mapping_lines
    assert '"deal_stage" = "stage"' in mapping_lines
    assert '"close_date" = "expected_close"' in mapping_lines
    assert '# currency = "CNY"  # needed: the currency of the money columns' in text
    assert '# "product" = ""  # no known field: name one or leave it out' in text
    assert isinstance(Opportunity, type)
