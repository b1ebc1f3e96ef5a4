"""Guards: declarative conditions and callables, compiled once, explaining what is unmet."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError
from pipeline_core.records import Money, Opportunity
from pipeline_core.stages import Check, Condition
from pipeline_core.stages.guards import compile_guard, describe_guard, guard_field_problems

MakeOpp = Callable[..., Opportunity]


def holds(guard: object, opp: Opportunity) -> bool:
    assert not guard_field_problems(guard, ("g",))  # type: ignore[arg-type]
    return compile_guard(guard)(opp) is None  # type: ignore[arg-type]


def test_present_and_absent(make_opp: MakeOpp) -> None:
    assert not holds(Condition("needs"), make_opp())
    assert not holds(Condition("needs"), make_opp(needs="   "))
    assert holds(Condition("needs"), make_opp(needs="40 seats"))
    assert not holds(Condition("tags"), make_opp())
    assert holds(Condition("tags"), make_opp(tags=frozenset({"vip"})))
    assert holds(Condition("lost_reason", "absent"), make_opp())
    assert not holds(Condition("lost_reason", "absent"), make_opp(lost_reason="price"))


def test_money_compares_its_amount(make_opp: MakeOpp) -> None:
    big = make_opp(expected_amount=Money.of("10000.00", "CNY"))
    small = make_opp(expected_amount=Money.of("9999.99", "CNY"))
    guard = Condition("expected_amount", "ge", 10000)
    assert holds(guard, big) and not holds(guard, small)
    assert not holds(guard, make_opp())  # missing amount: unmet, not an error
    assert "missing" in (compile_guard(guard)(make_opp()) or "")
    assert holds(Condition("expected_amount", "lt", "10000.5"), big)


def test_dates_custom_fields_and_membership(make_opp: MakeOpp) -> None:
    opp = make_opp(
        expected_close=date(2025, 6, 30), custom={"region": "east", "approved": True}, intent="high"
    )
    assert holds(Condition("expected_close", "le", "2025-06-30"), opp)
    assert not holds(Condition("expected_close", "lt", "2025-06-30"), opp)
    assert holds(Condition("custom.approved", "eq", True), opp)
    assert not holds(Condition("custom.approved", "ne", True), opp)
    assert holds(Condition("custom.region", "in", ("east", "west")), opp)
    assert not holds(Condition("custom.region", "not_in", ("east",)), opp)
    assert not holds(Condition("custom.missing", "present"), opp)
    assert holds(Condition("intent", "in", ("high", "medium")), opp)


@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_comparisons_agree_with_python(value: int, threshold: int) -> None:
    from datetime import UTC, datetime

    t = datetime(2025, 1, 1, tzinfo=UTC)
    opp = Opportunity(
        id="o",
        name="n",
        created_at=t,
        owner_id="u",
        stage="s",
        stage_entered_at=t,
        custom={"n": value},
    )
    expected = {
        "eq": value == threshold,
        "ne": value != threshold,
        "gt": value > threshold,
        "ge": value >= threshold,
        "lt": value < threshold,
        "le": value <= threshold,
    }
    for op, want in expected.items():
        assert (compile_guard(Condition("custom.n", op, threshold))(opp) is None) is want


def test_callables_and_validators(make_opp: MakeOpp) -> None:
    def has_contact(opp: Opportunity) -> bool:
        return opp.contact_id is not None

    def needs_approval(opp: Opportunity) -> bool:
        raise ValueError("discount above 20% needs the manager's approval")

    assert describe_guard(has_contact) == "has_contact"
    assert compile_guard(has_contact)(make_opp()) == "has_contact is not met"
    assert compile_guard(has_contact)(make_opp(contact_id="c1")) is None
    message = compile_guard(Check(needs_approval, "approval"))(make_opp())
    assert message == "approval: discount above 20% needs the manager's approval"
    assert (
        compile_guard(Check(lambda o: False, "never", "custom words"))(make_opp()) == "custom words"
    )


def test_custom_message_and_description() -> None:
    cond = Condition("expected_amount", "ge", 5, message="quote needs an amount of 5 or more")
    assert cond.describe() == "expected_amount >= 5"
    assert Condition.from_dict(cond.to_dict()) == cond
    assert Condition.from_dict({"field": "x", "op": "in", "value": [1, 2]}).value == (1, 2)


def test_unknown_fields_and_bad_guards_are_problems() -> None:
    assert guard_field_problems(Condition("nope"), ("g",))[0].code == "unknown_field"
    assert guard_field_problems(Condition("custom."), ("g",))[0].code == "unknown_field"
    assert guard_field_problems(42, ("g",))[0].code == "guard_type"  # type: ignore[arg-type]
    assert guard_field_problems(Check(3, "x"), ("g",))[0].code == "not_callable"  # type: ignore[arg-type]
    assert guard_field_problems(Condition("expected_amount", "ge", Decimal("1")), ("g",)) == []


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
