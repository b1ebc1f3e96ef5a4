"""Review #19, fix 2: a value a default filled (``[defaults]``, ``"@import"``) is used when a
record is added only; re-running with a later ``as_of`` leaves stored records unchanged.

Expected values worked out by hand from the rows written here."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.ingest import map_rows, sync
from pipeline_core.ingest.mapping import loads_mapping
from pipeline_core.ingest.rows import defaulted_fields
from pipeline_core.records import User
from pipeline_core.storage import InMemoryStore

RUN1 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
RUN2 = datetime(2025, 4, 2, 8, 0, tzinfo=UTC)
AGENTS = (User(id="moses-frase", name="Moses Frase", role="ae"),)

DEALS = """
record = "opportunity"
timezone = "UTC"
time_of_day = "00:00"
external_id = "opportunity_id"

[columns]
"opportunity_id" = "id"
"sales_agent" = "owner_id"
"product" = "name"
"deal_stage" = { field = "stage", aliases = { "Prospecting" = "first_contact", "Won" = "won" } }
"engage_date" = "created_at"
"close_date" = "stage_entered_at"

[fallbacks]
stage_entered_at = ["engage_date"]

[defaults]
created_at = "@import"
stage_entered_at = "@import"
"custom.batch" = "first"

[owners]
match = ["name"]
"""


def _rows() -> list[tuple[int, dict[str, str]]]:
    base = {"sales_agent": "Moses Frase", "product": "GTX Basic"}
    return [
        (2, {**base, "opportunity_id": "D1", "deal_stage": "Prospecting",
             "engage_date": "", "close_date": ""}),
        (3, {**base, "opportunity_id": "D2", "deal_stage": "Won",
             "engage_date": "2016-10-20", "close_date": "2017-03-01"}),
    ]  # fmt: skip


def test_the_mapped_row_names_the_fields_a_default_filled() -> None:
    mapping = loads_mapping(DEALS, "toml")
    d1, d2 = map_rows(_rows(), mapping, users=AGENTS, as_of=RUN1)
    # D1: engage and close blank -> created_at, stage_entered_at from @import; custom.batch too
    assert d1.defaulted == {"created_at", "stage_entered_at", "custom.batch"}
    assert d1.data is not None and d1.data["created_at"] == RUN1
    # D2: both dates from cells; only the custom default
    assert d2.defaulted == {"custom.batch"}


def test_a_second_run_with_a_later_as_of_is_all_unchanged() -> None:
    mapping = loads_mapping(DEALS, "toml")
    store = InMemoryStore()
    store.users.add(AGENTS[0])
    first = sync(store, "opportunity", map_rows(_rows(), mapping, users=AGENTS, as_of=RUN1),
                 external_id="opportunity_id", by="importer", at=RUN1)  # fmt: skip
    assert (first.added, first.updated, first.unchanged, first.rejected) == (2, 0, 0, 0)
    second = sync(store, "opportunity", map_rows(_rows(), mapping, users=AGENTS, as_of=RUN2),
                  external_id="opportunity_id", by="importer", at=RUN2)  # fmt: skip
    assert (second.added, second.updated, second.unchanged, second.rejected) == (0, 0, 2, 0)
    d1 = store.opportunities.get("D1")
    assert (d1.created_at, d1.stage_entered_at, d1.version) == (RUN1, RUN1, 1)
    assert d1.custom["batch"] == "first"


def test_a_cell_still_updates_a_field_that_has_a_default() -> None:
    mapping = loads_mapping(DEALS, "toml")
    store = InMemoryStore()
    store.users.add(AGENTS[0])
    rows = _rows()
    sync(store, "opportunity", map_rows(rows, mapping, users=AGENTS, as_of=RUN1),
         external_id="opportunity_id", by="importer", at=RUN1)  # fmt: skip
    rows[0][1]["engage_date"] = "2025-02-03"  # D1's created_at now from a cell: 2025-02-03 00:00Z
    second = sync(store, "opportunity", map_rows(rows, mapping, users=AGENTS, as_of=RUN2),
                  external_id="opportunity_id", by="importer", at=RUN2)  # fmt: skip
    assert (second.updated, second.unchanged) == (1, 1)
    assert store.opportunities.get("D1").created_at == datetime(2025, 2, 3, tzinfo=UTC)


@given(st.sampled_from(["", " ", "  "]), st.booleans())
def test_blank_cells_leave_the_field_defaulted(blank: str, fallback_blank: bool) -> None:
    mapping = loads_mapping(DEALS, "toml")
    cells = {"engage_date": blank, "close_date": blank if fallback_blank else "2025-01-01"}
    data = {"created_at": RUN1, "stage_entered_at": RUN1, "custom": {}}
    expected = {"created_at"} | ({"stage_entered_at"} if fallback_blank else set())
    assert defaulted_fields(mapping, cells, data) == expected


def test_the_cli_re_run_with_a_later_as_of_is_all_unchanged(tmp_path: Path) -> None:
    from pipeline_core.cli import main

    (tmp_path / "deals.csv").write_text(
        "opportunity_id,sales_agent,product,deal_stage,engage_date,close_date\n"
        "D1,Moses Frase,GTX Basic,Prospecting,,\n"
        "D2,Moses Frase,GTX Basic,Won,2016-10-20,2017-03-01\n",
        encoding="utf-8",
    )
    (tmp_path / "m.toml").write_text(DEALS, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    args = ["import", "opportunity", str(tmp_path / "deals.csv"), "--mapping",
            str(tmp_path / "m.toml"), "--store", url, "--create-users", "--json"]  # fmt: skip
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*args, "--as-of", "2025-03-01T09:30:00+00:00"]) == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*args, "--as-of", "2025-04-02T08:00:00+00:00"]) == 0
    result = json.loads(out.getvalue())
    assert (result["added"], result["updated"], result["unchanged"]) == (0, 0, 2)
