"""Old metrics names keep working for one release: each warns and resolves to the new object."""

from __future__ import annotations

import importlib

import pytest

from pipeline_core.metrics.inputs import StageKindsLike


@pytest.mark.parametrize("module", ["pipeline_core.metrics", "pipeline_core.metrics.inputs"])
def test_pipeline_like_is_the_old_name_of_stage_kinds_like(module: str) -> None:
    package = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match="StageKindsLike"):
        old = package.PipelineLike
    assert old is StageKindsLike
    assert "PipelineLike" not in package.__all__


@pytest.mark.parametrize("name", ["snapshot", "weighted_forecast", "monte_carlo_forecast"])
def test_at_is_the_old_name_of_as_of(name: str) -> None:
    from datetime import UTC, datetime

    from pipeline_core import metrics as m

    order = m.stage_order(["new", "won_soon"], won=["won"], lost=["lost"])
    as_of = datetime(2025, 1, 6, tzinfo=UTC)
    args: tuple[list[object], ...] = ([], []) if name == "snapshot" else ([],)
    options: dict[str, object] = {"stages": order}
    if name != "snapshot":  # the forecasts take the instant to convert currencies at
        options |= {"currency": "CNY", "probabilities": {"new": 0.1, "won_soon": 0.6}}
    new = getattr(m, name)(*args, **options, as_of=as_of)
    with pytest.warns(DeprecationWarning, match="as_of"):
        old = getattr(m, name)(*args, **options, at=as_of)
    assert old.records() == new.records()
