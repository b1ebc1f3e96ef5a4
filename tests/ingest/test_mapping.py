"""SheetMapping: loaded from TOML, JSON and YAML alike; every problem listed at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError
from pipeline_core.ingest.mapping import Column, SheetMapping, load_mapping, loads_mapping

TOML = """
record = "lead"
currency = "CNY"
timezone = "Asia/Shanghai"
time_of_day = "09:00"
external_id = "线索编号"

[columns]
"线索编号" = "id"
"创建时间" = { field = "created_at", excel_serial = true }
"决策权" = { field = "authority", aliases = { "决策人" = "decision_maker" } }

[defaults]
source = "import"
"""

PLAIN = {
    "record": "lead",
    "currency": "CNY",
    "timezone": "Asia/Shanghai",
    "time_of_day": "09:00",
    "external_id": "线索编号",
    "columns": {
        "线索编号": "id",
        "创建时间": {"field": "created_at", "excel_serial": True},
        "决策权": {"field": "authority", "aliases": {"决策人": "decision_maker"}},
    },
    "defaults": {"source": "import"},
}


def test_the_three_formats_give_one_mapping(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    (tmp_path / "m.toml").write_text(TOML, encoding="utf-8")
    (tmp_path / "m.json").write_text(json.dumps(PLAIN, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "m.yaml").write_text(
        yaml.safe_dump(PLAIN, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    loaded = [load_mapping(tmp_path / f"m.{ext}") for ext in ("toml", "json", "yaml")]
    assert loaded[0] == loaded[1] == loaded[2]
    m = loaded[0]
    assert m.columns[1] == Column("创建时间", "created_at", excel_serial=True)
    assert m.owned_fields == ("id", "created_at", "authority", "source")
    assert m.to_dict() == PLAIN


def test_every_problem_is_listed_at_once() -> None:
    bad = """
record = "lead"
[columns]
"a" = "nope"
"b" = { field = "authority", aliases = { "x" = "boss" } }
"c" = { field = "budget", parse = "instant" }
"d" = "budget"
"e" = "created_at"
"f" = "company"
"g" = "company"
"h" = "next_step"
[defaults]
status = "weird"
missing_field = "x"
"""
    with pytest.raises(ConfigError) as caught:
        loads_mapping(bad, "toml")
    found = {(p.field, p.code) for p in caught.value.problems}
    assert found == {
        ("columns.a.field", "unknown_field"),
        ("columns.b.aliases.x", "alias_value"),
        ("columns.c.parse", "parse_kind"),
        ("columns.d.field", "duplicate_field"),
        ("columns.g.field", "duplicate_field"),
        ("columns.h.field", "nested_field"),
        ("currency", "missing"),
        ("timezone", "missing"),
        ("defaults.status", "not_allowed"),
        ("defaults.missing_field", "unknown_field"),
        # a lead's required fields nothing fills (created_at has column "e")
        ("id", "missing"),
        ("source", "missing"),
    }


def test_schema_problems_name_the_column_header() -> None:
    with pytest.raises(ConfigError) as caught:
        SheetMapping.from_dict(
            {"record": "lead", "bogus": 1, "columns": {"线索编号": 3, "b": {"field": "id", "x": 1}}}
        )
    fields = {p.field for p in caught.value.problems}
    assert {"bogus", "columns.线索编号.field", "columns.b.x"} <= fields


def test_syntax_errors_and_unknown_suffix() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        loads_mapping("record = ", "toml")
    with pytest.raises(ConfigError, match="twice"):
        loads_mapping('{"record": "lead", "record": "user"}', "json")
    with pytest.raises(ConfigError, match=r"\.toml, \.json"):
        load_mapping("mapping.ini")


def test_unknown_zone_and_currency() -> None:
    with pytest.raises(ConfigError) as caught:
        SheetMapping.from_dict(
            {
                "record": "lead",
                "currency": "YUAN",
                "timezone": "Asia/Beijing",
                "columns": {"x": "budget"},
            }
        )
    # and the lead's required fields, none filled
    assert {p.field for p in caught.value.problems} == {
        "currency",
        "timezone",
        "id",
        "created_at",
        "source",
    }


def test_json_schema_has_the_header_keyed_columns() -> None:
    schema = SheetMapping.json_schema()
    columns = schema["properties"]["columns"]
    assert columns["type"] == "object"
    assert "header" not in schema["$defs"]["ColumnSpec"]["properties"]


@given(
    fields=st.lists(
        st.sampled_from(["id", "company", "phone", "email", "region", "needs"]), unique=True
    ),
    backfill=st.booleans(),
)
def test_round_trip(fields: list[str], backfill: bool) -> None:
    needed = (Column("来源", "source"), Column("时间", "created_at"))
    m = SheetMapping(
        "lead",
        (*needed, *(Column(f"列{i}", f) for i, f in enumerate(fields))),
        backfill=backfill,
        timezone="UTC",
        external_id="编号",
    )
    assert SheetMapping.from_dict(m.to_dict()) == m
