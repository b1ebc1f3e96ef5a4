"""The cell parsers: values worked out by hand, refusals of what reads two ways, round trips."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.ingest.parsers import (
    ParseError,
    lookup,
    parse_bool,
    parse_date,
    parse_instant,
    parse_int,
    parse_money,
    parse_probability,
    split_list,
)
from pipeline_core.records import Money

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("200,000", "200000"),
        ("￥150,000.00", "150000.00"),
        ("¥1,200.50", "1200.50"),
        ("30万", "300000"),
        ("30万元", "300000"),
        ("1.2亿", "120000000"),
        ("12.5万", "125000"),
        ("RMB 30", "30"),
        ("150000元", "150000"),
        (" 8000 ", "8000"),
        (150000.0, "150000.0"),
        (42, "42"),
    ],
)
def test_money_by_hand(text: object, amount: str) -> None:
    assert parse_money(text, "CNY") == Money.of(amount, "CNY")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1,234.5,6", "ambiguous"),
        ("1,23", "ambiguous"),
        ("12,34,567", "ambiguous"),
        ("1.234", "decimal_places"),  # 1.234 or 1,234?
        ("$5", "currency_mismatch"),
        ("€5", "currency_mismatch"),
        ("-5", "money"),
        ("abc", "money"),
        ("", "money"),
        (True, "money"),
        (float("nan"), "money"),
    ],
)
def test_money_refusals(text: object, code: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_money(text, "CNY")
    assert caught.value.code == code
    assert caught.value.value == text or text != text


def test_money_trailing_zeros_beyond_minor_units_are_dropped() -> None:
    assert parse_money("100.000", "JPY") == Money.of("100", "JPY")
    with pytest.raises(ParseError, match="at most 0"):
        parse_money("100.5", "JPY")
    with pytest.raises(ParseError) as caught:
        parse_money("5", "XYZ")
    assert caught.value.code == "currency"


@given(
    cents=st.integers(min_value=0, max_value=10**15),
    symbol=st.sampled_from(["", "￥", "¥", "RMB "]),
    suffix=st.sampled_from(["", "元"]),
)
def test_money_round_trip(cents: int, symbol: str, suffix: str) -> None:
    amount = Decimal(cents).scaleb(-2)
    text = f"{symbol}{amount:,.2f}{suffix}"
    assert parse_money(text, "CNY") == Money.of(amount, "CNY")


@given(units=st.integers(min_value=0, max_value=10**6), tenths=st.integers(0, 9))
def test_wan_round_trip(units: int, tenths: int) -> None:
    # "n.d万" is (n + d/10) * 10,000 = n * 10,000 + d * 1,000
    assert parse_money(f"{units}.{tenths}万", "CNY").amount == units * 10_000 + tenths * 1_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025/3/21 9:01", datetime(2025, 3, 21, 9, 1, tzinfo=CST)),
        ("2025年3月21日", datetime(2025, 3, 21, 9, 0, tzinfo=CST)),
        ("2025年3月21日 14:05", datetime(2025, 3, 21, 14, 5, tzinfo=CST)),
        ("2025-03-21", datetime(2025, 3, 21, 9, 0, tzinfo=CST)),
        ("2025-03-21 23:59:59", datetime(2025, 3, 21, 23, 59, 59, tzinfo=CST)),
        ("2025-03-21T09:01:00Z", datetime(2025, 3, 21, 9, 1, tzinfo=UTC)),
        ("2025.3.21 9:01", datetime(2025, 3, 21, 9, 1, tzinfo=CST)),
        (date(2025, 3, 21), datetime(2025, 3, 21, 9, 0, tzinfo=CST)),
        (datetime(2025, 3, 21, 9, 1), datetime(2025, 3, 21, 9, 1, tzinfo=CST)),
    ],
)
def test_instants_by_hand(text: object, expected: datetime) -> None:
    got = parse_instant(text, zone="Asia/Shanghai", time_of_day=time(9))
    assert got == expected
    assert got.utcoffset() == expected.utcoffset()


def test_excel_serials_only_where_declared() -> None:
    # 1900 date system: day 45737 is 2025-03-21 (45658 = 2025-01-01, + 79 days)
    got = parse_instant(45737, zone="Asia/Shanghai", time_of_day=time(9), excel_serial=True)
    assert got == datetime(2025, 3, 21, 9, tzinfo=CST)
    half = parse_instant("45737.5", zone="Asia/Shanghai", excel_serial=True)
    assert half == datetime(2025, 3, 21, 12, tzinfo=CST)
    for value in (45000, "45000", 45000.25):
        with pytest.raises(ParseError) as caught:
            parse_instant(value, zone="Asia/Shanghai", time_of_day=time(9))
        assert caught.value.code == "excel_serial"


@pytest.mark.parametrize(
    ("text", "code", "kwargs"),
    [
        ("03/04/2025", "date_order", {}),
        ("21/03/2025", "date_order", {}),  # even when only one reading is a date: never inferred
        ("2025-03-21", "no_time_of_day", {"time_of_day": None}),
        ("2025/2/30 9:00", "instant", {}),
        ("next tuesday", "instant", {}),
        ("25/3/21", "instant", {}),
    ],
)
def test_instant_refusals(text: str, code: str, kwargs: dict[str, object]) -> None:
    options: dict[str, object] = {"zone": "Asia/Shanghai", "time_of_day": time(9), **kwargs}
    with pytest.raises(ParseError) as caught:
        parse_instant(text, **options)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_declared_date_order() -> None:
    dmy = parse_instant("03/04/2025 10:00", zone="Asia/Shanghai", date_order="DMY")
    mdy = parse_instant("03/04/2025 10:00", zone="Asia/Shanghai", date_order="MDY")
    assert (dmy.month, dmy.day) == (4, 3)
    assert (mdy.month, mdy.day) == (3, 4)


def test_dst_gap_and_fold_are_refused() -> None:
    # Berlin: 2025-03-30 02:00 -> 03:00 (the gap), 2025-10-26 03:00 -> 02:00 (02:30 twice)
    with pytest.raises(ParseError) as gap:
        parse_instant("2025-03-30 02:30", zone="Europe/Berlin")
    with pytest.raises(ParseError) as fold:
        parse_instant("2025-10-26 02:30", zone="Europe/Berlin")
    assert (gap.value.code, fold.value.code) == ("nonexistent_time", "ambiguous_time")


@given(
    # China kept daylight saving time until 1991 (gaps and folds are refused, tested above)
    moment=st.datetimes(min_value=datetime(1992, 1, 1), max_value=datetime(2090, 1, 1)),
    style=st.sampled_from(["%Y/%-m/%-d %-H:%M", "%Y年%-m月%-d日 %H:%M", "%Y-%m-%d %H:%M:%S"]),
)
def test_instant_round_trip(moment: datetime, style: str) -> None:
    wall = (
        moment.replace(microsecond=0) if "%S" in style else moment.replace(second=0, microsecond=0)
    )
    got = parse_instant(wall.strftime(style), zone="Asia/Shanghai")
    assert got == wall.replace(tzinfo=CST)


def test_dates() -> None:
    assert parse_date("2025/3/21") == date(2025, 3, 21)
    assert parse_date("2025年3月21日") == date(2025, 3, 21)
    assert parse_date(datetime(2025, 3, 21)) == date(2025, 3, 21)
    with pytest.raises(ParseError):
        parse_date("2025/3/21 9:01")
    with pytest.raises(ParseError):
        parse_date(45737)


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("制造业、重点客户", ("制造业", "重点客户")),
        ("SaaS, 试用中;续费", ("SaaS", "试用中", "续费")),
        ("a，b；c、", ("a", "b", "c")),
        ("", ()),
    ],
)
def test_split_list(text: str, items: tuple[str, ...]) -> None:
    assert split_list(text) == items


@given(
    st.lists(
        st.text(
            st.characters(exclude_characters="、,;，；", exclude_categories=["Z", "C"]), min_size=1
        ),
        max_size=6,
    )
)
def test_split_list_round_trip(items: list[str]) -> None:
    assert split_list("、".join(items)) == tuple(items)


def test_words() -> None:
    assert [parse_bool(w) for w in ("是", "否", "Yes", "FALSE", "1", True)] == [
        True,
        False,
        True,
        False,
        True,
        True,
    ]
    with pytest.raises(ParseError):
        parse_bool("也许")
    assert parse_bool("可以", {"可以": "true"}) is True
    assert (
        lookup("决策人", {"decision_maker", "user"}, {"决策人": "decision_maker"})
        == "decision_maker"
    )
    assert lookup(" user ", {"decision_maker", "user"}) == "user"
    with pytest.raises(ParseError, match="decision_maker, user"):
        lookup("boss", {"decision_maker", "user"})


@given(st.booleans())
def test_bool_round_trip(value: bool) -> None:
    assert parse_bool("是" if value else "否") is value
    assert parse_bool(str(value).lower()) is value


def test_numbers() -> None:
    assert parse_int("1,200") == 1200
    assert parse_int(250.0) == 250
    for bad in ("50-99", "1.5", "-3"):
        with pytest.raises(ParseError):
            parse_int(bad)
    assert parse_probability("30%") == 0.3
    assert parse_probability("0.25") == 0.25
    with pytest.raises(ParseError) as caught:
        parse_probability("30")
    assert caught.value.code == "ambiguous"


@given(st.integers(min_value=0, max_value=10**12))
def test_int_round_trip(n: int) -> None:
    assert parse_int(f"{n:,}") == n
    assert parse_int(str(n)) == n
