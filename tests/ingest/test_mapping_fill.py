"""Fallback columns, conditional defaults, the import instant and slug ids (issue #19).

Every expected value is worked out by hand from the rows written here (no dataset is read)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError
from pipeline_core.ingest import map_rows
from pipeline_core.ingest.mapping import (
    IMPORT_INSTANT,
    Column,
    DefaultsWhen,
    SheetMapping,
    loads_mapping,
)
from pipeline_core.ingest.parsers import ParseError, slug
from pipeline_core.records import User

AS_OF = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
BRT = timezone(timedelta(hours=-3))  # São Paulo after DST ended on 2018-02-18

MAVEN = """
record = "opportunity"
timezone = "UTC"
time_of_day = "00:00"
external_id = "opportunity_id"

[columns]
"opportunity_id" = "id"
"sales_agent" = "owner_id"
"product" = "name"
"deal_stage" = { field = "stage", aliases = { "Prospecting" = "first_contact", "Engaging" = "needs_confirmed", "Won" = "won", "Lost" = "lost" } }
"engage_date" = "created_at"
"close_date" = "stage_entered_at"

[fallbacks]
stage_entered_at = ["engage_date"]

[defaults]
created_at = "@import"
stage_entered_at = "@import"

[[defaults_when]]
when = { deal_stage = "Lost" }
defaults = { lost_reason = "not given" }

[owners]
match = ["name"]
"""
AGENTS = (User(id="moses-frase", name="Moses Frase", role="ae"),)


def _row(stage: str, engage: str, close: str) -> dict[str, str]:
    return {
        "opportunity_id": "D" + stage[0],
        "sales_agent": "Moses Frase",
        "product": "GTX Basic",
        "deal_stage": stage,
        "engage_date": engage,
        "close_date": close,
    }


def test_maven_deals_take_the_close_date_else_the_engage_date_else_the_import_instant() -> None:
    mapping = loads_mapping(MAVEN, "toml")
    rows = [
        (2, _row("Won", "2016-10-20", "2017-03-01")),
        (3, _row("Engaging", "2016-10-25", "")),
        (4, _row("Prospecting", "", "")),
        (5, _row("Lost", "2016-11-02", "2017-01-15")),
    ]
    out = list(map_rows(rows, mapping, users=AGENTS, as_of=AS_OF))
    assert [r.problems for r in out] == [()] * 4
    won, engaging, prospecting, lost = (r.data for r in out)
    assert won is not None and engaging is not None and prospecting is not None
    assert lost is not None
    assert won["stage_entered_at"] == datetime(2017, 3, 1, tzinfo=UTC)
    assert won["created_at"] == datetime(2016, 10, 20, tzinfo=UTC)
    assert engaging["stage_entered_at"] == datetime(2016, 10, 25, tzinfo=UTC)
    assert prospecting["stage_entered_at"] == AS_OF
    assert prospecting["created_at"] == AS_OF
    # the lost reason fills the lost deal only
    assert lost["lost_reason"] == "not given"
    assert "lost_reason" not in won and "lost_reason" not in engaging
    assert "lost_reason" not in prospecting
    assert lost["owner_id"] == "moses-frase"


def test_one_column_fills_two_fields() -> None:
    mapping = SheetMapping(
        "opportunity",
        (
            Column("mql_id", "id"),
            Column("sr_id", "owner_id"),
            Column("won_date", "stage_entered_at"),
        ),
        defaults={"name": "Olist seller", "stage": "won"},
        timezone="America/Sao_Paulo",
        fallbacks={"created_at": ("won_date",)},
    )
    [row] = map_rows(
        [(2, {"mql_id": "m1", "sr_id": "u1", "won_date": "2018-02-26 19:58"})],
        mapping,
        users=[User(id="u1", name="Rep", role="ae")],
    )
    assert row.data is not None
    # 19:58 in São Paulo (UTC-3 from 2018-02-18) is 22:58 UTC
    assert row.data["created_at"] == datetime(2018, 2, 26, 22, 58, tzinfo=UTC)
    assert row.data["stage_entered_at"] == datetime(2018, 2, 26, 19, 58, tzinfo=BRT)
    assert mapping.owned_fields == (
        "id",
        "owner_id",
        "stage_entered_at",
        "created_at",
        "name",
        "stage",
    )


def test_a_required_field_nothing_fills_is_a_row_problem_naming_its_columns() -> None:
    mapping = SheetMapping(
        "opportunity",
        (Column("id", "id"), Column("owner", "owner_id"), Column("won", "stage_entered_at")),
        defaults={"name": "n", "stage": "won"},
        timezone="UTC",
        fallbacks={"created_at": ("won", "engaged")},
    )
    [row] = map_rows(
        [(7, {"id": "a", "owner": "u1", "won": "", "engaged": " "})],
        mapping,
        users=[User(id="u1", name="U", role="ae")],
    )
    assert row.data is None
    # both problems name the column "won": created_at's first fallback, stage_entered_at's own
    assert [(p.field, p.code) for p in row.problems] == [("won", "missing"), ("won", "missing")]
    first, second = (p.message for p in row.problems)
    assert first.startswith("stage_entered_at is required: the cell is blank")
    assert second == (
        "created_at is required: its columns (won, engaged) are blank and no default applies "
        "to the row"
    )


def test_a_refused_fallback_cell_names_the_fallback_column() -> None:
    mapping = SheetMapping(
        "lead",
        (Column("id", "id"), Column("created", "created_at")),
        defaults={"source": "import"},
        timezone="UTC",
        fallbacks={"created_at": ("first_seen",)},
    )
    [row] = map_rows([(3, {"id": "L1", "created": "", "first_seen": "soon"})], mapping)
    assert row.data is None
    [problem] = row.problems
    assert (problem.field, problem.value) == ("first_seen", "soon")


def test_missing_texts_count_as_blank_for_fallbacks_and_owner_fallbacks_match_users() -> None:
    mapping = SheetMapping(
        "lead",
        (Column("id", "id"), Column("owner", "owner_id")),
        defaults={"created_at": "2019-01-01", "source": "import"},
        timezone="UTC",
        time_of_day=time(0, 0),
        missing=("Select",),
        fallbacks={"owner_id": ("backup owner",)},
    )
    users = [User(id="u-ana", name="Ana Lima", role="ae")]
    [row] = map_rows(
        [(2, {"id": "L1", "owner": "Select", "backup owner": "ana  lima"})], mapping, users=users
    )
    assert row.data is not None
    assert row.data["owner_id"] == "u-ana"


def test_users_from_a_names_only_sheet() -> None:
    mapping = loads_mapping(
        """
        record = "user"
        [columns]
        "sales_agent" = { field = "id", parse = "slug" }
        "regional_office" = { field = "team_id", parse = "slug" }
        [fallbacks]
        name = ["sales_agent"]
        [defaults]
        role = "ae"
        """,
        "toml",
    )
    [row] = map_rows(
        [(2, {"sales_agent": " Anna  Snelling", "regional_office": "Central"})], mapping
    )
    assert row.data == {
        "id": "anna-snelling",
        "name": "Anna  Snelling",
        "team_id": "central",
        "role": "ae",
    }
    assert User.from_dict(dict(row.data)).name == "Anna  Snelling"


def test_the_import_instant_is_given_never_read_from_a_clock() -> None:
    mapping = SheetMapping(
        "lead",
        (Column("id", "id"),),
        defaults={"created_at": IMPORT_INSTANT, "source": "web"},
        timezone="UTC",
    )
    assert mapping.uses_import_instant
    with pytest.raises(ConfigError, match="as_of"):
        map_rows([], mapping)
    with pytest.raises(ConfigError, match="UTC offset"):
        map_rows([], mapping, as_of=datetime(2025, 3, 1, 9, 30))
    [row] = map_rows([(2, {"id": "L1"})], mapping, as_of=AS_OF)
    assert row.data == {"id": "L1", "created_at": AS_OF, "source": "web"}


def test_every_problem_of_the_new_sections_is_listed() -> None:
    with pytest.raises(ConfigError) as caught:
        SheetMapping.from_dict(
            {
                "record": "opportunity",
                "timezone": "UTC",
                "columns": {"close": "stage_entered_at"},
                "fallbacks": {"stage_entered_at": ["close", "engage", "engage"], "nope": ["x"]},
                "defaults": {"name": "@import"},
                "defaults_when": [{"when": {}, "defaults": {"lost_reason": "r", "bogus": 1}}],
            }
        )
    got = {(p.field, p.code) for p in caught.value.problems}
    assert got == {
        ("fallbacks.stage_entered_at[0]", "duplicate_header"),
        ("fallbacks.stage_entered_at[2]", "duplicate_header"),
        ("fallbacks.nope", "unknown_field"),
        ("defaults.name", "import_instant"),
        ("defaults_when[0].when", "empty"),
        ("defaults_when[0].defaults.bogus", "unknown_field"),
        # an opportunity's required fields nothing fills (name has a default, if a bad one)
        ("id", "missing"),
        ("created_at", "missing"),
        ("owner_id", "missing"),
        ("stage", "missing"),
    }


def test_fallback_and_condition_columns_must_be_in_the_source() -> None:
    mapping = SheetMapping(
        "lead",
        (Column("id", "id"),),
        timezone="UTC",
        fallbacks={"created_at": ("first_seen",)},
        defaults_when=(DefaultsWhen({"kind": "web"}, {"source": "website"}),),
    )
    with pytest.raises(ConfigError) as caught:
        next(map_rows([(2, {"id": "L1"})], mapping))
    assert {p.value for p in caught.value.problems} == {"first_seen", "kind"}


def test_the_first_matching_condition_wins_over_plain_defaults() -> None:
    mapping = SheetMapping(
        "lead",
        (Column("id", "id"), Column("src", "source")),
        defaults={"source": "import", "created_at": "2020-01-01T00:00:00+00:00"},
        timezone="UTC",
        defaults_when=(
            DefaultsWhen({"kind": "web", "lang": "en"}, {"source": "website"}),
            DefaultsWhen({"kind": "web"}, {"source": "web_other"}),
        ),
    )
    rows = [
        (2, {"id": "a", "src": "", "kind": "web", "lang": "en"}),
        (3, {"id": "b", "src": "", "kind": " web ", "lang": "pt"}),
        (4, {"id": "c", "src": "", "kind": "fair", "lang": "en"}),
        (5, {"id": "d", "src": "event", "kind": "web", "lang": "en"}),
    ]
    got = [r.data["source"] for r in map_rows(rows, mapping) if r.data is not None]
    assert got == ["website", "web_other", "import", "event"]


def test_the_cli_import_gives_its_as_of_to_import_defaults(tmp_path: Path) -> None:
    from pipeline_core import storage
    from pipeline_core.cli import main

    (tmp_path / "deals.csv").write_text(
        "opportunity_id,sales_agent,product,deal_stage,engage_date,close_date\n"
        "D1,Moses Frase,GTX Basic,Prospecting,,\n"
        "D2,Moses Frase,GTX Basic,Engaging,2016-10-25,\n",
        encoding="utf-8",
    )
    (tmp_path / "m.toml").write_text(MAVEN, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    args = ["import", "opportunity", str(tmp_path / "deals.csv"), "--mapping",
            str(tmp_path / "m.toml"), "--store", url, "--create-users",
            "--as-of", "2025-03-01T09:30:00+00:00"]  # fmt: skip
    assert main(args) == 0
    with storage.open(url) as store:
        deals = {d.custom["external_id:opportunity_id"]: d for d in store.opportunities.all()}
    assert deals["D1"].stage_entered_at == AS_OF
    assert deals["D1"].created_at == AS_OF
    assert deals["D2"].stage_entered_at == datetime(2016, 10, 25, tzinfo=UTC)


@given(
    cells=st.lists(st.sampled_from(["", "  ", "Select", "d"]), min_size=3, max_size=3),
    days=st.lists(st.integers(1, 28), min_size=3, max_size=3),
)
def test_the_first_non_blank_of_column_then_fallbacks_then_default(
    cells: list[str], days: list[int]
) -> None:
    mapping = SheetMapping(
        "lead",
        (Column("id", "id"), Column("a", "created_at")),
        defaults={"created_at": "2020-01-01", "source": "import"},
        timezone="UTC",
        time_of_day=time(0, 0),
        missing=("Select",),
        fallbacks={"created_at": ("b", "c")},
    )
    row: dict[str, Any] = {"id": "L"}
    for header, cell, day in zip("abc", cells, days, strict=True):
        row[header] = f"2021-05-{day:02d}" if cell == "d" else cell
    # by hand: the first header whose cell is a date gives it, else the default
    expected = date(2020, 1, 1)
    for cell, day in zip(cells, days, strict=True):
        if cell == "d":
            expected = date(2021, 5, day)
            break
    [out] = map_rows([(2, row)], mapping)
    assert out.data is not None
    assert out.data["created_at"] == datetime(
        expected.year, expected.month, expected.day, tzinfo=UTC
    )


@given(st.lists(st.sampled_from(["Ana", "lima", "ÉLISE", "Ｏｌｉ", " ", "\t", "7"]), min_size=1))
def test_slug_is_the_words_casefolded_and_joined_by_dashes(parts: list[str]) -> None:
    text = "".join(parts)
    words = [
        {"Ana": "ana", "lima": "lima", "ÉLISE": "élise", "Ｏｌｉ": "oli", "7": "7"}[p]
        for p in parts
        if p.strip()
    ]
    # consecutive word parts run together (no space between them in the text)
    expected, joined = [], ""
    for p in parts:
        if p.strip():
            joined += {"Ana": "ana", "lima": "lima", "ÉLISE": "élise", "Ｏｌｉ": "oli", "7": "7"}[p]
        elif joined:
            expected.append(joined)
            joined = ""
    if joined:
        expected.append(joined)
    if not words:
        with pytest.raises(ParseError):
            slug(text)
    else:
        assert slug(text) == "-".join(expected)


def test_slug_refuses_what_has_no_letters() -> None:
    for bad in ("", "  ", "--", 3):
        with pytest.raises(ParseError):
            slug(bad)
    assert slug("Moses Frase") == "moses-frase"


@given(
    fallback=st.lists(st.sampled_from(["won", "engaged", "closed"]), min_size=1, unique=True),
    stage=st.sampled_from(["Lost", "Won"]),
)
def test_round_trip_of_the_new_sections(fallback: list[str], stage: str) -> None:
    m = SheetMapping(
        "opportunity",
        (Column("id", "id"), Column("rep", "owner_id"), Column("product", "name")),
        timezone="UTC",
        fallbacks={"created_at": tuple(fallback)},
        defaults={"stage_entered_at": IMPORT_INSTANT, "stage": "new"},
        defaults_when=(DefaultsWhen({"deal_stage": stage}, {"lost_reason": "r"}),),
    )
    assert SheetMapping.from_dict(m.to_dict()) == m
