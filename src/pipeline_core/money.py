"""Money in one stated currency: a dated exchange-rate table, and conversion that never guesses.

Amounts of different currencies are never added, compared or banded as if they were one currency.
Wherever amounts meet (a scoring band, a stage guard, a segment's won amount, a forecast, a funnel
value) they are either in the same currency, or converted with an :class:`ExchangeRates` table
given by the caller, or refused with :class:`~pipeline_core.errors.CurrencyMismatchError`, which
names the currencies and the option that takes the rates.

The table is data (``ExchangeRates.from_dict`` / ``to_dict``)::

    {"rates": [{"base": "USD", "quote": "CNY", "effective": "2025-01-01", "rate": "7.10"},
               {"base": "JPY", "quote": "CNY", "effective": "2025-01-01", "rate": "0.048"}]}

A row says: from ``effective`` (a calendar date, inclusive) until the next row of the same pair,
1 ``base`` = ``rate`` ``quote``. The reverse direction uses ``1 / rate`` unless the table has its
own row for it (that row wins). There are no cross rates: JPY → USD needs a JPY/USD (or USD/JPY)
row, it is not routed through CNY.

Which date's rate (:func:`conversion_instant`):

- a **closed** deal converts at its close date (``closed_at``): revenue is worth what it was
  worth when it was won;
- an **open** deal, a budget, a threshold compare converts at the *evaluation instant* (the
  ``at=`` of the call): what the pipeline is worth now.

An instant is mapped to its calendar date in UTC before the rate is looked up.

Rounding: the converted amount is ``amount × rate`` computed exactly with ``Decimal`` and then
rounded once to the target currency's minor units (ISO 4217: 2 for CNY/USD, 0 for JPY, 3 for
BHD) with ``ROUND_HALF_EVEN`` (halves to the even last digit, so repeated conversions do not
drift upwards).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Annotated, Any

import attrs
import pydantic
from pydantic import Field

from pipeline_core._deprecation import renamed_params
from pipeline_core._model import problems_from_pydantic
from pipeline_core._values import is_currency_code, minor_units
from pipeline_core.errors import ConfigError, CurrencyMismatchError, Problem
from pipeline_core.records import Money, Opportunity

__all__ = [
    "ExchangeRate",
    "ExchangeRates",
    "amount_in",
    "conversion_instant",
    "currency_mismatch",
    "round_to_minor_units",
]


def round_to_minor_units(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded to ``currency``'s minor units (ISO 4217) with ``ROUND_HALF_EVEN``.

    >>> round_to_minor_units(Decimal("100.125"), "CNY"), round_to_minor_units(Decimal("2.5"), "JPY")
    (Decimal('100.12'), Decimal('2'))
    """
    places = minor_units(currency)
    exponent = Decimal(1).scaleb(-places)
    with localcontext() as ctx:
        ctx.prec = max(28, amount.adjusted() + places + 2)
        return amount.quantize(exponent, rounding=ROUND_HALF_EVEN)


def _rate_problems(data: Any, path: tuple[str | int, ...]) -> list[Problem]:
    """Every problem with one rate's values (currencies known and different, rate > 0)."""
    problems: list[Problem] = []
    for name in ("base", "quote"):
        code = getattr(data, name)
        if not is_currency_code(code):
            problems.append(
                Problem((*path, name), "not an ISO 4217 currency code", code, "currency")
            )
    if data.base == data.quote:
        problems.append(
            Problem((*path, "quote"), "a rate converts between two currencies", data.quote, "same")
        )
    if not isinstance(data.effective, date) or isinstance(data.effective, datetime):
        problems.append(
            Problem((*path, "effective"), "a calendar date", data.effective, "date_type")
        )
    rate = data.rate
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
        problems.append(Problem((*path, "rate"), "a positive finite Decimal", rate, "rate"))
    return problems


def _to_decimal(value: Any) -> Any:
    """An int or a decimal string as its exact ``Decimal``; anything else is left for validation."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value


def _rows(value: Iterable[ExchangeRate]) -> tuple[ExchangeRate, ...]:
    return tuple(value)


@attrs.frozen
class ExchangeRate:
    """One row: from ``effective`` (inclusive) on, 1 ``base`` = ``rate`` ``quote``.

    ``rate`` is a ``Decimal`` (or an int or a decimal string, converted exactly; floats are
    refused). :class:`~pipeline_core.errors.ConfigError` names every bad field.
    """

    base: str
    quote: str
    effective: date
    rate: Decimal = attrs.field(converter=_to_decimal)

    def __attrs_post_init__(self) -> None:
        problems = _rate_problems(self, ())
        if problems:
            raise ConfigError("ExchangeRate", problems)

    def to_dict(self) -> dict[str, str]:
        """Plain data: ``{"base", "quote", "effective" (ISO date), "rate" (decimal string)}``."""
        return {
            "base": self.base,
            "quote": self.quote,
            "effective": self.effective.isoformat(),
            "rate": str(self.rate),
        }


class _RateModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    base: Annotated[str, Field(min_length=3, max_length=3)]
    quote: Annotated[str, Field(min_length=3, max_length=3)]
    effective: date
    rate: Annotated[Decimal, Field(gt=0, allow_inf_nan=False), pydantic.Strict(False)]

    @pydantic.field_validator("rate", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        if isinstance(value, float | bool):
            raise ValueError("give the rate as a decimal string such as '7.10', not a float")
        return value


class _TableModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    rates: list[_RateModel]


@attrs.frozen
class ExchangeRates:
    """A dated exchange-rate table: every :class:`ExchangeRate` row, validated on construction.

    The same pair (``base``, ``quote``) may not have two rows on one ``effective`` date
    (:class:`~pipeline_core.errors.ConfigError`, field ``rates[i].effective``).

    >>> rates = ExchangeRates.from_dict({"rates": [
    ...     {"base": "USD", "quote": "CNY", "effective": "2025-01-01", "rate": "7.10"},
    ...     {"base": "USD", "quote": "CNY", "effective": "2025-03-01", "rate": "7.25"}]})
    >>> rates.convert(Money.of("100", "USD"), "CNY", on=date(2025, 2, 1))
    Money(amount=Decimal('710.00'), currency='CNY')
    >>> rates.rate("USD", "CNY", on=date(2025, 3, 1))
    Decimal('7.25')
    """

    rates: tuple[ExchangeRate, ...] = attrs.field(converter=_rows)
    _index: dict[tuple[str, str], tuple[list[date], list[Decimal]]] = attrs.field(
        init=False, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        seen: dict[tuple[str, str, date], int] = {}
        by_pair: dict[tuple[str, str], list[tuple[date, Decimal]]] = {}
        for i, row in enumerate(self.rates):
            if not isinstance(row, ExchangeRate):
                problems.append(Problem(("rates", i), "not an ExchangeRate", row, "rate_type"))
                continue
            key = (row.base, row.quote, row.effective)
            if key in seen:
                problems.append(
                    Problem(
                        ("rates", i, "effective"),
                        f"{row.base}/{row.quote} already has a rate on this date (rates[{seen[key]}])",
                        row.effective.isoformat(),
                        "duplicate",
                    )
                )
                continue
            seen[key] = i
            by_pair.setdefault((row.base, row.quote), []).append((row.effective, row.rate))
        if problems:
            raise ConfigError("ExchangeRates", problems)
        index: dict[tuple[str, str], tuple[list[date], list[Decimal]]] = {}
        for pair, rows in by_pair.items():
            rows.sort()
            index[pair] = ([d for d, _ in rows], [r for _, r in rows])
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExchangeRates:
        """Validate plain data (see the module doc); :class:`~pipeline_core.errors.ConfigError`
        lists every problem with its path (``rates[2].rate``)."""
        try:
            model = _TableModel.model_validate(data)
        except pydantic.ValidationError as exc:
            raise ConfigError("ExchangeRates", problems_from_pydantic(exc)) from None
        problems = []
        for i, m in enumerate(model.rates):
            problems.extend(_rate_problems(m, ("rates", i)))
        if problems:
            raise ConfigError("ExchangeRates", problems)
        return cls(tuple(ExchangeRate(m.base, m.quote, m.effective, m.rate) for m in model.rates))

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` reads back to an equal table."""
        return {"rates": [r.to_dict() for r in self.rates]}

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of :meth:`from_dict`'s input."""
        return _TableModel.model_json_schema()

    def _lookup(self, base: str, quote: str, on: date) -> Decimal | None:
        entry = self._index.get((base, quote))
        if entry is None:
            return None
        dates, values = entry
        i = bisect.bisect_right(dates, on)
        return values[i - 1] if i else None

    def rate(self, base: str, quote: str, *, on: date | datetime) -> Decimal:
        """How many ``quote`` one ``base`` is worth on ``on`` (a datetime is read as its UTC date).

        The row of the pair with the latest ``effective`` ≤ ``on``; else ``1 / rate`` of the
        reverse pair's row; ``1`` for the same currency.
        :class:`~pipeline_core.errors.CurrencyMismatchError` when the table has no rate for that
        pair on that date.
        """
        day = _day(on)
        if base == quote:
            return Decimal(1)
        direct = self._lookup(base, quote, day)
        if direct is not None:
            return direct
        reverse = self._lookup(quote, base, day)
        if reverse is not None:
            with localcontext() as ctx:
                ctx.prec = 34
                return Decimal(1) / reverse
        raise CurrencyMismatchError(
            "exchange rates",
            [
                Problem(
                    ("rates",),
                    f"no {base}/{quote} rate effective on or before {day.isoformat()}: add a row "
                    f"{{'base': '{base}', 'quote': '{quote}', 'effective': ..., 'rate': ...}}",
                    [base, quote],
                    "missing_rate",
                )
            ],
            currencies=(base, quote),
        )

    def convert(self, money: Money, currency: str, *, on: date | datetime) -> Money:
        """``money`` in ``currency`` at the rate in force on ``on``, rounded to ``currency``'s
        minor units (``ROUND_HALF_EVEN``). The same currency comes back unchanged."""
        if money.currency == currency:
            return money
        rate = self.rate(money.currency, currency, on=on)
        with localcontext() as ctx:
            ctx.prec = 60
            exact = money.amount * rate
        return Money.of(round_to_minor_units(exact, currency), currency)


def _day(on: date | datetime) -> date:
    if isinstance(on, datetime):
        if on.utcoffset() is None:
            raise CurrencyMismatchError(
                "exchange rates",
                [Problem(("on",), "a timezone-aware instant", on, "timezone_aware")],
            )
        return on.astimezone(UTC).date()
    return on


@renamed_params(at="as_of")
def conversion_instant(opportunity: Opportunity, as_of: datetime) -> datetime:
    """The instant whose rate converts ``opportunity``'s amount when evaluated at ``as_of``: its
    ``closed_at`` when it closed at or before ``as_of`` (a closed deal keeps the value it was won
    or lost at), else ``as_of`` (an open deal is worth what it is worth then). ``at=`` is the
    deprecated name of ``as_of``."""
    closed = opportunity.closed_at
    return closed if closed is not None and closed <= as_of else as_of


def currency_mismatch(
    what: str,
    field: str | tuple[str | int, ...],
    currencies: Iterable[str],
    how: str,
) -> CurrencyMismatchError:
    """The error for amounts in ``currencies`` meeting in ``what`` without rates.

    ``how`` says how to pass rates to *this* caller (name only options that exist, e.g.
    ``"pass rates= and currency= to weighted_forecast"``).
    """
    found = sorted(set(currencies))
    path = (field,) if isinstance(field, str) else field
    return CurrencyMismatchError(
        what,
        [
            Problem(
                path,
                f"amounts in {', '.join(found)} cannot be compared or summed as one currency: {how}",
                found,
                "mixed_currency",
            )
        ],
        currencies=found,
    )


def amount_in(
    money: Money,
    currency: str,
    *,
    rates: ExchangeRates | None,
    on: date | datetime,
    what: str,
    field: str | tuple[str | int, ...],
    how: str,
) -> Decimal:
    """The amount of ``money`` in ``currency``: its own amount when the currencies agree, else
    converted with ``rates`` at ``on``; without rates a :class:`CurrencyMismatchError` naming both
    currencies, ``field`` and ``how`` (the caller's option that takes rates)."""
    if money.currency == currency:
        return money.amount
    if rates is None:
        raise currency_mismatch(what, field, (money.currency, currency), how)
    return rates.convert(money, currency, on=on).amount
