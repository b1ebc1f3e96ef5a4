"""The shared error of the metrics given stage events without a timestamp (one definition,
used by the funnel and the stage metrics)."""

from __future__ import annotations

from pipeline_core.errors import ValidationError
from pipeline_core.metrics import _common, funnel, stages


def test_missing_at_error_is_one_missing_problem_at_at() -> None:
    err = _common.missing_at_error(3)
    assert isinstance(err, ValidationError)
    assert [(p.field, p.message, p.code, p.missing) for p in err.problems] == [
        ("at", "3 stage events have no timestamp", "missing", True)
    ]


def test_funnel_and_stage_metrics_share_it() -> None:
    assert funnel.missing_at_error is stages.missing_at_error is _common.missing_at_error
