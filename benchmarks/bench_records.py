"""Foundation benchmarks: validating activity dicts into records, and the import time."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

import pydantic

from benchmarks._harness import Row, median_time
from pipeline_core.records import Activity, ActivityKind, Outcome

HEAVY = ("pandas", "polars", "numpy", "psycopg", "narwhals")


class _PlainNextStep(pydantic.BaseModel):
    action: str
    due_at: pydantic.AwareDatetime


class _PlainActivity(pydantic.BaseModel):
    """The baseline: a plain pydantic v2 model of the same fields."""

    model_config = pydantic.ConfigDict(extra="forbid")
    id: str
    kind: ActivityKind
    at: pydantic.AwareDatetime
    owner_id: str
    lead_id: str | None = None
    opportunity_id: str | None = None
    account_id: str | None = None
    contact_id: str | None = None
    outcome: Outcome | None = None
    replied: bool = False
    notes: str = ""
    next_action: _PlainNextStep | None = None
    variant: str | None = None
    tags: frozenset[str] = frozenset()
    version: int = 1


def _dicts(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        d: dict[str, Any] = {
            "id": f"act-{i:07d}",
            "kind": ("call", "email", "visit", "message")[i % 4],
            "at": f"2025-01-{1 + i % 28:02d}T{9 + i % 9:02d}:15:00+08:00",
            "owner_id": f"user-{i % 40}",
            "opportunity_id": f"opp-{i // 3:07d}",
            "outcome": ("positive", "watching", "averse")[i % 3],
            "replied": i % 2 == 0,
            "notes": "客户有兴趣, asked for a quote",
            "tags": ["q1"] if i % 5 == 0 else [],
        }
        if i % 3 == 0:
            d["next_action"] = {"action": "send quote", "due_at": "2025-02-01T10:00:00+08:00"}
        out.append(d)
    return out


def _import_ms() -> tuple[float, str]:
    code = f"import sys, pipeline_core; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    times, times_bare, heavy = [], [], ""
    for _ in range(7):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        times.append(time.perf_counter() - start)
        heavy = out.stdout.strip()
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times_bare.append(time.perf_counter() - start)
    return (statistics.median(times) - statistics.median(times_bare)) * 1000, heavy


def run(scale: float) -> list[Row]:
    n = max(1000, int(200_000 * scale))
    data = _dicts(n)
    assert Activity.from_dict(data[0]).at == datetime.fromisoformat(data[0]["at"])
    ours = median_time(lambda: [Activity.from_dict(d) for d in data], repeat=5)
    base = median_time(lambda: [_PlainActivity.model_validate(d) for d in data], repeat=5)
    import_ms, heavy = _import_ms()
    return [
        Row(
            f"validate {n:,} activity dicts",
            ours,
            base,
            "plain pydantic v2 model",
            f"target ≤ 1.5; {n / ours:,.0f} records/s",
        ),
        Row(
            "import pipeline_core",
            import_ms,
            None,
            note=f"heavy modules imported: {heavy or 'none'}",
            unit="ms",
        ),
    ]
