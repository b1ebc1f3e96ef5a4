"""Review #19, fix 2: required fields nothing fills, and every mapping problem at once (schema
problems no longer hide the semantic checks). Expected problems worked out by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError
from pipeline_core.ingest import map_rows
from pipeline_core.ingest.mapping import Column, SheetMapping, loads_mapping
from pipeline_core.ingest.mapping_checks import salvage


def test_a_required_field_with_no_column_or_default_is_a_mapping_error() -> None:
    text = """
record = "lead"
timezone = "UTC"
external_id = "编号"
[columns]
"创建时间" = "created_at"
"""
    with pytest.raises(ConfigError) as caught:
        loads_mapping(text, "toml")
    # id: none needed (external_id declared); created_at: a column; source: nothing
    [problem] = caught.value.problems
    assert (problem.field, problem.code, problem.value) == ("source", "missing", None)
    assert str(caught.value).endswith("source: required, no column or default")


def test_id_is_needed_without_an_external_id() -> None:
    with pytest.raises(ConfigError) as caught:
        SheetMapping("lead", (Column("s", "source"), Column("t", "created_at")), timezone="UTC")
    assert [(p.field, p.code) for p in caught.value.problems] == [("id", "missing")]


def test_an_opportunity_needs_its_stage_entered_at() -> None:
    with pytest.raises(ConfigError) as caught:
        SheetMapping(
            "opportunity",
            (Column("id", "id"), Column("n", "name"), Column("o", "owner_id")),
            defaults={"stage": "new", "created_at": "2025-01-01T00:00:00Z"},
            timezone="UTC",
        )
    assert [p.field for p in caught.value.problems] == ["stage_entered_at"]


BAD = """
record = "lead"
currency = "CNY"
timezone = "Asia/Shangai"
backfill = "maybe"
colour = "red"
[columns]
id = "id"
created = { field = "created_at", parse = "money" }
budget = "budgt"
src = "source"
[defaults]
status = "weird"
"""


def test_schema_problems_do_not_hide_the_semantic_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        loads_mapping(BAD, "toml")
    got = {(p.field, p.code) for p in caught.value.problems}
    assert got == {
        ("backfill", "bool_parsing"),
        ("colour", "extra_forbidden"),
        ("timezone", "timezone"),
        ("columns.budget.field", "unknown_field"),
        ("columns.created.parse", "parse_kind"),
        ("defaults.status", "not_allowed"),
    }


def test_a_semantic_problem_where_a_schema_problem_is_is_listed_once() -> None:
    # the column's parse kind is not a kind at all: the schema problem only, not also parse_kind
    text = 'record = "lead"\nexternal_id = "k"\n[columns]\ns = "source"\nt = { field = "created_at", parse = "moneyy" }\n'
    with pytest.raises(ConfigError) as caught:
        loads_mapping(text, "toml")
    fields = [p.field for p in caught.value.problems]
    assert fields.count("columns.t.parse") == 1
    # created_at has its column, parse aside: the zone it needs is still asked for
    assert "timezone" in fields


def test_an_absent_external_id_column_is_named_under_external_id() -> None:
    mapping = SheetMapping(
        "lead",
        (Column("s", "source"), Column("t", "created_at")),
        timezone="UTC",
        external_id="nope",
    )
    with pytest.raises(ConfigError) as caught:
        list(map_rows([(2, {"s": "web", "t": "2025-01-01T00:00:00Z"})], mapping))
    [problem] = caught.value.problems
    assert (problem.field, problem.value, problem.code) == ("external_id", "nope", "absent_column")


@given(st.lists(st.sampled_from(["a", "b", "c"]), unique=True))
def test_salvage_drops_the_keys_problems_point_at_and_leaves_the_input(bad: list[str]) -> None:
    from pipeline_core.errors import Problem

    data = {"a": 1, "b": {"x": 2}, "c": [3, 4], "keep": 5}
    problems = [Problem((k,), "bad", None, "x") for k in bad]
    out = salvage(data, problems)
    assert data == {"a": 1, "b": {"x": 2}, "c": [3, 4], "keep": 5}
    assert set(out) == {"a", "b", "c", "keep"} - set(bad)
    # a list item path drops that item only; a path beyond the data drops its deepest part
    assert salvage(data, [Problem(("c", 0), "bad", None, "x")])["c"] == [4]
    assert salvage(data, [Problem(("b", "x", "y"), "bad", None, "x")])["b"] == {}
