"""A starter mapping written from a source's headers (``pipeline-core mapping init FILE``).

Each header is matched against known Chinese and English names of the record's fields
(:data:`SYNONYMS`); a header nobody knows is written commented out, for a person to finish. The
result is TOML text for :func:`~pipeline_core.ingest.mapping.load_mapping`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from pipeline_core.ingest.mapping import RECORD_KINDS, target_fields

__all__ = ["SYNONYMS", "guess_field", "starter_mapping"]

SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    "id": (
        "id",
        "编号",
        "线索编号",
        "线索id",
        "商机编号",
        "客户编号",
        "联系人编号",
        "记录编号",
        "lead id",
        "opportunity id",
        "deal id",
        "opportunity_id",
        "prospect id",
        "mql_id",
    ),
    "name": ("name", "名称", "商机名称", "客户名称", "姓名", "deal name", "opportunity name"),
    "created_at": (
        "created_at",
        "创建时间",
        "创建日期",
        "录入时间",
        "created",
        "created date",
        "create date",
        "engage_date",
        "first_contact_date",
        "date created",
    ),
    "source": (
        "source",
        "来源",
        "线索来源",
        "来源渠道",
        "渠道",
        "lead source",
        "origin",
        "channel",
    ),
    "company": ("company", "公司", "公司名称", "企业名称", "单位", "account", "company name"),
    "contact_name": ("contact_name", "联系人", "联系人姓名", "contact", "contact name"),
    "phone": ("phone", "电话", "手机", "手机号", "联系电话", "mobile", "phone number"),
    "email": ("email", "邮箱", "电子邮件", "e-mail", "email address"),
    "industry": ("industry", "行业", "所属行业", "sector", "business_segment"),
    "company_size": ("company_size", "公司规模", "员工人数", "规模", "employees"),
    "region": ("region", "地区", "区域", "省份", "城市", "city", "country", "office_location"),
    "needs": ("needs", "需求", "需求描述", "需求说明", "notes", "description"),
    "intent": ("intent", "意向", "意向程度", "初步意向", "intent level"),
    "budget": ("budget", "预算", "预算(元)", "预算（元）", "预算金额"),
    "authority": ("authority", "决策权", "决策角色", "联系人角色", "decision role"),
    "need": ("need", "需求强度", "需求程度"),
    "timeline": ("timeline", "决策周期", "采购周期", "预计决策时间", "timeframe"),
    "expected_amount": (
        "expected_amount",
        "预计金额",
        "预计成交金额",
        "金额",
        "商机金额",
        "amount",
        "deal value",
        "close_value",
        "value",
    ),
    "owner_id": (
        "owner_id",
        "负责人",
        "销售",
        "跟进人",
        "所属销售",
        "owner",
        "sales_agent",
        "sales agent",
        "sdr_id",
        "seller_id",
        "lead owner",
    ),
    "status": ("status", "状态", "线索状态", "lead status"),
    "tags": ("tags", "标签", "tag", "labels"),
    "pain_points": ("pain_points", "痛点", "pain points"),
    "stage": ("stage", "阶段", "销售阶段", "商机阶段", "deal_stage", "deal stage"),
    "expected_close": (
        "expected_close",
        "预计成交日期",
        "预计签约日期",
        "close date",
        "expected close",
        "close_date",
    ),
    "closed_at": ("closed_at", "成交时间", "关单时间", "won_date", "closed date"),
    "probability": ("probability", "赢率", "成交概率", "win probability"),
    "account_id": ("account_id", "客户id", "account id"),
    "title": ("title", "职位", "职务", "job title"),
    "wechat": ("wechat", "微信", "微信号"),
    "kind": ("kind", "跟进方式", "类型", "activity type"),
    "at": ("at", "跟进时间", "时间", "activity date"),
    "outcome": ("outcome", "跟进结果", "客户态度", "result"),
    "replied": ("replied", "是否回复", "客户是否回复"),
    "role": ("role", "角色", "岗位"),
}
"""Known names of each field in exports (Chinese CRMs, spreadsheets, the public sample datasets),
compared after :func:`_key` (case, width, white space, punctuation and a unit in brackets
ignored)."""

_UNIT: Final = re.compile(r"[(（\[【].*?[)）\]】]")
_NOISE: Final = re.compile(r"[\s_\-./:：]+")


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _UNIT.sub("", text)
    return _NOISE.sub("", text)


_INDEX: Final = {_key(name): field for field, names in SYNONYMS.items() for name in names}


def guess_field(header: str, record: str = "lead") -> str | None:
    """The field of a ``record`` that ``header`` most likely names (``"预算(元)"`` → ``"budget"``),
    or ``None``. Only exact synonyms count (after normalising case, width, spaces, punctuation
    and a bracketed unit): no fuzzy matching."""
    field = _INDEX.get(_key(header))
    if field is None or field not in target_fields(record):
        return None
    return field


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string is a JSON string


def starter_mapping(
    headers: Iterable[str],
    record: str = "lead",
    *,
    currency: str | None = None,
    timezone: str | None = None,
) -> str:
    """TOML text of a starter mapping for a source with ``headers``: each header mapped to its
    :func:`guess_field` (a field filled by an earlier header is not used twice), unknown headers
    commented out. ``currency``/``timezone`` are written when given, else left as commented lines
    to fill in when money or instant columns are mapped. Raises ``KeyError`` for an unknown
    ``record`` kind."""
    if record not in RECORD_KINDS:
        raise KeyError(f"unknown record kind {record!r}; one of {', '.join(RECORD_KINDS)}")
    fields = target_fields(record)
    lines = [
        "# A starter mapping: check every line, then load it with load_mapping().",
        f"record = {_q(record)}",
    ]
    chosen: dict[str, str] = {}
    rest: list[str] = []
    for header in headers:
        field = guess_field(header, record)
        if field is None or field in chosen.values():
            rest.append(header)
        else:
            chosen[header] = field
    kinds = {fields[f].kind for f in chosen.values()}
    if currency:
        lines.append(f"currency = {_q(currency)}")
    elif "money" in kinds:
        lines.append('# currency = "CNY"  # needed: the currency of the money columns')
    if timezone:
        lines.append(f"timezone = {_q(timezone)}")
    elif "instant" in kinds:
        lines.append('# timezone = "Asia/Shanghai"  # needed: the zone of the wall times')
    if "instant" in kinds:
        lines.append('# time_of_day = "09:00"  # for date-only values')
    if "id" in chosen.values():
        id_header = next(h for h, f in chosen.items() if f == "id")
        lines.append(f"external_id = {_q(id_header)}")
    lines += ["", "[columns]"]
    lines += [f"{_q(h)} = {_q(f)}" for h, f in chosen.items()]
    lines += [f'# {_q(h)} = ""  # no known field: name one or leave it out' for h in rest]
    missing = [n for n, s in fields.items() if s.required and n not in chosen.values()]
    if missing:
        lines += ["", "[defaults]"]
        lines += [f'# {n} = ""  # required and no column fills it' for n in missing]
    return "\n".join(lines) + "\n"
