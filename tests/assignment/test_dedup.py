"""Normalisers, the dedup index, and its equivalence with a brute-force scan."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError
from pipeline_core.identity import (
    DedupIndex,
    company_similarity,
    normalise_company,
    normalise_email,
    normalise_phone,
)

# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("0086 138-0013-8000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),  # full-width digits
        ("010-12345678", "+861012345678"),
        ("(0755) 1234 5678", "+8675512345678"),
        ("+86 10 1234 5678", "+861012345678"),
        ("+1 650-253-0000", "+16502530000"),
    ],
)
def test_phone_forms(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "abc", "12", "not a phone"])
def test_not_a_phone(raw: str | None) -> None:
    assert normalise_phone(raw) is None


def test_default_region_decides_national_numbers() -> None:
    assert normalise_phone("(650) 253-0000", default_region="US") == "+16502530000"


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", "+86", "0086", "86"]))
def test_mobile_fast_path_agrees_with_phonenumbers(digits: str, prefix: str) -> None:
    parsed = phonenumbers.parse(prefix + digits if prefix != "86" else "+86" + digits, "CN")
    reference = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(parsed):  # an unassigned range is not a number
        reference = None
    assert normalise_phone(prefix + digits) == reference


@given(st.text(alphabet="0123456789+-() ", max_size=20))
def test_phone_idempotent(raw: str) -> None:
    once = normalise_phone(raw)
    if once is not None:
        assert normalise_phone(once) == once


# --------------------------------------------------------------------------- e-mail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Alice@Example.COM ", "alice@example.com"),
        ("a.l.i.c.e+crm@gmail.com", "alice@gmail.com"),
        ("Alice+x@googlemail.com", "alice@gmail.com"),
        ("bob+news@outlook.com", "bob@outlook.com"),
        ("bob+news@hotmail.com", "bob@hotmail.com"),
        ("zhang+tag@qq.com", "zhang+tag@qq.com"),  # not documented for QQ Mail: kept
        ("li+x@163.com", "li+x@163.com"),
        ("first.last@company.cn", "first.last@company.cn"),  # dots matter outside Gmail
        ("ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "alice@example.com"),  # full-width
        ("+only@gmail.com", "+only@gmail.com"),  # nothing would be left: kept
    ],
)
def test_email_forms(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "no-at-sign", "@example.com", "a@", "a b@c.com"])
def test_not_an_email(raw: str | None) -> None:
    assert normalise_email(raw) is None


def test_plus_domains_are_configurable() -> None:
    assert normalise_email("a+b@corp.example", frozenset({"corp.example"})) == "a@corp.example"


@given(st.text(max_size=30))
def test_email_idempotent(raw: str) -> None:
    once = normalise_email(raw)
    if once is not None:
        assert normalise_email(once) == once


# --------------------------------------------------------------------------- companies


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("北京某某科技有限公司", "某某科技(北京)"),  # region in front: a qualifier
        ("北京某某科技股份有限公司", "某某科技(北京)"),
        ("北京某某科技有限责任公司", "某某科技(北京)"),
        ("某某集团", "某某"),
        ("某某集团有限公司", "某某"),
        ("ＡＢＣ（北京）科技有限公司", "abc科技(北京)"),  # region in brackets
        ("北京 某某 科技", "某某科技(北京)"),
        ("ACME Widgets Co., Ltd.", "acme widgets"),
        ("Acme Widgets, Inc.", "acme widgets"),
        ("ACME WIDGETS LLC", "acme widgets"),
        ("Müller GmbH", "müller"),
        ("西安某某家具 Co., Ltd.", "某某家具(西安)"),
        ("西安某某家具Co.,Ltd.", "某某家具(西安)"),
        ("上海银行", "上海银行"),  # too little left without the region: a name of its own
        ("中国某某能源股份有限公司大庆油田分公司", "中国某某能源|大庆油田分公司"),
        ("招商银行深圳分行", "招商银行|深圳分行"),
        ("集团", "集团"),  # a name that is only a suffix is kept
    ],
)
def test_company_forms(raw: str, expected: str) -> None:
    assert normalise_company(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "  ", "!!!"])
def test_empty_company(raw: str | None) -> None:
    assert normalise_company(raw) is None


@given(st.text(max_size=40))
def test_company_idempotent(raw: str) -> None:
    once = normalise_company(raw)
    if once is not None:
        assert normalise_company(once) == once


# --------------------------------------------------------------------------- the index


def test_match_reasons() -> None:
    idx = DedupIndex()
    idx.add("c1", phone="13800138000", company="北京某某科技有限公司")
    idx.add("c2", email="Ann.Lee@gmail.com")
    idx.add("c3", company="上海另一家贸易有限公司")
    found = idx.find(phone="+86 138 0013 8000", email="annlee+x@gmail.com", company="北京某某科技")
    assert [m.existing_id for m in found] == ["c1", "c2"]
    assert found[0].signals == ("phone", "company")
    assert found[0].reasons[0] == "same phone +8613800138000"
    assert found[0].reasons[1] == "company name 100% similar: 北京某某科技 ~ 北京某某科技有限公司"
    assert found[1].reason == "same e-mail annlee@gmail.com"
    assert found[0].score == 1.0


def test_fuzzy_company_score() -> None:
    idx = DedupIndex(threshold=80)
    idx.add("c1", company="杭州云帆智能科技有限公司")
    [m] = idx.find(company="杭州云帆智能科枝")  # one character wrong
    # 杭州 is the region (a qualifier, the same on both sides): the cores 云帆智能科技 and
    # 云帆智能科枝 share 5 of 6 characters, ratio = 2·5 / (6 + 6) = 83.33 %
    assert m.score == pytest.approx(10 / 12)
    assert "83% similar" in m.reason


def test_exclude_and_no_match() -> None:
    idx = DedupIndex()
    idx.add("c1", phone="13800138000")
    assert idx.find(phone="13800138000", exclude="c1") == []
    assert idx.find(phone="13900139000") == []
    assert len(idx) == 1


def test_bad_config_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as err:
        DedupIndex(threshold=0, max_block=0)
    assert set(err.value.fields) == {"threshold", "max_block"}


def _brute_force(
    entries: list[tuple[str, str | None, str | None, str | None]],
    q: tuple[str | None, str | None, str | None],
    threshold: float,
) -> dict[str, set[str]]:
    phone, email, company = normalise_phone(q[0]), normalise_email(q[1]), normalise_company(q[2])
    out: dict[str, set[str]] = {}
    for eid, p, e, c in entries:
        if phone is not None and normalise_phone(p) == phone:
            out.setdefault(eid, set()).add("phone")
        if email is not None and normalise_email(e) == email:
            out.setdefault(eid, set()).add("email")
        nc = normalise_company(c)
        if company is not None and nc is not None and company_similarity(company, nc) >= threshold:
            out.setdefault(eid, set()).add("company")
    return out


_SYLLABLES = [
    "北京",
    "上海",
    "云帆",
    "科技",
    "智能",
    "贸易",
    "华",
    "星",
    "Acme",
    "Tech",
    " ",
    "有限公司",
    "Co., Ltd.",
    "分公司",
    "（北京）",
    "深圳",
]
companies = st.lists(st.sampled_from(_SYLLABLES), min_size=1, max_size=5).map("".join)
phones = st.sampled_from(["13800138000", "+86 138 0013 8000", "010-12345678", "13912345678", None])
emails = st.sampled_from(["a@gmail.com", "A+x@gmail.com", "b@qq.com", "b+1@qq.com", None])


@given(
    st.lists(st.tuples(phones, emails, st.one_of(st.none(), companies)), max_size=25),
    st.tuples(phones, emails, st.one_of(st.none(), companies)),
    st.sampled_from([81.0, 85.0, 90.0, 100.0]),
)
def test_index_equals_brute_force(
    rows: list[tuple[str | None, str | None, str | None]],
    query: tuple[str | None, str | None, str | None],
    threshold: float,
) -> None:
    entries = [(f"e{i}", *row) for i, row in enumerate(rows)]
    idx = DedupIndex(threshold=threshold)
    for eid, p, e, c in entries:
        idx.add(eid, phone=p, email=e, company=c)
    found = {
        m.existing_id: set(m.signals)
        for m in idx.find(phone=query[0], email=query[1], company=query[2])
    }
    assert found == _brute_force(entries, query, threshold)


def _variants(digits: str) -> list[str]:
    return [digits, f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}", f"0086-{digits}", f"86{digits}"]


@given(
    st.lists(  # mobiles in assigned ranges (13x, 15x but 154, 18x): valid numbers
        st.from_regex(r"1(?:3[0-9]|5[0-35-9]|8[0-9])[0-9]{8}", fullmatch=True),
        min_size=1,
        max_size=30,
        unique=True,
    ),
    st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=30, unique=True),
    st.data(),
)
def test_every_planted_duplicate_is_found(
    mobiles: list[str], locals_: list[str], data: st.DataObject
) -> None:
    idx = DedupIndex()
    for i, m in enumerate(mobiles):
        idx.add(f"p{i}", phone=m)
    for i, name in enumerate(locals_):
        idx.add(f"m{i}", email=f"{name}@gmail.com")
    for i, m in enumerate(mobiles):
        variant = data.draw(st.sampled_from(_variants(m)))
        assert f"p{i}" in [x.existing_id for x in idx.find(phone=variant)]
    for i, name in enumerate(locals_):
        dotted = ".".join(name) if len(name) > 1 else name
        variant = data.draw(st.sampled_from([name.upper(), f"{name}+crm", dotted]))
        domain = data.draw(st.sampled_from(["gmail.com", "GMAIL.com", "googlemail.com"]))
        assert f"m{i}" in [x.existing_id for x in idx.find(email=f"{variant}@{domain}")]


def test_only_rare_blocks_are_read() -> None:
    # 2,000 names sharing "科技": a query compares names from its rare bigrams' blocks only.
    idx = DedupIndex()
    for i in range(2_000):
        idx.add(f"c{i}", company=f"{chr(0x4E00 + i)}{chr(0x5000 + i)}{chr(0x6000 + i)}科技有限公司")
    q = f"{chr(0x4E00 + 7)}{chr(0x5000 + 7)}{chr(0x6000 + 7)}科技股份有限公司"
    [m] = idx.find(company=q)
    assert m.existing_id == "c7"
    assert idx.candidates_examined <= 3  # brute force would compare all 2,000
