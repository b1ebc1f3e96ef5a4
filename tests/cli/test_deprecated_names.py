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


def test_sla_reads_as_of_and_its_old_spelling_now(cli, demo) -> None:  # type: ignore[no-untyped-def]
    as_of = "2025-04-06T00:00:00+08:00"
    code_new, out_new, err_new = cli(["sla", "--store", demo["url"], "--as-of", as_of, "--json"])
    code_old, out_old, err_old = cli(["sla", "--store", demo["url"], "--now", as_of, "--json"])
    assert code_new == code_old == 0 and out_new == out_old
    assert "deprecated" not in err_new
    notice = [line for line in err_old.splitlines() if "--now is deprecated" in line]
    assert len(notice) == 1 and "use --as-of" in notice[0]


def test_a_bad_instant_names_the_spelling_given(cli, demo) -> None:  # type: ignore[no-untyped-def]
    for option in ("--as-of", "--now"):
        code, _, err = cli(["sla", "--store", demo["url"], option, "2025-04-06T00:00:00"])
        assert code == 2 and option in err
