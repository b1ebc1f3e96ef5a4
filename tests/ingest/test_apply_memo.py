"""_map's per-column memo of readings: a full memo starts again empty, and a refused or blank
cell is never remembered. Expected values are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from pipeline_core.ingest import apply, map_rows
from pipeline_core.ingest.mapping import Column, SheetMapping

MAPPING = SheetMapping(
    "lead",
    (
        Column("id", "id"),
        Column("at", "created_at"),
        Column("need", "need", aliases={"强": "strong", "弱": "weak"}),
    ),
    timezone="UTC",
    time_of_day=time(9),
    defaults={"source": "import"},  # a lead's source is required: the sheet has none
)


def test_a_small_memo_gives_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply, "CELL_CACHE_SIZE", 2)
    texts = [
        "2025/3/1 8:00",
        "2025/3/2 8:00",
        "2025/3/1 8:00",
        "2025/3/3",
        "x",
        "x",
        " ",
        "2025/3/2 8:00",
    ]
    needs = ["强", "弱", "强", "?", "弱", "强", "弱", "强"]
    rows = [
        (i + 2, {"id": f"L{i}", "at": t, "need": n})
        for i, (t, n) in enumerate(zip(texts, needs, strict=True))
    ]
    got = list(map_rows(rows, MAPPING))
    assert [r.data["created_at"] if r.data else None for r in got] == [
        datetime(2025, 3, 1, 8, tzinfo=UTC),
        datetime(2025, 3, 2, 8, tzinfo=UTC),
        datetime(2025, 3, 1, 8, tzinfo=UTC),
        None,  # need "?" is refused
        None,  # "x" is not an instant
        None,
        None,  # created_at is required: blank
        datetime(2025, 3, 2, 8, tzinfo=UTC),
    ]
    assert [tuple(p.code for p in r.problems) for r in got] == [
        (),
        (),
        (),
        ("not_allowed",),
        ("instant",),
        ("instant",),
        ("missing",),
        (),
    ]
    assert got[1].data is not None and got[1].data["need"] == "weak"
