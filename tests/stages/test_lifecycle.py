"""Lifecycle: lead -> opportunity at the first stage, links both ways; won -> post-sale pipeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline_core.errors import TransitionError, ValidationError
from pipeline_core.ids import SequentialIds
from pipeline_core.records import Intent, Lead, LeadStatus, Money, Opportunity
from pipeline_core.stages import Pipeline, Stage, templates
from pipeline_core.stages.history import History
from pipeline_core.stages.lifecycle import convert, open_post_sale

T = datetime(2025, 5, 6, 10, tzinfo=UTC)


def a_lead(**kw: object) -> Lead:
    values: dict[str, object] = {
        "id": "lead-1",
        "created_at": T - timedelta(days=2),
        "source": "referral",
        "company": "北京某某科技有限公司",
        "needs": "20 charging piles",
        "intent": Intent.HIGH,
        "expected_amount": Money.of("200000", "CNY"),
        "owner_id": "rep-7",
        "account_id": "acc-1",
        "tags": frozenset({"vip"}),
        "custom": {"region": "north"},
    }
    values.update(kw)
    return Lead(**values)  # type: ignore[arg-type]


def test_convert_carries_the_lead_and_links_both_ways() -> None:
    p = templates.get("new_energy", ids=SequentialIds())
    lead = a_lead()
    opp, event, new_lead = convert(lead, p, at=T, by="mgr-1")
    assert (opp.stage, opp.pipeline, opp.created_at, opp.stage_entered_at) == (
        "grading",
        "new_energy",
        T,
        T,
    )
    assert opp.lead_id == lead.id and new_lead.opportunity_id == opp.id
    assert (opp.source, opp.needs, opp.intent, opp.expected_amount) == (
        lead.source,
        lead.needs,
        lead.intent,
        lead.expected_amount,
    )
    assert (opp.owner_id, opp.account_id, opp.tags, opp.custom) == (
        "rep-7",
        "acc-1",
        lead.tags,
        lead.custom,
    )
    assert opp.name == lead.company and opp.probability == p.first.probability and opp.version == 1
    assert (event.from_stage, event.to_stage, event.at, event.by, event.opportunity_id) == (
        None,
        "grading",
        T,
        "mgr-1",
        opp.id,
    )
    assert new_lead.status is LeadStatus.CONVERTED and new_lead.version == lead.version + 1
    assert lead.status is LeadStatus.NEW  # untouched
    assert History.of([event]).matches(opp)
    # The new opportunity moves on in its pipeline.
    moved, _ = p.move(opp, "solution_design", at=T + timedelta(days=1), by="rep-7")
    assert moved.version == 2


def test_convert_defaults_and_refusals() -> None:
    p = templates.get("kanban", ids=SequentialIds())
    opp, _, _ = convert(a_lead(owner_id=None, company=None, contact_name=None), p, at=T, by="u9")
    assert opp.owner_id == "u9" and opp.name == "Lead lead-1"
    done = a_lead(status=LeadStatus.CONVERTED, opportunity_id="opp-9")
    with pytest.raises(TransitionError) as info:
        convert(done, p, at=T, by="u")
    assert "opp-9" in str(info.value)
    with pytest.raises(TransitionError):
        convert(a_lead(status=LeadStatus.DISQUALIFIED), p, at=T, by="u")
    with pytest.raises(ValidationError):
        convert(a_lead(), p, at=T - timedelta(days=3), by="u")
    with pytest.raises(ValidationError):
        convert(a_lead(), p, at=datetime(2025, 5, 6), by="u")


def test_convert_checks_the_first_stage_requirements() -> None:
    p = Pipeline(
        "p",
        "P",
        [
            Stage("qualified", "Q", required_fields=["needs"]),
            Stage("won", "W", kind="won"),
            Stage("lost", "L", kind="lost"),
        ],
    )
    with pytest.raises(TransitionError) as info:
        convert(a_lead(needs=None), p, at=T, by="u")
    assert info.value.unmet == ("needs must be present",)
    _opp, event, _ = convert(a_lead(), p, at=T, by="u")
    assert event.checks == ("needs present",)


def test_a_won_opportunity_opens_the_post_sale_pipeline() -> None:
    ids = SequentialIds()
    sales = templates.get("small_team", ids=ids)
    opp, *_ = convert(a_lead(), sales, at=T, by="u")
    for i, s in enumerate(["needs_confirmed", "proposal_quote", "contract_negotiation", "won"], 1):
        opp, _ = sales.move(opp, s, at=T + timedelta(days=i), by="u")
    post, event = open_post_sale(opp, sales, at=T + timedelta(days=5), by="ops-1", ids=ids)
    assert post.parent_id == opp.id and post.pipeline == "post_sale" and post.stage == "contract"
    assert (post.owner_id, post.account_id, post.lead_id, post.expected_amount) == (
        opp.owner_id,
        opp.account_id,
        opp.lead_id,
        opp.expected_amount,
    )
    assert event.to_stage == "contract" and event.from_stage is None and post.id != opp.id
    assert templates.get("post_sale").stage_ids == (
        "contract",
        "delivery",
        "service",
        "repurchased",
        "churned",
    )
    renewal, _ = open_post_sale(
        opp, sales, at=T + timedelta(days=5), by="am", pipeline=templates.get("saas_renewal")
    )
    assert renewal.pipeline == "saas_renewal" and renewal.stage == "renewal_due"


def test_only_won_opportunities_open_post_sale() -> None:
    sales = templates.get("small_team")
    opp = Opportunity(
        id="o",
        name="n",
        created_at=T,
        owner_id="u",
        stage="proposal_quote",
        stage_entered_at=T,
        pipeline="small_team",
    )
    with pytest.raises(TransitionError) as info:
        open_post_sale(opp, sales, at=T, by="u")
    assert "not a won stage" in info.value.unmet[0]
    with pytest.raises(TransitionError):
        open_post_sale(opp.evolve(stage="won", pipeline="kanban"), sales, at=T, by="u")
    with pytest.raises(ValidationError):
        open_post_sale(opp.evolve(stage="won"), sales, at=T - timedelta(days=1), by="u")
