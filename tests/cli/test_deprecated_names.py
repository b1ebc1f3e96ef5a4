"""Names that moved out of ``pipeline_core.cli.commands`` and ``pipeline_core.cli.demo`` keep
working for one release: each warns and resolves to the object at its new home."""

from __future__ import annotations

import importlib

import pytest

MOVED = [
    ("pipeline_core.cli.commands", "load_leads", "pipeline_core.cli.score", "load_leads"),
    ("pipeline_core.cli.commands", "score_leads", "pipeline_core.cli.score", "score_leads"),
    ("pipeline_core.cli.commands", "infer_pipeline", "pipeline_core.cli._common", "infer_pipeline"),
    ("pipeline_core.cli.commands", "EXIT_FOUND", "pipeline_core.cli.check", "EXIT_FOUND"),
    ("pipeline_core.cli.demo", "add_lang_ids", "pipeline_core.cli._options", "add_lang_ids"),
]


@pytest.mark.parametrize(("old_module", "old", "new_module", "new"), MOVED)
def test_moved_name_warns_and_resolves(
    old_module: str, old: str, new_module: str, new: str
) -> None:
    module = importlib.import_module(old_module)
    with pytest.warns(DeprecationWarning, match=new):
        value = getattr(module, old)
    assert value is getattr(importlib.import_module(new_module), new)
    assert old not in module.__all__
