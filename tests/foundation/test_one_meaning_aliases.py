"""#18 "no public name with two meanings": the renamed names still resolve for one release, with
a DeprecationWarning, and are not in ``__all__`` any more."""

from __future__ import annotations

import importlib

import pytest

from pipeline_core.metrics import inputs
from pipeline_core.scoring import compiled
from pipeline_core.stages import guards
from pipeline_core.testing import strategies

ALIASES = [
    ("pipeline_core.scoring.compiled", "Compiled", compiled.CompiledCriterion),
    ("pipeline_core.stages", "Guard", guards.EntryGuard),
    ("pipeline_core.stages.guards", "Guard", guards.EntryGuard),
    ("pipeline_core.metrics.inputs", "EVENT_COLUMNS", inputs.METRIC_EVENT_COLUMNS),
    ("pipeline_core.metrics.inputs", "OPPORTUNITY_COLUMNS", inputs.METRIC_OPPORTUNITY_COLUMNS),
    ("pipeline_core.testing.strategies", "names", strategies.display_names),
]


@pytest.mark.parametrize(("module", "old", "new"), ALIASES, ids=lambda x: str(x)[:40])
def test_alias_warns_and_resolves(module: str, old: str, new: object) -> None:
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match="removed in"):
        assert getattr(mod, old) is new
    assert old not in mod.__all__
