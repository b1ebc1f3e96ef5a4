"""CSV that is safe to open in a spreadsheet: no cell starts a formula, and the import gives the
values back exactly (CSV injection, OWASP: cells beginning with = + - @, tab or CR)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from pipeline_core import storage
from pipeline_core.records import Lead
from pipeline_core.storage.io import (
    SPREADSHEET_TRIGGERS,
    export_records,
    import_records,
    neutralise_cell,
    restore_cell,
)

T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
COMPANIES = [
    '=IMPORTXML("http://example.invalid","//a")',  # a live formula
    "+86 sales desk",
    "-40% off Ltd",
    "@home Co",
    "\tindented Co",
    "'quoted' Co",  # begins with the mark itself: must survive the round trip too
    "远航制造",  # ordinary text is left alone
]


def _export(safe: bool) -> str:
    store = storage.open("memory://")
    store.leads.bulk_add(
        [
            Lead(id=f"L{i}", created_at=T0, source="referral", company=c, needs=c)
            for i, c in enumerate(COMPANIES)
        ]
    )
    out = io.StringIO()
    export_records(store, "lead", out, format="csv", spreadsheet_safe=safe)
    return out.getvalue()


def test_a_safe_export_starts_no_cell_with_a_formula_trigger_and_reads_back_exactly() -> None:
    text = _export(safe=True)
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert not [c for c in cells if c.startswith(SPREADSHEET_TRIGGERS)]
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["L0"]["company"] == "'" + COMPANIES[0]  # the spreadsheet's own "text" mark
    assert rows["L5"]["company"] == "''quoted' Co"
    assert rows["L6"]["company"] == "远航制造"
    back = storage.open("memory://")
    report = import_records(back, "lead", io.StringIO(text), format="csv", spreadsheet_safe=True)
    assert report.written == len(COMPANIES)
    assert [back.leads.get(f"L{i}").company for i in range(len(COMPANIES))] == COMPANIES


def test_the_default_export_is_unchanged() -> None:
    # without the option the cells are written as they are (the library's own round trip)
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(_export(safe=False)))}
    assert rows["L0"]["company"] == COMPANIES[0]


@given(st.text(max_size=30))
def test_restore_undoes_neutralise(text: str) -> None:
    safe = neutralise_cell(text)
    assert not safe.startswith(SPREADSHEET_TRIGGERS)
    assert restore_cell(safe) == text
