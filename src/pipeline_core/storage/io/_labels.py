"""Column labels in a person's language: the one table of what each export column is called.

Internal to :mod:`pipeline_core.storage.io`, which exports the public names. An export with
``headers="zh"`` writes :data:`LABELS_ZH`'s label for each column (``created_at`` → ``创建时间``,
custom fields ``custom.<name>`` → ``自定义.<name>``); an import recognises the labels back
(:func:`resolve_header`), exactly as written, never by a close match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Literal

from pipeline_core.errors import ConfigError, Problem

__all__ = [
    "CUSTOM_PREFIX",
    "HEADER_LANGUAGES",
    "LABELS_ZH",
    "HeaderLabels",
    "check_labels",
    "header_labels",
    "label_columns",
    "resolve_header",
]

CUSTOM_PREFIX: Final = "custom."
"""How a custom field's column begins (``custom.<name>``)."""

LABELS_ZH: Final[Mapping[str, str]] = {
    # identity and bookkeeping
    "id": "编号",
    "name": "名称",
    "version": "版本",
    "seq": "序号",
    "tags": "标签",
    "created_at": "创建时间",
    "timezone": "时区",
    # people and teams
    "role": "角色",
    "email": "邮箱",
    "team_id": "所属团队",
    "manager_id": "主管",
    "parent_id": "上级编号",
    "active": "是否启用",
    "owner_id": "负责人",
    "by": "操作人",
    # accounts and contacts
    "company": "公司",
    "contact_name": "联系人",
    "title": "职位",
    "phone": "电话",
    "wechat": "微信",
    "authority": "决策权",
    "industry": "行业",
    "company_size": "公司规模",
    "region": "地区",
    "source": "来源",
    "customer_since": "成为客户时间",
    # links between records
    "account_id": "关联客户",
    "contact_id": "关联联系人",
    "lead_id": "关联线索",
    "opportunity_id": "关联商机",
    # leads and opportunities
    "needs": "需求描述",
    "pain_points": "痛点",
    "intent": "意向",
    "need": "需求强度",
    "timeline": "决策周期",
    "budget.amount": "预算金额",
    "budget.currency": "预算币种",
    "expected_amount.amount": "预计金额",
    "expected_amount.currency": "预计金额币种",
    "status": "状态",
    "next_step.action": "下一步行动",
    "next_step.due_at": "下一步截止时间",
    "disqualified_reason": "无效原因",
    "graded_at": "评级时间",
    "stage": "阶段",
    "stage_entered_at": "进入阶段时间",
    "pipeline": "流程",
    "probability": "赢率",
    "expected_close": "预计成交日期",
    "closed_at": "关单时间",
    "lost_reason": "输单原因",
    "won_reason": "赢单原因",
    # activities
    "kind": "类型",
    "at": "时间",
    "outcome": "跟进结果",
    "replied": "是否回复",
    "notes": "备注",
    "next_action.action": "约定的下一步",
    "next_action.due_at": "约定的下一步截止时间",
    "variant": "实验版本",
    # stage events
    "to_stage": "目标阶段",
    "from_stage": "原阶段",
    "reason": "原因",
    "checks": "检查项",
    # SLA outcomes
    "rule": "规则",
    "target": "目标",
    "subject_kind": "对象类型",
    "subject_id": "对象编号",
    "started_at": "开始时间",
    "due_at": "截止时间",
    "met": "是否达标",
    "elapsed_seconds": "用时(秒)",
    "finished_at": "完成时间",
    # journal entries
    "payload": "内容",
    # custom fields: the prefix of every ``custom.<name>`` column
    CUSTOM_PREFIX: "自定义.",
}
"""Chinese column labels: every column of every record kind (``csv_columns``), and under
``"custom."`` the prefix written before a custom field's name. Each label is used once and is
no column's name, so a header reads back one way only."""

HEADER_LANGUAGES: Final[Mapping[str, Mapping[str, str]]] = {"zh": LABELS_ZH}
"""The built-in label tables by language code (``headers="zh"``)."""

HeaderLabels = Literal["fields", "zh"] | Mapping[str, str]
"""Which column headers a file has: ``"fields"`` (the field names, the default), a language of
:data:`HEADER_LANGUAGES` (``"zh"``), or a mapping of column → label (columns it leaves out keep
their field names; under ``"custom."`` the prefix for custom fields)."""


def header_labels(headers: HeaderLabels | None) -> Mapping[str, str]:
    """The column → label table that ``headers`` names (empty for ``"fields"`` or ``None``).

    Raises :class:`~pipeline_core.errors.ConfigError` for an unknown language or a mapping whose
    labels are not one-to-one (:func:`check_labels`)."""
    if headers is None or headers == "fields":
        return {}
    if isinstance(headers, str):
        table = HEADER_LANGUAGES.get(headers)
        if table is None:
            raise ConfigError(
                "headers",
                [
                    Problem(
                        ("headers",),
                        "expected 'fields', a language of "
                        f"{', '.join(sorted(HEADER_LANGUAGES))}, or a mapping of column to label",
                        headers,
                        "unknown_language",
                    )
                ],
            )
        return table
    labels = dict(headers)
    check_labels(labels)
    return labels


def check_labels(labels: Mapping[str, str]) -> None:
    """Refuse a label table that could be read back two ways: a label that is not text or is
    empty, a label used for two columns, a label that is another column's field name, or a
    custom prefix that is empty. Raises :class:`~pipeline_core.errors.ConfigError` listing each."""
    from pipeline_core.storage.io._cells import csv_columns
    from pipeline_core.storage.io._shared import kinds

    every = {c for k in kinds() for c in csv_columns(k)}
    problems = []
    seen: dict[str, str] = {}
    for column, label in labels.items():
        if not isinstance(label, str) or not label.strip():
            problems.append(Problem(("headers", column), "a label is non-empty text", label))
            continue
        if column != CUSTOM_PREFIX and column not in every:
            problems.append(
                Problem(("headers", column), "no record kind has this column", column, "unknown")
            )
        if label in seen:
            problems.append(
                Problem(
                    ("headers", column),
                    f"the label is also {seen[label]!r}'s: a header must read back one way",
                    label,
                    "duplicate_label",
                )
            )
        elif label in every and label != column:
            problems.append(
                Problem(
                    ("headers", column),
                    "the label is another column's field name",
                    label,
                    "label_is_field",
                )
            )
        seen[label] = column
    if problems:
        raise ConfigError("headers", problems)


def label_columns(columns: Iterable[str], labels: Mapping[str, str]) -> list[str]:
    """``columns`` (``csv_columns`` order) as the header a file gets under ``labels``."""
    prefix = labels.get(CUSTOM_PREFIX, CUSTOM_PREFIX)
    out = []
    for column in columns:
        if column in labels:
            out.append(labels[column])
        elif column.startswith(CUSTOM_PREFIX):
            out.append(prefix + column[len(CUSTOM_PREFIX) :])
        else:
            out.append(column)
    return out


def resolve_header(cell: str, labels: Iterable[Mapping[str, str]]) -> str:
    """The column a header ``cell`` names: the cell itself when it is a field name or
    ``custom.<name>``, else the column whose label in one of ``labels`` it is exactly (a custom
    field under the table's custom prefix), else the cell unchanged (for the reader to refuse as
    an unknown column)."""
    for table in labels:
        for column, label in table.items():
            if column != CUSTOM_PREFIX and label == cell:
                return column
        prefix = table.get(CUSTOM_PREFIX)
        if prefix and cell.startswith(prefix) and len(cell) > len(prefix):
            return CUSTOM_PREFIX + cell[len(prefix) :]
    return cell
