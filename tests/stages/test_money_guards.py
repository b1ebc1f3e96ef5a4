"""A money guard with a stated currency: an amount in another currency never meets it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError, TransitionError
from pipeline_core.records import Money, Opportunity
from pipeline_core.stages import Condition, Pipeline, Stage, Transition
from pipeline_core.stages.guards import compile_guard

T0 = datetime(2025, 6, 2, 9, tzinfo=UTC)


def quote_pipeline(threshold: object) -> Pipeline:
    return Pipeline(
        "quotes",
        "Quotes",
        [
            Stage("lead", "Lead", "线索"),
            Stage("quote", "Quote", "报价", probability=0.4),
            Stage("won", "Won", "成交", kind="won"),
            Stage("lost", "Lost", "丢单", kind="lost"),
        ],
        transitions=[Transition("lead", "quote", Condition("expected_amount", "ge", threshold))],
    )


def opp(amount: str | None, currency: str = "CNY") -> Opportunity:
    money = None if amount is None else Money.of(amount, currency)
    return Opportunity(
        id="o1",
        name="Acme",
        created_at=T0,
        owner_id="amy",
        stage="lead",
        stage_entered_at=T0,
        expected_amount=money,
    )


def test_the_threshold_currency_is_part_of_the_guard() -> None:
    p = quote_pipeline(Money.of("20000", "CNY"))
    moved, _ = p.move(opp("20000"), "quote", at=T0 + timedelta(hours=1), by="amy")
    assert moved.stage == "quote"
    with pytest.raises(TransitionError) as err:  # 19,999.99 CNY < 20,000 CNY
        p.move(opp("19999.99"), "quote", at=T0 + timedelta(hours=1), by="amy")
    assert "20000 CNY" in " ".join(err.value.unmet)
    with pytest.raises(TransitionError) as err:  # 20,000 USD is not compared with CNY at all
        p.move(opp("20000", "USD"), "quote", at=T0 + timedelta(hours=1), by="amy")
    reason = " ".join(err.value.unmet)
    assert "USD" in reason and "CNY" in reason and "ExchangeRates.convert" in reason


def test_money_thresholds_are_plain_data() -> None:
    p = quote_pipeline(Money.of("20000", "CNY"))
    data = p.to_dict()
    [guard] = data["transitions"][0]["guards"]
    assert guard["value"] == {"amount": "20000", "currency": "CNY"}
    assert Pipeline.from_dict(data) == p
    bad = {"field": "expected_amount", "op": "ge", "value": {"amount": "1", "currency": "XYZ"}}
    data["transitions"][0]["guards"] = [bad]
    with pytest.raises(ConfigError) as err:
        Pipeline.from_dict(data)
    assert "transitions[0].guards[0].value" in err.value.fields


def test_a_missing_amount_is_unmet_with_its_own_reason() -> None:
    test = compile_guard(Condition("expected_amount", "ge", Money.of("1", "EUR")))
    assert "missing" in (test(opp(None)) or "")


amounts = st.decimals(min_value=0, max_value=Decimal("1e7"), places=2)


@given(amounts, amounts, st.sampled_from(["ge", "gt", "le", "lt", "eq", "ne"]))
def test_same_currency_compares_amounts_other_currencies_never_pass(
    amount: Decimal, threshold: Decimal, op: str
) -> None:
    test = compile_guard(Condition("expected_amount", op, Money.of(threshold, "CNY")))
    expected = {
        "ge": amount >= threshold,
        "gt": amount > threshold,
        "le": amount <= threshold,
        "lt": amount < threshold,
        "eq": amount == threshold,
        "ne": amount != threshold,
    }[op]
    assert (test(opp(str(amount))) is None) is expected
    assert test(opp(str(amount), "HKD")) is not None


def test_membership_in_a_list_of_amounts_compares_the_currency_too() -> None:
    listed = Condition("expected_amount", "in", (Money.of("5000", "CNY"), Money.of("8000", "CNY")))
    test = compile_guard(listed)
    assert test(opp("5000")) is None
    assert test(opp("5000", "JPY")) is not None  # 5,000 JPY is not on the list
    with pytest.raises(ConfigError):  # half with a currency, half without: ambiguous
        Pipeline(
            "p",
            "P",
            [Stage("a", "A", "甲"), Stage("w", "W", "赢", kind="won")],
            transitions=[
                Transition("a", "w", Condition("expected_amount", "in", (Money.of("1", "CNY"), 2)))
            ],
        )


def test_a_bare_threshold_is_in_the_pipelines_currency() -> None:
    stages = [
        Stage("lead", "Lead", "线索"),
        Stage("quote", "Quote", "报价", probability=0.4),
        Stage("won", "Won", "成交", kind="won"),
        Stage("lost", "Lost", "丢单", kind="lost"),
    ]
    guard = Condition("expected_amount", "ge", 10000)
    p = Pipeline(
        "cny", "CNY", stages, transitions=[Transition("lead", "quote", guard)], currency="CNY"
    )
    assert Pipeline.from_dict(p.to_dict()) == p and p.to_dict()["currency"] == "CNY"
    p.move(opp("10000"), "quote", at=T0, by="amy")  # 10,000 CNY ≥ 10,000 CNY
    with pytest.raises(TransitionError) as err:  # 10,000 JPY is about 480 CNY: never read as CNY
        p.move(opp("10000", "JPY"), "quote", at=T0, by="amy")
    assert "JPY" in " ".join(err.value.unmet)
    with pytest.raises(ConfigError) as cfg:
        Pipeline("x", "X", stages, currency="RMB")
    assert cfg.value.fields == ("currency",)
