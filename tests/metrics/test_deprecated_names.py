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
