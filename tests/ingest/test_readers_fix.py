"""read_rows after review #19: no guessed encodings, formula cells, file shape."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_core.ingest.readers import SourceError, read_rows

HEADER = "id,created,budget,company,source\n"


def _gbk_rows(n: int) -> bytes:
    rows = "".join(f"G{i},2025-03-01 10:00,100,北京公司,website\n" for i in range(n))
    return (HEADER + rows).encode("gbk")


def test_company_name_bytes_are_gbk() -> None:
    # 北 B1B1, 京 BEA9, 公 B9AB, 司 CBBE (GB2312 table): every byte in A1..FE, so EUC-KR and
    # Big5 decode the same bytes too, as other characters.
    assert "北京公司".encode("gbk") == bytes.fromhex("b1b1bea9b9abcbbe")


@pytest.mark.parametrize("n", [1, 3])
def test_a_short_gbk_file_is_refused_not_guessed(n: int) -> None:
    with pytest.raises(SourceError) as caught:
        read_rows(io.BytesIO(_gbk_rows(n)))
    problem = caught.value.problems[0]
    assert problem.code == "encoding_ambiguous"
    assert "gb18030" in problem.message
    assert "euc_kr" in problem.message
    assert "declare the encoding" in problem.message


@pytest.mark.parametrize("n", [1, 3, 10])
def test_a_declared_gbk_reads_the_company(n: int) -> None:
    with read_rows(io.BytesIO(_gbk_rows(n)), encoding="gbk") as source:
        rows = list(source)
    assert [cells["company"] for _, cells in rows] == ["北京公司"] * n
    assert [number for number, _ in rows] == list(range(2, n + 2))


TEN = ["北京公司", "张伟", "李娜", "王芳", "上海", "深圳", "华东", "新能源", "北京公司", "张伟"]


def test_ten_varied_gbk_rows_are_detected_as_gb18030() -> None:
    rows = "".join(f"G{i},2025-03-01 10:00,100,{n},website\n" for i, n in enumerate(TEN))
    with read_rows(io.BytesIO((HEADER + rows).encode("gbk"))) as source:
        assert (source.encoding, source.detected) == ("gb18030", True)
        assert [cells["company"] for _, cells in source] == TEN


def test_ten_identical_gbk_rows_are_still_refused_or_read_right() -> None:
    # the same four characters ten times are no more evidence than once: refused
    with pytest.raises(SourceError) as caught:
        read_rows(io.BytesIO(_gbk_rows(10)))
    assert caught.value.problems[0].code == "encoding_ambiguous"


def test_a_cp1252_file_with_a_dash_is_not_refused_for_latin_1() -> None:
    # 0x96 is "–" in cp1252 and a C1 control in latin-1: cp1252 is meant.
    body = (HEADER + "E1,2025-03-01 10:00,100,Köln – Süd,website\n").encode("cp1252")
    with read_rows(io.BytesIO(body)) as source:
        assert source.encoding == "cp1252"
        assert [c["company"] for _, c in source] == ["Köln – Süd"]


_HANZI = st.text(
    alphabet=st.sampled_from("北京上海广州深圳科技有限公司星河云帆线索客户重点制造业官网"),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_HANZI, min_size=1, max_size=12))
def test_detection_never_stores_a_misdecoded_name(names: list[str]) -> None:
    """Property: a GBK file is either refused or read back as the very text written."""
    body = (HEADER + "".join(f"G{i},2025-03-01,1,{n},web\n" for i, n in enumerate(names))).encode(
        "gbk"
    )
    try:
        with read_rows(io.BytesIO(body)) as source:
            got = [cells["company"] for _, cells in source]
    except SourceError as exc:
        assert exc.problems[0].code == "encoding_ambiguous"
        return
    assert got == names
