"""Policies as data: the default policy, round trips, JSON Schema, and bad policies."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import attrs
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError
from pipeline_core.sla import Policy, default_policy
from pipeline_core.sla.defaults import GRADE_WINDOWS
from pipeline_core.sla.policy import Target, TimeBasis, Trigger


def test_default_policy_holds_the_domain_facts() -> None:
    policy = default_policy()
    rules = {r.id: r for r in policy.rules}
    touch = rules["lead.first_touch"]
    assert (touch.within, touch.basis, touch.trigger, touch.target) == (
        timedelta(hours=3),
        TimeBasis.BUSINESS,
        Trigger.CREATED,
        Target.FIRST_TOUCH,
    )
    assert rules["opportunity.first_call"].within == timedelta(hours=48)
    assert rules["opportunity.needs_analysis"].within == timedelta(days=7)
    assert rules["opportunity.needs_analysis"].action == "needs_analysis"
    assert rules["grade.A.contact"].within == timedelta(days=1)
    assert rules["grade.B.contact"].within == timedelta(days=3)
    assert rules["grade.C.nurture"].recurrence == "FREQ=DAILY;INTERVAL=30"
    assert {
        "A": timedelta(days=1),
        "B": timedelta(days=3),
        "C": timedelta(days=30),
    } == GRADE_WINDOWS
    assert rules["silence.30d"].within == timedelta(days=30)
    assert rules["silence.30d"].basis is TimeBasis.CALENDAR
    assert rules["reply.3d"].within == timedelta(days=3)
    assert rules["after_sale.survey"].recurrence == "FREQ=MONTHLY;INTERVAL=3"
    risks = {r.id: r for r in policy.risks}
    assert risks["risk.unanswered"].thresholds["medium"] == 2  # type: ignore[index]


def test_round_trip_and_schema() -> None:
    policy = default_policy()
    data = policy.to_dict()
    json.dumps(data)  # JSON-compatible
    again = Policy.from_dict(data)
    assert again == policy
    jsonschema.validate(data, Policy.json_schema())


def _bad_policy() -> dict[str, Any]:
    return {
        "id": "bad",
        "calendar": {"timezone": "Europe/Atlantis", "hours": {"mon": "09:00-18:00"}},
        "rules": [
            {
                "id": "r1",
                "trigger": "stage_entered",
                "target": "stage_exit",
                "within": "-PT1H",
                "conditions": {"stages": ["no_such_stage"], "grades": ["Z"]},
            },
            {
                "id": "r2",
                "trigger": "created",
                "target": "contact",
                "recurrence": "FREQ=DAILY;COUNT=0",
            },
            {
                "id": "r3",
                "trigger": "created",
                "target": "contact",
                "recurrence": "FREQ=YEARLY;UNTIL=19900101T000000Z",
            },
        ],
    }


def test_bad_policy_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        Policy.from_dict(_bad_policy(), stages=["new", "won"])
    codes = [p.code for p in info.value.problems]
    assert "unknown_timezone" in codes
    assert "negative_duration" in codes
    assert "unknown_stage" in codes
    assert "unknown_grade" in codes
    assert codes.count("no_occurrence") == 2
    fields = info.value.fields
    assert "calendar.timezone" in fields
    assert "rules[0].within" in fields
    assert "Europe/Atlantis" in str(info.value)


def test_shape_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        Policy.from_dict({"id": "x", "rules": [{"id": "r", "trigger": "never", "target": "x"}]})
    assert len(info.value.problems) == 2


def test_pipeline_stage_actions_become_rules() -> None:
    from pipeline_core.sla.policy import Conditions  # noqa: F401  (public name)

    class Action:
        def __init__(self, id: str, within: timedelta | None, business_time: bool) -> None:
            self.id, self.within, self.business_time = id, within, business_time

    class Stage:
        def __init__(self, id: str, actions: tuple[Action, ...]) -> None:
            self.id, self.actions = id, actions

    class Pipeline:
        stages = (
            Stage("quote", (Action("send_quote", timedelta(hours=8), True),)),
            Stage("talks", (Action("no_limit", None, False),)),
        )

    policy = default_policy().with_pipeline(Pipeline())
    sop = {r.id: r for r in policy.rules if r.id.startswith("sop.")}
    assert list(sop) == ["sop.quote.send_quote"]
    rule = sop["sop.quote.send_quote"]
    assert rule.basis is TimeBasis.BUSINESS
    assert rule.conditions.stages == frozenset({"quote"})


rule_data = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["a", "b", "c"]),
        "trigger": st.sampled_from([t.value for t in Trigger] + ["never"]),
        "target": st.sampled_from(["first_touch", "contact", "reply", "stage_exit"]),
        "within": st.integers(-100, 10_000).map(lambda m: f"{'-' if m < 0 else ''}PT{abs(m)}M"),
        "conditions": st.fixed_dictionaries(
            {
                "grades": st.lists(st.sampled_from(["A", "B", "C", "D"]), max_size=2),
                "stages": st.lists(st.sampled_from(["new", "won", "nope"]), max_size=2),
            }
        ),
    }
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(rule_data, max_size=4),
    st.sampled_from(["UTC", "Asia/Shanghai", "Not/AZone"]),
)
def test_policies_are_valid_exactly_when_every_part_is(
    rules: list[dict[str, Any]], timezone: str
) -> None:
    data = {"id": "p", "calendar": {"timezone": timezone}, "rules": rules}
    expected_problems = (timezone == "Not/AZone") + sum(
        (r["trigger"] == "never")
        + r["within"].startswith("-")
        + ("D" in r["conditions"]["grades"])
        + ("nope" in r["conditions"]["stages"])
        for r in rules
    )
    ids = [r["id"] for r in rules]
    duplicates = len(ids) - len(set(ids))
    try:
        policy = Policy.from_dict(data, stages=["new", "won"])
    except ConfigError as exc:
        assert exc.problems
        assert expected_problems + duplicates > 0
    else:
        assert expected_problems + duplicates == 0
        assert Policy.from_dict(policy.to_dict()) == policy


def test_with_rules_adds_and_refuses_a_duplicate_id() -> None:
    base = default_policy()
    first = base.rules[0]
    renamed = attrs.evolve(first, id="custom.copy")
    grown = base.with_rules(renamed)
    assert len(grown.rules) == len(base.rules) + 1 and grown.rules[-1] is renamed
    # the same id twice is one problem, listed by the ConfigError of the new policy
    with pytest.raises(ConfigError, match=r"custom\.copy"):
        grown.with_rules(renamed)


@pytest.mark.parametrize("fallback", ["dir ector", "dir\tx", "", "x" * 129])
def test_fallback_recipient_has_one_rule_built_directly_or_from_data(fallback: str) -> None:
    # Policy(...) and Policy.from_dict(...) refuse the same ids: white space inside, empty,
    # longer than 128
    with pytest.raises(ConfigError, match="fallback_recipient"):
        Policy(id="p", fallback_recipient=fallback)
    with pytest.raises(ConfigError, match="fallback_recipient"):
        Policy.from_dict({"id": "p", "fallback_recipient": fallback})
    assert Policy(id="p", fallback_recipient="x" * 128).fallback_recipient == "x" * 128
