"""The examples of docs/sla.md run and hold."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline_core.sla import Policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "sla.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_calendar_example_runs() -> None:
    exec(_blocks("python")[0], {})  # the assertions inside are the test


def test_json_policy_example_loads() -> None:
    data = json.loads(_blocks("json")[0])
    policy = Policy.from_dict(data, stages=["new", "negotiation", "won", "lost"])
    assert [r.id for r in policy.rules] == ["first_touch", "revisit_3d", "weekly_nurture"]
    assert policy.calendar.country == "DE"
    assert Policy.from_dict(policy.to_dict()) == policy


def test_backtest_example_runs() -> None:
    code = _blocks("python")[-1]
    namespace: dict[str, object] = {}
    exec(code, namespace)
    report = namespace["report"]
    assert report.breach_rate("lead.first_touch") is not None  # type: ignore[attr-defined]
