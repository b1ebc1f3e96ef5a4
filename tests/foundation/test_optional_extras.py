"""Every optional import names the extra that installs it (pipeline_core._optional)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from pipeline_core._optional import EXTRAS, MissingExtraError, require

SRC = Path(__file__).resolve().parents[2] / "src" / "pipeline_core"


def _extras_of_pyproject() -> dict[str, str]:
    import tomllib

    data = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for extra, reqs in data["project"]["optional-dependencies"].items():
        for req in reqs:
            name = req.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip()
            found.setdefault(name.replace("-", "_"), extra)
    return found


def test_each_package_maps_to_an_extra_that_installs_it() -> None:
    extras = _extras_of_pyproject()
    data_extras = {e for e in extras.values()}
    for package, extra in EXTRAS.items():
        assert extra in data_extras, (package, extra)
        # the named extra really lists the package (pyarrow, numpy, ... are in 'frames')
        assert package in extras, package


def test_a_missing_package_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rapidfuzz", None)  # import rapidfuzz -> ModuleNotFoundError
    with pytest.raises(MissingExtraError) as info:
        require("rapidfuzz", "team")
    assert "pip install 'pipeline-core[team]'" in str(info.value)
    assert info.value.name == "rapidfuzz" and info.value.extra == "team"
    assert isinstance(info.value, ModuleNotFoundError)  # `except ImportError` still catches it


def test_the_extra_defaults_to_the_package_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # even when imported before
    with pytest.raises(MissingExtraError, match=r"pipeline-core\[charts\]"):
        require("matplotlib.figure")


def test_every_optional_import_in_the_source_goes_through_require() -> None:
    """Each ``import`` of an optional package (outside TYPE_CHECKING) follows a ``require``."""
    unguarded = []
    for path in SRC.rglob("*.py"):
        if path.name == "_optional.py":
            continue
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        lines = text.splitlines()
        checking = [
            (n.lineno, n.end_lineno or n.lineno)
            for n in ast.walk(tree)
            if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
        ]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module or ""]
            else:
                continue
            if not any(m.split(".")[0] in EXTRAS for m in mods):
                continue
            if any(a <= node.lineno <= b for a, b in checking):
                continue
            before = lines[node.lineno - 2].strip()
            if not before.startswith("require("):
                unguarded.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert unguarded == []
