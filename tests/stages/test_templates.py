"""Templates: the stage sets of domain.md §4 with the source's roles and time limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline_core.errors import NotFoundError
from pipeline_core.records import Role
from pipeline_core.stages import Pipeline, StageKind, templates

SALES = ["small_team", "kanban", "new_energy", "custom_furniture", "full_cycle", "saas"]


def test_names_cover_the_six_stage_sets_and_post_sale() -> None:
    assert set(SALES) | {"post_sale"} <= set(templates.names())
    assert templates.names() == sorted(templates.names())
    with pytest.raises(NotFoundError):
        templates.get("nope")


@pytest.mark.parametrize("name", templates.names())
def test_each_template_is_complete(name: str) -> None:
    p = templates.get(name)
    assert isinstance(p, Pipeline) and p.id == name
    assert p.won_stage_ids and p.lost_stage_ids
    for s in p.stages:
        assert s.label and s.label_zh and s.role is not None
        assert 0.0 <= s.probability <= 1.0
        if s.kind is StageKind.OPEN:
            assert s.rotting_days == 30  # the 30-day silence warning [002]
            assert any(a.within is not None for a in s.actions), s.id
    opens = [p.stage(s).probability for s in p.open_stage_ids]
    assert opens == sorted(opens), "probabilities rise along the funnel"
    for s in p.lost_stage_ids:
        assert "lost_reason" in p.stage(s).required_fields
    # Editing the data copy does not change the template.
    templates.data(name)["stages"].clear()
    assert templates.get(name) == p


@pytest.mark.parametrize(
    ("name", "stages"),
    [
        (
            "small_team",
            ["first_contact", "needs_confirmed", "proposal_quote", "contract_negotiation", "won"],
        ),
        ("kanban", ["new", "in_follow_up", "quoted", "signed"]),
        ("new_energy", ["grading", "solution_design", "negotiation", "quote", "contract_signed"]),
        ("custom_furniture", ["first_talk", "plan_confirmed", "signed", "delivered"]),
        (
            "full_cycle",
            [
                "lead_collection",
                "needs_discovery",
                "proposal_quote",
                "negotiation_signing",
                "fulfilment_delivery",
                "relationship_upkeep",
            ],
        ),
        ("saas", ["trial", "trial_review", "conversion", "subscribed"]),
        ("post_sale", ["contract", "delivery", "service", "repurchased"]),
    ],
)
def test_stage_order_follows_the_source(name: str, stages: list[str]) -> None:
    p = templates.get(name)
    assert [s for s in p.stage_ids if s in stages] == stages
    assert [p.rank(s) for s in stages] == list(range(len(stages)))


def test_time_limits_from_the_source() -> None:
    for name in SALES:
        p = templates.get(name)
        limits = {a.id: a.within for s in p.stages for a in s.actions}
        # Every new opportunity: first call within 48 h, needs analysis within 7 days [001].
        assert limits["first_call"] == timedelta(hours=48), name
        assert limits["needs_analysis"] == timedelta(days=7), name
    lead_stage = templates.get("full_cycle").stage("lead_collection")
    by_id = {a.id: a for a in lead_stage.actions}
    assert by_id["first_touch"].within == timedelta(hours=3)  # [002]
    assert by_id["respond"].within == timedelta(hours=2)  # [003] KPI
    assert by_id["respond"].business_time and by_id["first_touch"].business_time


def test_roles_of_the_full_cycle() -> None:
    p = templates.get("full_cycle")
    roles = [p.stage(s).role for s in p.stage_ids if p.stage(s).kind is not StageKind.LOST]
    assert roles == [Role.SDR, Role.AE, Role.MANAGER, Role.MANAGER, Role.PM, Role.AM]


def test_stage_requirements_from_the_issue() -> None:
    small = templates.get("small_team")
    assert small.stage("needs_confirmed").required_fields == ("needs",)
    assert "expected_amount" in small.stage("proposal_quote").required_fields
    assert small.stage("lost").required_fields == ("lost_reason",)
