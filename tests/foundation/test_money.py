"""The dated exchange-rate table: validation, date selection, rounding, and its properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError, CurrencyMismatchError, ValidationError
from pipeline_core.money import (
    ExchangeRate,
    ExchangeRates,
    amount_in,
    conversion_instant,
    round_to_minor_units,
)
from pipeline_core.records import Money, Opportunity

JAN, MAR = date(2025, 1, 1), date(2025, 3, 1)


def usd_cny() -> ExchangeRates:
    return ExchangeRates.from_dict(
        {
            "rates": [
                {"base": "USD", "quote": "CNY", "effective": "2025-01-01", "rate": "7.10"},
                {"base": "USD", "quote": "CNY", "effective": "2025-03-01", "rate": "7.25"},
                {"base": "JPY", "quote": "CNY", "effective": "2025-01-01", "rate": "0.048"},
            ]
        }
    )


def test_the_rate_in_force_is_the_latest_on_or_before_the_day() -> None:
    rates = usd_cny()
    # 100 USD in February: the January rate, 100 × 7.10 = 710.00 CNY
    assert rates.convert(Money.of("100", "USD"), "CNY", on=date(2025, 2, 28)) == Money.of(
        "710.00", "CNY"
    )
    # from 1 March on (inclusive) the new rate: 100 × 7.25 = 725.00
    assert rates.convert(Money.of("100", "USD"), "CNY", on=MAR).amount == Decimal("725.00")
    # an instant is read as its UTC date: 23:30 on 28 Feb in UTC-1 is 00:30 on 1 March UTC
    late = datetime(2025, 2, 28, 23, 30, tzinfo=timezone(timedelta(hours=-1)))
    assert rates.rate("USD", "CNY", on=late) == Decimal("7.25")


def test_a_day_before_every_rate_is_a_typed_error_naming_the_pair() -> None:
    with pytest.raises(CurrencyMismatchError) as err:
        usd_cny().rate("USD", "CNY", on=date(2024, 12, 31))
    assert err.value.currencies == ("USD", "CNY")
    assert "USD/CNY" in str(err.value) and "2024-12-31" in str(err.value)
    with pytest.raises(CurrencyMismatchError):  # no cross rate through CNY
        usd_cny().rate("JPY", "USD", on=MAR)


def test_the_reverse_direction_divides_and_rounds_to_the_target_minor_units() -> None:
    rates = usd_cny()
    # 710 CNY → USD in February: 710 / 7.10 = 100.00 USD exactly
    assert rates.convert(Money.of("710", "CNY"), "USD", on=date(2025, 2, 1)) == Money.of(
        "100.00", "USD"
    )
    # 120,000 JPY → CNY: 120000 × 0.048 = 5,760.00 CNY; 1,000 CNY → JPY: 1000 / 0.048 = 20833.33…
    # → 20,833 JPY (no minor unit)
    assert rates.convert(Money.of("120000", "JPY"), "CNY", on=JAN).amount == Decimal("5760.00")
    assert rates.convert(Money.of("1000", "CNY"), "JPY", on=JAN) == Money.of("20833", "JPY")


def test_halves_round_to_even() -> None:
    assert round_to_minor_units(Decimal("7.125"), "CNY") == Decimal("7.12")
    assert round_to_minor_units(Decimal("7.135"), "CNY") == Decimal("7.14")
    assert round_to_minor_units(Decimal("2.5"), "JPY") == Decimal("2")
    assert round_to_minor_units(Decimal("1.0005"), "BHD") == Decimal("1.000")


def test_bad_tables_name_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        ExchangeRates.from_dict(
            {
                "rates": [
                    {"base": "USD", "quote": "CNY", "effective": "2025-01-01", "rate": "7.1"},
                    {"base": "USD", "quote": "CNY", "effective": "2025-01-01", "rate": "7.2"},
                ]
            }
        )
    assert err.value.fields == ("rates[1].effective",)
    with pytest.raises(ConfigError) as err:
        ExchangeRates.from_dict(
            {"rates": [{"base": "USD", "quote": "CNY", "effective": "2025-01-01", "rate": 7.1}]}
        )
    assert err.value.fields == ("rates[0].rate",)  # a float is not an exact rate
    with pytest.raises(ConfigError) as err:
        ExchangeRates.from_dict(
            {"rates": [{"base": "XXY", "quote": "XXY", "effective": "2025-01-01", "rate": "1"}]}
        )
    assert set(err.value.fields) == {"rates[0].base", "rates[0].quote"}
    with pytest.raises(ConfigError) as err:
        ExchangeRate("USD", "CNY", JAN, Decimal("-1"))
    assert err.value.fields == ("rate",)
    with pytest.raises(ConfigError):
        ExchangeRates.from_dict({"rates": [], "source": "bank"})


def test_amount_in_refuses_without_rates_and_says_how_to_pass_them() -> None:
    with pytest.raises(CurrencyMismatchError) as err:
        amount_in(
            Money.of("5", "USD"),
            "CNY",
            rates=None,
            on=JAN,
            what="report",
            field="amount",
            how="pass rates= to report",
        )
    assert isinstance(err.value, ValidationError)
    assert err.value.currencies == ("CNY", "USD")
    assert "pass rates= to report" in str(err.value)


def test_closed_deals_convert_at_their_close_open_ones_at_the_evaluation_instant() -> None:
    t0 = datetime(2025, 1, 10, tzinfo=UTC)
    now = datetime(2025, 4, 1, tzinfo=UTC)
    closed_at = datetime(2025, 2, 1, tzinfo=UTC)
    base = {"name": "A", "created_at": t0, "owner_id": "u", "stage_entered_at": t0}
    won = Opportunity(id="w", stage="won", closed_at=closed_at, **base)  # type: ignore[arg-type]
    still_open = Opportunity(id="o", stage="proposal_quote", **base)  # type: ignore[arg-type]
    assert conversion_instant(won, now) == closed_at
    assert conversion_instant(still_open, now) == now
    assert conversion_instant(won, datetime(2025, 1, 20, tzinfo=UTC)) == datetime(
        2025, 1, 20, tzinfo=UTC
    )  # evaluated before it closed: it was open then


# --------------------------------------------------------------------------- properties

codes = st.sampled_from(["CNY", "USD", "EUR", "JPY", "GBP", "BHD"])
rates_ = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000"), places=4)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


def money_in(code: str) -> st.SearchStrategy[Money]:
    places = {"JPY": 0, "BHD": 3}.get(code, 2)
    return st.decimals(
        min_value=Decimal(0), max_value=Decimal("1e9"), places=places, allow_nan=False
    ).map(lambda a: Money.of(a, code))


@given(codes.flatmap(money_in), days)
def test_same_currency_is_the_identity(money: Money, day: date) -> None:
    assert ExchangeRates(()).convert(money, money.currency, on=day) == money


@given(st.lists(st.tuples(days, rates_), min_size=1, max_size=8, unique_by=lambda r: r[0]), days)
def test_the_rate_is_the_one_of_the_latest_row_not_after_the_day(
    rows: list[tuple[date, Decimal]], day: date
) -> None:
    table = ExchangeRates(tuple(ExchangeRate("USD", "CNY", d, r) for d, r in rows))
    in_force = [r for d, r in sorted(rows) if d <= day]
    if in_force:
        assert table.rate("USD", "CNY", on=day) == in_force[-1]
    else:
        with pytest.raises(CurrencyMismatchError):
            table.rate("USD", "CNY", on=day)


@given(money_in("USD"), rates_)
def test_there_and_back_loses_at_most_the_two_roundings(money: Money, rate: Decimal) -> None:
    table = ExchangeRates((ExchangeRate("USD", "CNY", JAN, rate),))
    there = table.convert(money, "CNY", on=JAN)
    back = table.convert(there, "USD", on=JAN)
    # there = a·r + e1 with |e1| ≤ 0.005 CNY; back = there / r + e2 with |e2| ≤ 0.005 USD
    bound = Decimal("0.005") / rate + Decimal("0.005") + Decimal("1e-20")
    assert abs(back.amount - money.amount) <= bound
    assert there.amount.as_tuple().exponent == -2


@given(st.lists(st.tuples(codes, codes, days, rates_), max_size=6))
def test_tables_round_trip_as_plain_data(rows: list[tuple[str, str, date, Decimal]]) -> None:
    seen: set[tuple[str, str, date]] = set()
    kept = []
    for b, q, d, r in rows:
        if b != q and (b, q, d) not in seen:
            seen.add((b, q, d))
            kept.append(ExchangeRate(b, q, d, r))
    table = ExchangeRates(tuple(kept))
    assert ExchangeRates.from_dict(table.to_dict()) == table
