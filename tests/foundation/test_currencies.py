"""The currency table against the dated ISO 4217 list one (the ``iso4217`` dev dependency)."""

from __future__ import annotations

from decimal import Decimal

import iso4217  # dev dependency: ISO 4217 list one as published by SIX, with its date
import pytest

from pipeline_core._currencies import (
    ACTIVE,
    ISO_4217_PUBLISHED,
    MINOR_UNITS,
    NOT_TENDER,
    WITHDRAWN,
)
from pipeline_core.errors import ValidationError
from pipeline_core.records import Money


def _list_one() -> dict[str, tuple[str, bool]]:
    """Code -> (minor units as written, is a fund) from the package's copy of list one."""
    out: dict[str, tuple[str, bool]] = {}
    for entry in iso4217.raw_xml.findall("CcyTbl/CcyNtry"):
        code = entry.find("Ccy")
        if code is None or code.text is None:  # a country without a currency (Antarctica)
            continue
        name = entry.find("CcyNm")
        units = entry.find("CcyMnrUnts")
        fund = name is not None and name.get("IsFund") == "true"
        out[code.text.strip()] = ((units.text or "").strip() if units is not None else "", fund)
    return out


def test_the_table_follows_the_list_of_its_date() -> None:
    assert iso4217.__published__ == ISO_4217_PUBLISHED, (
        "the iso4217 package ships another edition of list one: compare and update _currencies"
    )


def test_every_active_code_has_the_minor_units_of_the_list() -> None:
    listed = _list_one()
    wrong = {
        code: (places, listed.get(code))
        for code, places in ACTIVE.items()
        if code not in listed or listed[code] != (str(places), False)
    }
    assert wrong == {}


def test_every_currency_of_the_list_is_accepted() -> None:
    listed = _list_one()
    expected = {
        code: int(units)
        for code, (units, fund) in listed.items()
        if units.isdigit() and not fund and code not in NOT_TENDER
    }
    assert expected == ACTIVE


def test_withdrawn_codes_are_no_longer_listed_and_still_accepted() -> None:
    listed = _list_one()
    assert not set(WITHDRAWN) & set(listed)
    assert not set(WITHDRAWN) & set(ACTIVE)
    assert MINOR_UNITS == {**ACTIVE, **WITHDRAWN}
    assert Money.of("10.00", "BGN").currency == "BGN"


def test_xcg_has_two_minor_units() -> None:
    assert Money.of("10.25", "XCG").amount == Decimal("10.25")
    with pytest.raises(ValidationError):
        Money.of("10.255", "XCG")


def test_units_of_account_are_refused() -> None:
    for code in sorted(NOT_TENDER):
        with pytest.raises(ValidationError):
            Money.of("1", code)
