"""The per-column fast reader of instant cells (``cells.cell_reader``) gives what the general
reader (``read_cell`` → ``parse_instant``) gives: the same instant with the same fixed UTC offset,
or the same refusal. Expected values in the example tests are worked out by hand."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core.ingest.cells import cell_reader, read_cell
from pipeline_core.ingest.mapping import Column, SheetMapping
from pipeline_core.ingest.parsers import ParseError

ZONES = ("Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC")
COLUMN = Column("创建时间", "created_at")
ID = Column("id", "id")  # the required fields of a lead: an id column, a source default
SOURCE = {"source": "import"}


def _mapping(zone: str, time_of_day: time | None) -> SheetMapping:
    return SheetMapping(
        "lead", (COLUMN, ID), timezone=zone, time_of_day=time_of_day, defaults=SOURCE
    )


def _outcome(read: Any, value: Any) -> tuple[Any, ...]:
    try:
        got = read(value)
    except ParseError as exc:
        return ("refused", exc.code, exc.reason, exc.problems[0].value)
    return ("read", got.isoformat(), got.tzinfo, got.fold)


# wall times around DST changes (2:00 / 1:00 / Lord Howe's half hour) and ordinary days
_DAYS = st.sampled_from(
    [(2025, 3, 9), (2025, 11, 2), (2025, 3, 30), (2025, 10, 26), (2025, 4, 6), (2025, 10, 5)]
) | st.tuples(st.integers(1990, 2040), st.integers(1, 13), st.integers(0, 32))


@st.composite
def _texts(draw: st.DrawFn) -> str:
    y, m, d = draw(_DAYS)
    style = draw(st.integers(0, 4))
    pad = draw(st.sampled_from(["", " ", "\t", "  "]))
    if style == 0:
        h, mi = draw(st.integers(0, 25)), draw(st.integers(0, 61))
        sep = draw(st.sampled_from(["/", "-"]))
        text = f"{y}{sep}{m}{sep}{d} {h}:{mi:02d}"
    elif style == 1:
        h, mi = draw(st.integers(0, 23)), draw(st.integers(0, 59))
        text = f"{y}-{m:02d}-{d:02d}{draw(st.sampled_from([' ', '  ', 'T']))}{h:02d}:{mi:02d}"
    elif style == 2:
        text = f"{y}年{m}月{d}{draw(st.sampled_from(['日', '号', '']))}"
    elif style == 3:
        text = f"{y}{draw(st.sampled_from(['/', '-', '.']))}{m}/{d}"
    else:
        text = draw(st.text(alphabet="0123456789/-: 年月日T+Z", max_size=18))
    return pad + text + pad


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.sampled_from([None, time(9), time(2, 30), time(1, 15, 30, 5)]),
    st.lists(_texts(), min_size=1, max_size=8),
)
def test_fast_reader_equals_the_general_reader(
    zone: str, time_of_day: time | None, texts: list[str]
) -> None:
    mapping = _mapping(zone, time_of_day)
    fast = cell_reader(mapping, COLUMN, "instant")  # one reader: its hour memo is shared
    for text in texts:
        assert _outcome(fast, text) == _outcome(
            lambda v: read_cell(mapping, COLUMN, "instant", v), text
        )


def test_examples_worked_by_hand() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    read = cell_reader(_mapping("Asia/Shanghai", time(9)), COLUMN, "instant")
    assert read("2025/3/21 9:01") == datetime(2025, 3, 21, 1, 1, tzinfo=ZoneInfo("UTC"))
    # kept as a record keeps an instant: the fixed offset in force (+08:00), not the zone name
    assert read(" 2025-03-22 14:30 ").tzinfo == timezone(timedelta(hours=8))
    assert read("2025-03-22 14:30").isoformat() == "2025-03-22T14:30:00+08:00"
    assert read("2025年3月21日") == datetime(2025, 3, 21, 9, tzinfo=shanghai)
    with pytest.raises(ParseError) as exc:
        read("2025/2/30 9:00")
    assert exc.value.problems[0].code == "instant"


def test_dst_gap_and_fold_are_still_refused() -> None:
    read = cell_reader(_mapping("America/New_York", time(9)), COLUMN, "instant")
    assert read("2025-03-09 1:59") == datetime(2025, 3, 9, 6, 59, tzinfo=ZoneInfo("UTC"))
    with pytest.raises(ParseError) as gap:
        read("2025-03-09 2:30")  # 02:00 → 03:00 on 9 March 2025
    assert gap.value.problems[0].code == "nonexistent_time"
    with pytest.raises(ParseError) as fold:
        read("2025/11/2 1:30")  # 02:00 → 01:00 on 2 November 2025
    assert fold.value.problems[0].code == "ambiguous_time"
    eastern = read("2025/11/2 3:00")
    assert eastern - datetime(2025, 11, 2, 8, tzinfo=ZoneInfo("UTC")) == timedelta(0)


def test_other_kinds_and_formats_use_the_general_reader() -> None:
    mapping = SheetMapping(
        "lead",
        (Column("t", "created_at", format="%d.%m.%Y %H:%M"), ID),
        timezone="UTC",
        defaults=SOURCE,
    )
    read = cell_reader(mapping, mapping.columns[0], "instant")
    assert read("21.03.2025 09:01") == datetime(2025, 3, 21, 9, 1, tzinfo=ZoneInfo("UTC"))


def test_a_column_with_aliases_reads_the_alias_before_the_instant() -> None:
    # the alias replaces the whole text: the fast reader must not read the original text
    column = Column(
        "t", "created_at", aliases={"待定": "2025/1/2 9:00", "1900/1/1 0:00": "2025/1/3"}
    )
    mapping = SheetMapping(
        "lead", (column, ID), timezone="Asia/Shanghai", time_of_day=time(9), defaults=SOURCE
    )
    fast = cell_reader(mapping, column, "instant")
    eight = timezone(timedelta(hours=8))
    assert fast("待定") == datetime(2025, 1, 2, 9, tzinfo=eight)
    assert fast("1900/1/1 0:00") == datetime(2025, 1, 3, 9, tzinfo=eight)
    assert fast("1900/1/1 0:00") == read_cell(mapping, column, "instant", "1900/1/1 0:00")


def test_a_wall_time_in_local_mean_time_is_a_row_problem_on_both_readers() -> None:
    # Shanghai kept local mean time (+08:05:43) until 1901: a record keeps whole minutes only
    mapping = _mapping("Asia/Shanghai", time(9))
    fast = cell_reader(mapping, COLUMN, "instant")
    for text in ("1900/1/1 9:00", "1900年1月1日"):
        for read in (fast, lambda v: read_cell(mapping, COLUMN, "instant", v)):
            with pytest.raises(ParseError) as exc:
                read(text)
            assert exc.value.problems[0].code == "timezone_offset"
            assert "8:05:43" in exc.value.reason and "Asia/Shanghai" in exc.value.reason
    assert fast("1901/1/1 9:00").isoformat() == "1901-01-01T09:00:00+08:00"
