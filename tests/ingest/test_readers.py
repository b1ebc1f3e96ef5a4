"""read_rows: CSV in common encodings (declared or detected), workbooks, frames; typed errors."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.ingest.readers import (
    ROW_CELL,
    CellError,
    SourceError,
    detect_encoding,
    read_rows,
)

ROWS = [
    ["线索编号", "公司", "预算(元)"],
    ["XS-1", "北京星河科技", "30万"],
    ["XS-2", "上海云帆", "200,000"],
]


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("codec", "reported"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gbk", "gb18030"),
        ("gb18030", "gb18030"),
        ("utf-16", "utf-16"),
    ],
)
def test_chinese_csv_in_each_encoding_is_detected(
    codec: str, reported: str, tmp_path: Path
) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(_csv(ROWS).encode(codec))
    with read_rows(path) as source:
        assert (source.encoding, source.detected, source.format) == (reported, True, "csv")
        assert source.headers == ("线索编号", "公司", "预算(元)")
        assert list(source) == [
            (2, {"线索编号": "XS-1", "公司": "北京星河科技", "预算(元)": "30万"}),
            (3, {"线索编号": "XS-2", "公司": "上海云帆", "预算(元)": "200,000"}),
        ]


def test_windows_1252_is_detected_and_a_declared_encoding_wins() -> None:
    body = "Owner,City\r\nMoses Frase,São Paulo\r\nJürgen Müller,Köln – Süd\r\n".encode("cp1252")
    source = read_rows(io.BytesIO(body))
    assert source.encoding == "cp1252"
    assert [c["City"] for _, c in source] == ["São Paulo", "Köln – Süd"]
    declared = read_rows(io.BytesIO(body), encoding="latin-1")
    assert (declared.encoding, declared.detected) == ("iso8859-1", False)


def test_a_bad_byte_after_the_detection_window_names_its_row() -> None:
    # 8,000 rows of "XS-nnnn,线索\r\n" in GBK: 4 + 4 + 1 + 4 + 2 = 15 bytes each = 120,000 bytes,
    # well past the 64 KiB sample; the bad row is data row 8,001 = file row 8,002.
    lines = ["编号,名称"] + [f"XS-{i:04d},线索" for i in range(8000)]
    body = ("\r\n".join(lines) + "\r\n").encode("gbk") + b"XS-x,\xff\xfe\r\nXS-y,ok\r\n"
    source = read_rows(io.BytesIO(body))
    assert source.encoding == "gb18030"
    seen: list[int] = []

    def drain() -> None:
        seen.extend(number for number, _ in source)

    with pytest.raises(SourceError) as caught:
        drain()
    assert caught.value.row == 8002
    assert seen[-1] == 8001
    assert caught.value.problems[0].code == "encoding"
    assert "gb18030" in caught.value.problems[0].message


def test_declared_utf8_that_is_not_utf8_is_a_typed_error() -> None:
    with pytest.raises(SourceError) as caught:
        read_rows(io.BytesIO(_csv(ROWS).encode("gbk")), encoding="utf-8")
    assert caught.value.row == 1


def test_blank_headers_are_listed_together_and_trailing_ones_ignored() -> None:
    # "a,,b,,c, ": column 6 (" ") is a trailing blank header, dropped; columns 2 and 4 are not
    with pytest.raises(SourceError) as caught:
        read_rows(io.BytesIO(b"a,,b,,c, \r\n1,2,3,4,5,\r\n"))
    codes = [(p.path, p.code) for p in caught.value.problems]
    assert codes == [((1, "column 2"), "blank_header"), ((1, "column 4"), "blank_header")]


def test_ragged_rows_are_marked_and_blank_rows_skipped() -> None:
    source = read_rows(io.StringIO("a,b\n1,2\n,\n3,4\n5\n6,7\n"))
    assert source.encoding is None
    got = list(source)
    assert got == [
        (2, {"a": "1", "b": "2"}),
        (4, {"a": "3", "b": "4"}),
        (
            5,
            {
                "a": "5",
                ROW_CELL: CellError("1 cells but the header has 2 columns", "ragged_row", ("5",)),
            },
        ),
        (6, {"a": "6", "b": "7"}),
    ]


def test_delimiter() -> None:
    rows = list(read_rows(io.BytesIO(b"a;b\n1;2\n"), delimiter=";"))
    assert rows == [(2, {"a": "1", "b": "2"})]


@given(
    st.lists(
        st.lists(
            st.text(st.characters(codec="gb18030", exclude_categories=["Cs"]), max_size=8),
            min_size=2,
            max_size=2,
        ),
        max_size=5,
    ),
    st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]),
)
def test_any_text_reads_back_in_a_declared_encoding(cells: list[list[str]], codec: str) -> None:
    body = _csv([["甲", "乙"], *cells]).encode(codec)
    expected = [(i + 2, {"甲": a, "乙": b}) for i, (a, b) in enumerate(cells) if a or b]
    got = [(n, c) for n, c in read_rows(io.BytesIO(body), encoding=codec)]
    # csv turns a lone "\r" or "\r\n" inside a quoted cell back unchanged; row numbers count rows
    assert [c for _, c in got] == [c for _, c in expected]


def test_workbook_cells_and_row_numbers(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "线索"
    sheet.append([])  # the header is on the sheet's row 2
    sheet.append(["编号", "创建时间", "预算", "日期"])
    sheet.append(["XS-1", datetime(2025, 3, 21, 9, 1), 200000, date(2025, 3, 21)])
    sheet.append([None, None, None, None])
    sheet.append(["XS-2", None, 1200.5, None])
    other = book.create_sheet("其他")
    other.append(["x"])
    other.append(["y"])
    path = tmp_path / "leads.xlsx"
    book.save(path)
    with read_rows(path) as source:
        assert (source.format, source.encoding, source.headers) == (
            "xlsx",
            None,
            ("编号", "创建时间", "预算", "日期"),
        )
        rows = list(source)
    assert rows[0] == (
        3,
        {
            "编号": "XS-1",
            "创建时间": datetime(2025, 3, 21, 9, 1),
            "预算": 200000,
            "日期": rows[0][1]["日期"],
        },
    )
    assert rows[0][1]["日期"] in (date(2025, 3, 21), datetime(2025, 3, 21))
    assert rows[1] == (5, {"编号": "XS-2", "创建时间": "", "预算": 1200.5, "日期": ""})
    assert list(read_rows(path, sheet="其他")) == [(2, {"x": "y"})]
    with pytest.raises(SourceError, match="no such sheet"):
        read_rows(path, sheet="nope")


def test_frames() -> None:
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    data = {"owner": ["Moses Frase", None], "value": [1, 2]}
    for frame in (pd.DataFrame(data), pl.DataFrame(data)):
        source = read_rows(frame)
        assert (source.format, source.headers) == ("frame", ("owner", "value"))
        rows = list(source)
        assert [n for n, _ in rows] == [2, 3]
        assert rows[0][1] == {"owner": "Moses Frase", "value": 1}


def test_detect_encoding_boms() -> None:
    assert detect_encoding(b"\xef\xbb\xbfa") == ("utf-8-sig", True)
    assert detect_encoding("a".encode("utf-16")) == ("utf-16", True)
    assert detect_encoding(b"plain ascii") == ("utf-8", True)


def test_frame_numbers_are_python_values() -> None:
    pd = pytest.importorskip("pandas")
    rows = list(read_rows(pd.DataFrame({"n": [3, 4]})))
    assert [type(c["n"]) for _, c in rows] == [int, int]
