"""Cell parsers: one cell of a spreadsheet or CRM export in, one field value out, or a refusal.

Every parser is a pure function. It returns the value, or raises :class:`ParseError` carrying
the reason (``reason``), a stable ``code`` and the offending value. Nothing is guessed: a value that
could be read two ways is refused (``code="ambiguous"``), never read the likelier way.

- :func:`parse_money`: ``"￥1,200.50"``, ``"200,000"``, ``"30万"``, ``"1.2亿"`` in a stated currency;
- :func:`parse_instant`: ``"2025/3/21 9:01"``, ``"2025年3月21日"``, ISO 8601, date-only values at a
  stated time of day, Excel serial numbers only when the column is declared a date column, always
  with an explicit zone;
- :func:`parse_date`: a calendar date (``Opportunity.expected_close``);
- :func:`split_list`: tags split on ``、,;，；``;
- :func:`parse_bool`, :func:`lookup`: booleans (是/否, yes/no) and values from a closed set, with
  aliases (决策人 → ``decision_maker``);
- :func:`parse_int`, :func:`parse_probability`: whole numbers with thousands separators, and
  probabilities written ``0.3`` or ``30%``;
- :func:`slug`: an id made from a name (``"Moses  Frase"`` → ``moses-frase``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline_core.errors import Problem, ValidationError
from pipeline_core.money import round_to_minor_units
from pipeline_core.records import Money

__all__ = [
    "BOOLEAN_WORDS",
    "LIST_SEPARATORS",
    "DateOrder",
    "ParseError",
    "lookup",
    "parse_bool",
    "parse_date",
    "parse_instant",
    "parse_int",
    "parse_money",
    "parse_probability",
    "slug",
    "split_list",
    "zone_named",
]

DateOrder = Literal["YMD", "DMY", "MDY"]
"""The order of a date's parts where it is not evident from the text (``03/04/2025``)."""


class ParseError(ValidationError):
    """One cell could not be read as the value its column holds.

    ``reason`` says why (what was expected), ``code`` is stable (``"ambiguous"``, ``"money"``,
    ``"currency_mismatch"``, ``"decimal_places"``, ``"date_order"``, ``"excel_serial"``,
    ``"no_time_of_day"``, ``"nonexistent_time"``, ``"ambiguous_time"``, ``"instant"``, ``"not_allowed"``,
    ``"timezone_offset"`` ...), ``value`` is the cell as given. A :class:`~pipeline_core.errors.ValidationError` (and so a
    ``ValueError``) with one :class:`~pipeline_core.errors.Problem`; :func:`map_rows
    <pipeline_core.ingest.apply.map_rows>` turns it into a row problem naming the column.
    """

    def __init__(self, reason: str, value: Any, code: str = "invalid") -> None:
        self.reason = reason
        self.value = value
        self.code = code
        super().__init__("a cell", [Problem((), reason, value, code)])


# --------------------------------------------------------------------------- numbers

_GROUPED: Final = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?", re.ASCII)
_PLAIN: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_MULTIPLIERS: Final = {"千": 3, "万": 4, "亿": 8}

_SYMBOLS: Final[dict[str, frozenset[str]]] = {
    "￥": frozenset({"CNY", "JPY"}),
    "¥": frozenset({"CNY", "JPY"}),
    "RMB": frozenset({"CNY"}),
    "人民币": frozenset({"CNY"}),
    "元": frozenset({"CNY"}),
    "$": frozenset({"USD", "HKD", "SGD", "AUD", "CAD", "NZD", "TWD"}),
    "US$": frozenset({"USD"}),
    "HK$": frozenset({"HKD"}),
    "€": frozenset({"EUR"}),
    "£": frozenset({"GBP"}),
}
_SYMBOL_RE: Final = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_MONEY: Final = re.compile(
    rf"(?P<pre>{_SYMBOL_RE}|[A-Z]{{3}})?\s*(?P<num>[0-9][0-9,.]*)\s*"
    rf"(?P<mult>[千万亿])?\s*(?P<post>{_SYMBOL_RE}|[A-Z]{{3}})?"
)


def _number(text: str, value: Any) -> Decimal:
    """ASCII digits, optionally grouped by commas in threes, optionally with a decimal point."""
    if not (_GROUPED.fullmatch(text) or _PLAIN.fullmatch(text)):
        if "," in text:
            raise ParseError(
                "commas must group digits in threes before an optional decimal point "
                "('1,234,567.89'); this one can be read more than one way",
                value,
                "ambiguous",
            )
        raise ParseError("expected a number written with ASCII digits", value, "number")
    return Decimal(text.replace(",", ""))


@functools.lru_cache(maxsize=64)
def _check_currency(currency: str) -> None:
    try:
        Money.of(0, currency)
    except ValidationError:
        raise ParseError(
            "unknown currency: expected an ISO 4217 code such as 'CNY'", currency, "currency"
        ) from None


def _exponent(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _places(currency: str) -> int:
    return -_exponent(round_to_minor_units(Decimal(0), currency))


def parse_money(text: Any, currency: str) -> Money:
    """``text`` read as an amount of ``currency`` (an ISO 4217 code): a :class:`Money`.

    Accepted: ASCII digits with an optional decimal point (``"1200.50"``); commas grouping digits
    in threes (``"200,000"``, ``"1,200.50"``); a currency symbol or code before or after that
    agrees with ``currency`` (``"￥150,000.00"``, ``"150000元"``, ``"RMB 30"``, ``"USD 12"``);
    the Chinese multipliers 千 (10³), 万 (10⁴) and 亿 (10⁸) (``"30万"`` = 300,000; ``"1.2亿"`` =
    120,000,000; ``"30万元"``); an ``int``, a ``Decimal`` or a ``float`` cell (a spreadsheet's
    number, read by its shortest ``repr``). Trailing zeros beyond the currency's minor units are
    dropped (``"100.000"`` JPY is 100); other digits beyond them are refused.

    Raises :class:`ParseError`: ``"ambiguous"`` (``"1,234.5,6"``, ``"1,23"``), ``"money"``
    (negative amounts, other text), ``"currency_mismatch"`` (``"$5"`` in CNY),
    ``"decimal_places"`` (``"1.234"`` in CNY: is it 1.234 or 1,234?).

    >>> str(parse_money("￥150,000.00", "CNY"))
    '150000.00 CNY'
    >>> str(parse_money("1.2亿", "CNY"))
    '120000000 CNY'
    """
    _check_currency(currency)
    if isinstance(text, bool):
        raise ParseError("expected an amount, not a true/false value", text, "money")
    if isinstance(text, int):
        amount = Decimal(text)
    elif isinstance(text, float):
        if text != text or text in (float("inf"), float("-inf")):
            raise ParseError("expected an amount, not NaN or infinity", text, "money")
        amount = Decimal(repr(text))
    elif isinstance(text, Decimal):
        amount = text
    elif isinstance(text, str):
        amount = _money_text(text.strip(), currency, text)
    else:
        raise ParseError(f"expected an amount, not {type(text).__name__}", text, "money")
    if not amount.is_finite() or amount.is_signed():
        raise ParseError("an amount is a number of 0 or more", text, "money")
    rounded = round_to_minor_units(amount, currency)
    if rounded != amount:
        raise ParseError(
            f"{currency} amounts carry at most {_places(currency)} decimal places",
            text,
            "decimal_places",
        )
    if -_exponent(amount) > _places(currency):
        amount = rounded  # only zeros beyond the minor units: no value lost
    return Money.of(amount, currency)


def _money_text(text: str, currency: str, value: Any) -> Decimal:
    if text.startswith(("-", "−", "(")):
        raise ParseError("an amount is never negative", value, "money")
    found = _MONEY.fullmatch(text)
    if not found:
        raise ParseError(
            "expected an amount such as '1,200.50', '￥150,000.00', '30万' or '1.2亿'",
            value,
            "money",
        )
    for mark in (found["pre"], found["post"]):
        if mark is None:
            continue
        allowed = _SYMBOLS.get(mark, frozenset({mark}))
        if currency not in allowed:
            raise ParseError(
                f"the amount is marked {mark!r} but the column's currency is {currency}",
                value,
                "currency_mismatch",
            )
    amount = _number(found["num"], value)
    if found["mult"]:
        amount = amount.scaleb(_MULTIPLIERS[found["mult"]])
        if amount == amount.to_integral_value():
            amount = amount.quantize(Decimal(1))
    return amount


def parse_int(text: Any) -> int:
    """``text`` read as a whole number of 0 or more: ``"1200"``, ``"1,200"``, an ``int`` or an
    integral ``float`` cell. A range (``"50-99"``), a fraction or other text is refused
    (:class:`ParseError`, code ``"number"`` or ``"ambiguous"``)."""
    if isinstance(text, bool):
        raise ParseError("expected a whole number, not a true/false value", text, "number")
    if isinstance(text, int):
        number = Decimal(text)
    elif isinstance(text, float) and text == text and text.is_integer():
        number = Decimal(int(text))
    elif isinstance(text, str):
        number = _number(text.strip(), text)
    else:
        raise ParseError("expected a whole number", text, "number")
    if number != number.to_integral_value() or number < 0:
        raise ParseError("expected a whole number of 0 or more", text, "number")
    return int(number)


def parse_probability(text: Any) -> float:
    """``text`` read as a probability between 0 and 1: ``"0.3"``, ``"30%"``, a number cell.
    A number above 1 without ``%`` (``"30"``: 30% or a mistake?) is refused as ``"ambiguous"``."""
    if isinstance(text, bool):
        raise ParseError("expected a probability, not a true/false value", text, "probability")
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = Decimal(repr(float(text)))
    elif isinstance(text, str):
        raw = text.strip()
        percent = raw.endswith(("%", "％"))
        if percent:
            raw = raw[:-1].strip()
        if not _PLAIN.fullmatch(raw):
            raise ParseError("expected a probability such as 0.3 or 30%", text, "probability")
        value = Decimal(raw) / (100 if percent else 1)
    else:
        raise ParseError("expected a probability", text, "probability")
    if value > 1:
        raise ParseError(
            "a probability above 1 without a % sign: write 30% or 0.3", text, "ambiguous"
        )
    return float(value)


# --------------------------------------------------------------------------- instants


def zone_named(name: str | tzinfo) -> tzinfo:
    """The time zone ``name`` names (an IANA name such as ``"Asia/Shanghai"``), or ``name``
    itself when it already is a ``tzinfo``. Raises :class:`ParseError` (code ``"timezone"``)."""
    if isinstance(name, tzinfo):
        return name
    try:
        if name in ("localtime", "posixrules", "Factory") or name.startswith(("posix/", "right/")):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ParseError(
            "unknown IANA time zone; expected e.g. 'Asia/Shanghai'", name, "timezone"
        ) from None


_EXCEL_EPOCH: Final = datetime(1899, 12, 30)  # noqa: DTZ001 - a wall-clock base, zoned below
_TIME: Final = r"(?:[ T]+(?P<h>[0-9]{1,2})[:：](?P<mi>[0-9]{2})(?:[:：](?P<s>[0-9]{2})(?:\.(?P<f>[0-9]{1,6}))?)?)?"
_YMD: Final = re.compile(
    rf"(?P<y>[0-9]{{4}})(?P<sep>[-/.])(?P<m>[0-9]{{1,2}})(?P=sep)(?P<d>[0-9]{{1,2}}){_TIME}",
    re.ASCII,
)
_CJK: Final = re.compile(
    r"(?P<y>[0-9]{4})年(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})[日号]?"
    r"(?:\s*(?P<h>[0-9]{1,2})[:：时点](?P<mi>[0-9]{2})?分?(?:[:：](?P<s>[0-9]{2})秒?)?)?"
)
_XYZ: Final = re.compile(
    rf"(?P<a>[0-9]{{1,2}})(?P<sep>[-/.])(?P<b>[0-9]{{1,2}})(?P=sep)(?P<y>[0-9]{{4}}){_TIME}",
    re.ASCII,
)
_OFFSET: Final = re.compile(r".*(?:[Zz]|[+-][0-9]{2}:?[0-9]{2})")
_SERIAL: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


def _localise(wall: datetime, zone: tzinfo, value: Any) -> datetime:
    """``wall`` (naive) as an instant in ``zone``; refused where the wall time does not exist
    (a DST gap) or exists twice (a DST fold)."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        roundtrip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if roundtrip != wall:
            raise ParseError(
                f"{wall.isoformat(sep=' ')} does not exist in {zone} (clocks were put forward)",
                value,
                "nonexistent_time",
            )
        raise ParseError(
            f"{wall.isoformat(sep=' ')} happens twice in {zone} (clocks were put back): "
            "write it with its UTC offset",
            value,
            "ambiguous_time",
        )
    return first


def _no_time(value: Any) -> ParseError:
    return ParseError(
        "a date without a time of day: declare the time of day for date-only values "
        "(time_of_day in the mapping)",
        value,
        "no_time_of_day",
    )


def _wall(y: int, m: int, d: int, h: int, mi: int, s: int, us: int, value: Any) -> datetime:
    try:
        return datetime(y, m, d, h, mi, s, us)  # noqa: DTZ001 - zoned by the caller
    except ValueError as exc:
        raise ParseError(f"not a real date or time: {exc}", value, "instant") from None


def parse_instant(
    text: Any,
    *,
    zone: str | tzinfo,
    time_of_day: time | None = None,
    excel_serial: bool = False,
    date_order: DateOrder | None = None,
    format: str | None = None,
) -> datetime:
    """``text`` read as a timezone-aware instant; wall times are in ``zone``.

    Accepted: ISO 8601 (``"2025-03-21T09:01"``, with an offset or ``Z`` kept as written);
    year-first dates with ``-``, ``/`` or ``.`` and an optional ``H:MM[:SS]`` (``"2025/3/21 9:01"``);
    Chinese dates (``"2025年3月21日"``, ``"2025年3月21日 9:01"``, ``"2025年3月21日9点"``);
    day-first or month-first dates (``"21/03/2025"``) only with ``date_order`` (``"DMY"`` or
    ``"MDY"``); with ``format``, exactly that ``strptime`` format. A ``datetime`` cell (a
    spreadsheet's) is kept when aware and read in ``zone`` when naive; a ``date`` cell and every
    date-only text is at ``time_of_day`` in ``zone``. Numbers (and digits-only text) are Excel
    serial day numbers (1900 system: 45737 = 2025-03-21) only with ``excel_serial=True``.

    Raises :class:`ParseError`: ``"date_order"`` (``"03/04/2025"`` without ``date_order``),
    ``"excel_serial"`` (a number where no date column is declared, or a serial before 1900-03-01),
    ``"no_time_of_day"`` (a date-only value without ``time_of_day``), ``"nonexistent_time"`` /
    ``"ambiguous_time"`` (a wall time in a DST gap or fold), ``"instant"`` (other text).

    >>> parse_instant("2025/3/21 9:01", zone="Asia/Shanghai").isoformat()
    '2025-03-21T09:01:00+08:00'
    """
    tz = zone_named(zone)
    if isinstance(text, datetime):
        if text.tzinfo is not None and text.utcoffset() is not None:
            return text
        return _localise(text.replace(tzinfo=None), tz, text)
    if isinstance(text, date):
        if time_of_day is None:
            raise _no_time(text)
        return _localise(datetime.combine(text, time_of_day), tz, text)
    if isinstance(text, bool):
        raise ParseError("expected a date and time, not a true/false value", text, "instant")
    if isinstance(text, int | float | Decimal) or (
        isinstance(text, str) and _SERIAL.fullmatch(text.strip())
    ):
        return _serial(text, tz, time_of_day, excel_serial)
    if not isinstance(text, str):
        raise ParseError(f"expected a date and time, not {type(text).__name__}", text, "instant")
    raw = text.strip()
    if format is not None:
        try:
            parsed = datetime.strptime(raw, format)  # noqa: DTZ007 - zoned below when naive
        except ValueError:
            raise ParseError(
                f"expected a date and time in the format {format!r}", text, "instant"
            ) from None
        if parsed.tzinfo is not None:
            return parsed
        if not any(code in format for code in ("%H", "%I", "%M", "%X", "%c", "%T")):
            if time_of_day is None:
                raise _no_time(text)
            parsed = datetime.combine(parsed.date(), time_of_day)
        return _localise(parsed, tz, text)
    if "T" in raw or _OFFSET.fullmatch(raw):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise ParseError("not a valid ISO 8601 date and time", text, "instant") from None
        if parsed.tzinfo is not None:
            return parsed
        return _localise(parsed, tz, text)
    found = _YMD.fullmatch(raw) or _CJK.fullmatch(raw)
    order: str = "YMD"
    if found is None:
        found = _XYZ.fullmatch(raw)
        if found is None:
            raise ParseError(
                "expected a date and time such as '2025-03-21 09:01', '2025/3/21 9:01' or "
                "'2025年3月21日'",
                text,
                "instant",
            )
        if date_order is None or date_order == "YMD":
            raise ParseError(
                "day and month can be read either way: declare the date order (date_order = "
                "'DMY' or 'MDY')",
                text,
                "date_order",
            )
        order = date_order
    parts = found.groupdict()
    if order == "YMD":
        y, m, d = int(parts["y"]), int(parts["m"]), int(parts["d"])
    elif order == "DMY":
        y, m, d = int(parts["y"]), int(parts["b"]), int(parts["a"])
    else:
        y, m, d = int(parts["y"]), int(parts["a"]), int(parts["b"])
    if parts.get("h") is None:
        if time_of_day is None:
            raise _no_time(text)
        return _localise(
            datetime.combine(_wall(y, m, d, 0, 0, 0, 0, text).date(), time_of_day), tz, text
        )
    fraction = (parts.get("f") or "").ljust(6, "0")
    wall = _wall(
        y,
        m,
        d,
        int(parts["h"]),
        int(parts["mi"] or 0),
        int(parts["s"] or 0),
        int(fraction or 0),
        text,
    )
    return _localise(wall, tz, text)


def _serial(text: Any, tz: tzinfo, time_of_day: time | None, excel_serial: bool) -> datetime:
    if not excel_serial:
        raise ParseError(
            "a number is not a date here: Excel serial day numbers are read only in a column "
            "declared as a date column",
            text,
            "excel_serial",
        )
    try:
        serial = Decimal(
            text.strip()
            if isinstance(text, str)
            else repr(text)
            if isinstance(text, float)
            else text
        )
    except InvalidOperation:
        raise ParseError("expected an Excel serial day number", text, "excel_serial") from None
    if not serial.is_finite() or serial < 61 or serial >= 2958466:
        raise ParseError(
            "an Excel serial day number from 61 (1900-03-01) to 2958465 (9999-12-31)",
            text,
            "excel_serial",
        )
    days = int(serial)
    wall = _EXCEL_EPOCH + timedelta(days=days)
    if serial == days:
        if time_of_day is None:
            raise _no_time(text)
        return _localise(datetime.combine(wall.date(), time_of_day), tz, text)
    seconds = round((serial - days) * 86400)
    return _localise(wall + timedelta(seconds=seconds), tz, text)


def parse_date(
    text: Any, *, date_order: DateOrder | None = None, excel_serial: bool = False
) -> date:
    """``text`` read as a calendar date (no time, no zone): the date forms of
    :func:`parse_instant`, a ``date`` cell, or a midnight ``datetime`` cell. A value with a time
    of day other than midnight is refused (``"instant"``): a date column holds dates."""
    if isinstance(text, datetime):
        if text.time() != time(0) or text.tzinfo is not None:
            raise ParseError("expected a date without a time of day", text, "instant")
        return text.date()
    if isinstance(text, date):
        return text
    at = parse_instant(
        text, zone="UTC", time_of_day=time(0), excel_serial=excel_serial, date_order=date_order
    )
    if at.time() != time(0) or (isinstance(text, str) and ":" in text):
        raise ParseError("expected a date without a time of day", text, "instant")
    return at.date()


# --------------------------------------------------------------------------- lists and words

LIST_SEPARATORS: Final = "、,;，；"
"""Where :func:`split_list` splits by default: 、 , ; and the full-width ， ；."""


def split_list(text: Any, separators: str = LIST_SEPARATORS) -> tuple[str, ...]:
    """``text`` split at every one of ``separators``, each item stripped of surrounding white
    space, empty items dropped (``"a、b,,c；"`` gives ``("a", "b", "c")``). A list or tuple cell
    gives its items as text."""
    if isinstance(text, list | tuple):
        return tuple(str(item).strip() for item in text if str(item).strip())
    if not isinstance(text, str):
        raise ParseError("expected text to split into a list", text, "list")
    if not separators:
        raise ParseError("no list separators given", text, "list")
    pattern = "[" + re.escape(separators) + "]"
    return tuple(item.strip() for item in re.split(pattern, text) if item.strip())


BOOLEAN_WORDS: Final[Mapping[str, bool]] = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
    "1": True,
    "0": False,
    "是": True,
    "否": False,
    "有": True,
    "无": False,
    "对": True,
    "错": False,
}
"""Words :func:`parse_bool` reads (compared case-insensitively)."""


def _alias(text: str, aliases: Mapping[str, str]) -> str:
    if text in aliases:
        return aliases[text]
    folded = text.casefold()
    hits = {v for k, v in aliases.items() if k.casefold() == folded}
    if len(hits) == 1:
        return hits.pop()
    return text


def parse_bool(text: Any, aliases: Mapping[str, str] | None = None) -> bool:
    """``text`` read as true or false: a ``bool`` cell, one of :data:`BOOLEAN_WORDS` (是/否,
    yes/no, true/false, 1/0), or a word that ``aliases`` maps onto one of them. Anything else is
    refused (``"not_allowed"``)."""
    if isinstance(text, bool):
        return text
    if isinstance(text, int) and text in (0, 1):
        return bool(text)
    if isinstance(text, str):
        word = _alias(text.strip(), aliases or {}).casefold()
        if word in BOOLEAN_WORDS:
            return BOOLEAN_WORDS[word]
    raise ParseError("expected yes or no (是/否, true/false, 1/0)", text, "not_allowed")


def lookup(text: Any, allowed: Collection[str], aliases: Mapping[str, str] | None = None) -> str:
    """``text`` (stripped) as one of ``allowed``: itself when allowed, else what ``aliases`` maps
    it to (exactly, or case-insensitively when that picks one alias). Anything else is refused
    (``"not_allowed"``, the reason lists the allowed values)."""
    if isinstance(text, str):
        word = _alias(text.strip(), aliases or {})
        if word in allowed:
            return word
    shown = ", ".join(sorted(allowed))
    raise ParseError(
        f"expected one of: {shown} (or an alias the mapping declares)", text, "not_allowed"
    )


_SPACES: Final = re.compile(r"\s+")


def slug(text: Any) -> str:
    """An id made from a name: NFKC-normalised, case-folded, white space runs turned into one
    ``-``, stripped (``" Moses  Frase"`` → ``"moses-frase"``; the ids ``owners.create_missing``
    gives new users). A cell with no letters or digits left, or not text, is refused
    (``"slug"``)."""
    if isinstance(text, str):
        words = _SPACES.split(unicodedata.normalize("NFKC", text).strip().casefold())
        out = "-".join(w for w in words if w)
        if any(ch.isalnum() for ch in out):
            return out
    raise ParseError("expected a name to make an id from (letters or digits)", text, "slug")
