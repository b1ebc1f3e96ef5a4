"""Ready-made pipelines for the stage sets of ``domain.md`` §4, with probabilities, roles and SOP
time limits taken from the source articles (``seeds/``; the file number is in brackets).

>>> names()[:3]
['closing', 'custom_furniture', 'full_cycle']
>>> get("small_team").open_stage_ids
('first_contact', 'needs_confirmed', 'proposal_quote', 'contract_negotiation')

Time limits used (counted from entry into the stage):

- new opportunity: first phone call within 48 h, needs analysis within 7 days [001];
- lead: first touch within 3 h [002]; lead response within 2 h as a KPI [003] (business time);
- follow-up while waiting on the customer: again within 3 days ("no reply for 3 days" reminder
  [003]); revisit cadence weekly [002]; average follow-up over 7 days is an alert [003];
- after the sale: quarterly satisfaction survey [004], revisits.

Every open stage rots after 30 days without a move (the 30-day silence warning [002]).
Every template is plain data (:func:`data`) loaded with :meth:`Pipeline.from_dict`, so a copy can
be saved as JSON or YAML and edited.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Final

from pipeline_core.errors import NotFoundError
from pipeline_core.facts import StageKinds
from pipeline_core.ids import IdFactory
from pipeline_core.records import Opportunity
from pipeline_core.stages.definition import Pipeline

__all__ = ["data", "get", "names", "stages_of"]

_ROT: Final = 30


def _act(
    id: str, label: str, label_zh: str, within: str | None = None, business: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": id, "label": label, "label_zh": label_zh}
    if within is not None:
        out["within"] = within
    if business:
        out["business_time"] = True
    return out


FIRST_CALL: Final = _act("first_call", "First phone call", "首次电话沟通", "PT48H")
NEEDS_ANALYSIS: Final = _act("needs_analysis", "Needs analysis", "完成需求分析", "P7D")
FIRST_TOUCH: Final = _act("first_touch", "First touch", "首次触达", "PT3H", business=True)
RESPOND: Final = _act("respond", "Respond to the lead", "线索响应", "PT2H", business=True)
CHASE: Final = _act("chase_reply", "Follow up if no reply", "未回复跟进", "P3D")
WEEKLY: Final = _act("weekly_revisit", "Weekly revisit", "每周回访", "P7D")


def _open(
    id: str,
    label: str,
    label_zh: str,
    probability: float,
    role: str | None,
    actions: list[dict[str, Any]],
    required: list[str] | None = None,
    forecast: str = "pipeline",
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": id,
        "label": label,
        "label_zh": label_zh,
        "kind": "open",
        "probability": probability,
        "forecast_category": forecast,
        "actions": actions,
        "rotting_days": _ROT,
    }
    if role is not None:
        out["role"] = role
    if required:
        out["required_fields"] = required
    return out


def _end(
    id: str,
    label: str,
    label_zh: str,
    kind: str,
    role: str | None = None,
    actions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": id,
        "label": label,
        "label_zh": label_zh,
        "kind": kind,
        "probability": 1.0 if kind == "won" else 0.0,
        "forecast_category": "closed" if kind == "won" else "omitted",
    }
    if role is not None:
        out["role"] = role
    if actions:
        out["actions"] = actions
    if kind == "lost":
        out["required_fields"] = ["lost_reason"]
    return out


def _lost(role: str | None = None) -> dict[str, Any]:
    return _end("lost", "Lost", "丢单", "lost", role)


_STANDARD_RULES: Final = {"forward": True, "lose_from_open": True, "regression": True}
"""The rules of most templates: forward one stage at a time, lost from any open stage, back to any
earlier open stage."""


def _pipeline(
    id: str,
    name: str,
    name_zh: str,
    stages: list[dict[str, Any]],
    rules: dict[str, bool] | None = None,
) -> dict[str, Any]:
    rules = dict(_STANDARD_RULES if rules is None else rules)
    return {"id": id, "name": name, "name_zh": name_zh, "stages": stages, "rules": rules}


_TEMPLATES: Final[dict[str, dict[str, Any]]] = {
    t["id"]: t
    for t in (
        # [000 FAQ 2] a team of two or three without a sales department.
        _pipeline(
            "small_team",
            "Small team",
            "小团队商机流程",
            [
                _open(
                    "first_contact",
                    "First contact",
                    "首次沟通",
                    0.1,
                    "ae",
                    [FIRST_CALL, NEEDS_ANALYSIS],
                ),
                _open(
                    "needs_confirmed",
                    "Needs confirmed",
                    "需求确认",
                    0.25,
                    "ae",
                    [WEEKLY],
                    ["needs"],
                ),
                _open(
                    "proposal_quote",
                    "Proposal / quote",
                    "方案报价",
                    0.5,
                    "ae",
                    [CHASE],
                    ["expected_amount"],
                    "best_case",
                ),
                _open(
                    "contract_negotiation",
                    "Contract negotiation",
                    "合同谈判",
                    0.75,
                    "ae",
                    [CHASE],
                    ["expected_amount"],
                    "commit",
                ),
                _end("won", "Won", "成交", "won", "ae"),
                _lost("ae"),
            ],
        ),
        # [000 FAQ 3] a kanban board: cards may be dragged forward, back and out of "lost".
        _pipeline(
            "kanban",
            "Kanban",
            "看板",
            [
                _open("new", "New", "新商机", 0.1, "ae", [FIRST_CALL, NEEDS_ANALYSIS]),
                _open("in_follow_up", "In follow-up", "跟进中", 0.3, "ae", [WEEKLY]),
                _open(
                    "quoted", "Quoted", "报价", 0.6, "ae", [CHASE], ["expected_amount"], "best_case"
                ),
                _end("signed", "Signed", "签约", "won", "ae"),
                _lost("ae"),
            ],
            rules={
                "skip_forward": True,
                "lose_from_open": True,
                "regression": True,
                "reopen": True,
            },
        ),
        # [001] new-energy equipment: five steps, each with an SOP and a follow-up time limit.
        _pipeline(
            "new_energy",
            "New-energy equipment",
            "新能源设备",
            [
                _open("grading", "Grading", "分级评估", 0.1, "sdr", [FIRST_CALL, NEEDS_ANALYSIS]),
                _open(
                    "solution_design",
                    "Solution design",
                    "方案定制",
                    0.25,
                    "se",
                    [WEEKLY],
                    ["needs"],
                ),
                _open("negotiation", "Multi-round talks", "多轮沟通", 0.4, "ae", [CHASE, WEEKLY]),
                _open(
                    "quote",
                    "Quote",
                    "报价",
                    0.6,
                    "manager",
                    [CHASE],
                    ["expected_amount"],
                    "best_case",
                ),
                _end("contract_signed", "Contract signed", "合同签署", "won", "manager"),
                _lost("ae"),
            ],
        ),
        # [000] high-end custom furniture: first talk, plan confirmed, signed, delivered. The deal
        # counts as won at delivery (payment on delivery); "signed" is the commit stage.
        _pipeline(
            "custom_furniture",
            "Custom furniture",
            "定制家居",
            [
                _open(
                    "first_talk", "First talk", "初步沟通", 0.15, "ae", [FIRST_CALL, NEEDS_ANALYSIS]
                ),
                _open(
                    "plan_confirmed",
                    "Plan confirmed",
                    "方案确认",
                    0.5,
                    "ae",
                    [CHASE],
                    ["needs", "expected_amount"],
                    "best_case",
                ),
                _open(
                    "signed",
                    "Signed",
                    "签约",
                    0.9,
                    "pm",
                    [_act("production_start", "Start production", "下单生产", "P7D")],
                    ["expected_amount"],
                    "commit",
                ),
                _end(
                    "delivered",
                    "Delivered",
                    "交付",
                    "won",
                    "pm",
                    [_act("satisfaction_revisit", "Satisfaction revisit", "满意度回访", "P7D")],
                ),
                _lost("ae"),
            ],
        ),
        # [003] the full cycle with the responsible role of each stage. The deal counts as won when
        # delivered and handed to the account manager for relationship upkeep.
        _pipeline(
            "full_cycle",
            "Full cycle with roles",
            "全流程跟单",
            [
                _open(
                    "lead_collection",
                    "Lead collection",
                    "线索收集",
                    0.05,
                    "sdr",
                    [RESPOND, FIRST_TOUCH],
                ),
                _open(
                    "needs_discovery",
                    "Needs discovery",
                    "需求挖掘",
                    0.2,
                    "ae",
                    [FIRST_CALL, NEEDS_ANALYSIS],
                    ["needs"],
                ),
                _open(
                    "proposal_quote",
                    "Proposal / quote",
                    "方案/报价",
                    0.4,
                    "manager",
                    [CHASE],
                    ["expected_amount"],
                    "best_case",
                ),
                _open(
                    "negotiation_signing",
                    "Negotiation & signing",
                    "谈判与签约",
                    0.7,
                    "manager",
                    [CHASE],
                    ["expected_amount"],
                    "commit",
                ),
                _open(
                    "fulfilment_delivery",
                    "Fulfilment & delivery",
                    "履约与交付",
                    0.95,
                    "pm",
                    [
                        _act("project_kickoff", "Project kick-off", "项目启动", "P7D"),
                        _act("satisfaction_revisit", "Satisfaction revisit", "满意度回访"),
                    ],
                    ["expected_amount"],
                    "commit",
                ),
                _end(
                    "relationship_upkeep",
                    "Relationship upkeep",
                    "关系维护",
                    "won",
                    "am",
                    [
                        _act(
                            "quarterly_survey",
                            "Quarterly satisfaction survey",
                            "季度满意度调查",
                            "P90D",
                        )
                    ],
                ),
                _lost("manager"),
            ],
        ),
        # [004] the closing nodes of a deal.
        _pipeline(
            "closing",
            "Closing",
            "成交转化",
            [
                _open("objection_handling", "Objection handling", "异议处理", 0.5, "ae", [CHASE]),
                _open(
                    "price_contract",
                    "Price negotiation & contract",
                    "价格谈判与合同签订",
                    0.7,
                    "manager",
                    [CHASE],
                    ["expected_amount"],
                    "commit",
                ),
                _open(
                    "approval_delivery_prep",
                    "Internal approval & delivery preparation",
                    "内部审批与交付准备",
                    0.9,
                    "ops",
                    [_act("approval", "Internal approval", "内部审批", "P3D")],
                    ["expected_amount"],
                    "commit",
                ),
                _end(
                    "after_sales_start",
                    "After-sales started",
                    "售后服务启动",
                    "won",
                    "am",
                    [_act("first_revisit", "First care revisit", "首次关怀回访", "P2D")],
                ),
                _lost("manager"),
            ],
        ),
        # [000] SaaS: trial -> conversion. Renewal is its own pipeline ("saas_renewal"), opened for a
        # won subscription with open_post_sale(..., pipeline=get("saas_renewal")).
        _pipeline(
            "saas",
            "SaaS trial to subscription",
            "SaaS试用转化",
            [
                _open("trial", "Trial", "试用", 0.15, "sdr", [FIRST_CALL, NEEDS_ANALYSIS]),
                _open(
                    "trial_review",
                    "Trial review",
                    "试用评估",
                    0.35,
                    "se",
                    [CHASE, WEEKLY],
                    ["needs"],
                ),
                _open(
                    "conversion",
                    "Conversion offer",
                    "转化报价",
                    0.6,
                    "ae",
                    [CHASE],
                    ["expected_amount"],
                    "best_case",
                ),
                _end("subscribed", "Subscribed", "付费订阅", "won", "am"),
                _lost("ae"),
            ],
        ),
        # [000, 004] SaaS renewal: renewal reminders, then renewed or churned.
        _pipeline(
            "saas_renewal",
            "SaaS renewal",
            "SaaS续约",
            [
                _open(
                    "renewal_due",
                    "Renewal due",
                    "待续约",
                    0.6,
                    "am",
                    [_act("renewal_reminder", "Renewal reminder", "续约提醒", "P7D"), WEEKLY],
                ),
                _open(
                    "renewal_talks",
                    "Renewal talks",
                    "续约沟通",
                    0.8,
                    "am",
                    [CHASE],
                    ["expected_amount"],
                    "commit",
                ),
                _end("renewed", "Renewed", "已续约", "won", "am"),
                _end("churned", "Churned", "流失", "lost", "am"),
            ],
        ),
        # [003, 004] after the sale: contract, delivery, service / revisit; ends in a repurchase or
        # renewal (won) or churn (lost), so churn and repurchase rates come from it. Probabilities are
        # the chance of a repurchase.
        _pipeline(
            "post_sale",
            "Post-sale",
            "售后",
            [
                _open(
                    "contract",
                    "Contract",
                    "合同",
                    0.2,
                    "ops",
                    [_act("contract_archive", "Archive the contract", "合同归档", "P3D")],
                ),
                _open(
                    "delivery",
                    "Delivery",
                    "交付",
                    0.3,
                    "pm",
                    [
                        _act("project_kickoff", "Project kick-off", "项目启动", "P7D"),
                        _act("acceptance", "Delivery acceptance", "交付验收"),
                    ],
                ),
                _open(
                    "service",
                    "Service / revisit",
                    "服务/回访",
                    0.5,
                    "am",
                    [
                        WEEKLY,
                        _act(
                            "quarterly_survey",
                            "Quarterly satisfaction survey",
                            "季度满意度调查",
                            "P90D",
                        ),
                    ],
                ),
                _end("repurchased", "Repurchase / renewal", "复购/续约", "won", "am"),
                _end("churned", "Churned", "流失", "lost", "am"),
            ],
        ),
    )
}


def names() -> list[str]:
    """The template names, sorted."""
    return sorted(_TEMPLATES)


def data(name: str) -> dict[str, Any]:
    """The plain data of template ``name`` (a fresh copy to edit and save as JSON or YAML)."""
    try:
        return copy.deepcopy(_TEMPLATES[name])
    except KeyError:
        raise NotFoundError("pipeline template", name) from None


def get(name: str, *, ids: IdFactory | None = None) -> Pipeline:
    """The pipeline of template ``name``; :class:`~pipeline_core.errors.NotFoundError` if unknown."""
    return Pipeline.from_dict(data(name), ids=ids)


def stages_of(opportunity: Opportunity, stages: StageKinds | None = None) -> StageKinds | None:
    """The pipeline whose stage kinds decide ``opportunity``'s status (open, won, lost).

    ``stages`` when given; else the ready-made template the deal names in its ``pipeline`` field
    (:func:`get`); else ``None``: the status cannot be known and the caller says so (the SLA
    leaves the win unset, :func:`pipeline_core.assignment.customer_facts` raises, the pool falls
    back to its deprecated reading). Never a guess: a deal naming no pipeline, or one that is not a
    template, is not read against another pipeline's stages. One rule for every capability that
    needs a deal's status without being given its pipeline.
    """
    if stages is not None:
        return stages
    return _template(opportunity.pipeline)


@functools.lru_cache(maxsize=64)
def _template(name: str | None) -> Pipeline | None:
    if name is None or name not in _TEMPLATES:
        return None
    return get(name)
