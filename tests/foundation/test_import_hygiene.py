"""`import pipeline_core` stays light: no dataframe, numeric or database library is imported."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "pandas",
    "polars",
    "numpy",
    "psycopg",
    "narwhals",
    "pyarrow",
    "duckdb",
    "pyspark",
    "matplotlib",
)


def _export_targets() -> dict[str, str]:
    import pipeline_core

    return dict(pipeline_core._EXPORTS)


_EXPORT_TARGETS = _export_targets()


def test_import_pulls_in_no_heavy_dependency() -> None:
    code = (
        "import sys, pipeline_core, pipeline_core.records, pipeline_core.samples\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_version_is_exposed() -> None:
    import pipeline_core

    assert isinstance(pipeline_core.__version__, str) and pipeline_core.__version__


def _type_checking_view() -> dict[str, str]:
    """The names the ``if TYPE_CHECKING:`` block of ``pipeline_core/__init__.py`` gives type
    checkers, spelled as the export map spells them (``module`` or ``module:attribute``)."""
    import pipeline_core

    tree = ast.parse(Path(pipeline_core.__file__).read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
        if node.test.id == "TYPE_CHECKING"
    )
    imported: dict[str, str] = {}
    view: dict[str, str] = {}
    for node in block.body:
        if isinstance(node, ast.ImportFrom):
            assert node.module is not None
            for alias in node.names:
                local = alias.asname or alias.name
                if node.module == "pipeline_core":  # a submodule
                    imported[local] = f"pipeline_core.{alias.name}"
                elif alias.name == local:
                    imported[local] = node.module
                else:
                    imported[local] = f"{node.module}:{alias.name}"
        elif isinstance(node, ast.Assign):  # ``open_store = _open``: exported under another name
            (target,) = node.targets
            assert isinstance(target, ast.Name) and isinstance(node.value, ast.Name)
            view[target.id] = imported.pop(node.value.id)
        else:  # pragma: no cover - the block holds imports and aliases only
            raise AssertionError(ast.dump(node))
    return {**imported, **view}


def test_type_checking_imports_agree_with_the_export_map() -> None:
    import pipeline_core

    assert _type_checking_view() == pipeline_core._EXPORTS


def test_all_and_dir_are_derived_from_the_export_map() -> None:
    import pipeline_core

    assert pipeline_core.__all__ == ["__version__", *sorted(pipeline_core._EXPORTS)]
    assert len(set(pipeline_core.__all__)) == len(pipeline_core.__all__)
    assert set(pipeline_core._EXPORTS) <= set(dir(pipeline_core))
    assert not any(name.startswith("_") for name in pipeline_core._EXPORTS)


def test_dir_lists_public_names_only() -> None:
    import pipeline_core
    import pipeline_core.sla  # an imported subpackage is an attribute worth listing

    listed = dir(pipeline_core)
    for helper in ("TYPE_CHECKING", "annotations", "importlib", "_EXPORTS", "_PACKAGE", "Final"):
        assert helper not in listed
    assert "sla" in listed and "__version__" in listed and "__name__" in listed
    assert [n for n in listed if not n.startswith("__")] == sorted(
        {*pipeline_core.__all__, *(n for n in listed if not n.startswith("_"))} - {"__version__"}
    )
    assert {n for n in listed if n.startswith("_") and not n.startswith("__")} == set()


@pytest.mark.parametrize("name", sorted(_EXPORT_TARGETS))
def test_each_export_resolves_once_and_is_cached(name: str) -> None:
    import pipeline_core

    module_name, _, attribute = _EXPORT_TARGETS[name].partition(":")
    module = importlib.import_module(module_name)
    expected = (
        module if module_name == f"pipeline_core.{name}" else getattr(module, attribute or name)
    )
    assert getattr(pipeline_core, name) is expected
    assert vars(pipeline_core)[name] is expected  # cached: the next access skips __getattr__


def test_unknown_name_raises_attribute_error() -> None:
    import pipeline_core

    with pytest.raises(AttributeError, match="no_such_name"):
        pipeline_core.no_such_name
    assert not hasattr(pipeline_core, "_LAZY")


def test_import_loads_no_capability_until_a_name_is_used() -> None:
    code = (
        "import sys, pipeline_core\n"
        "before = sorted(m for m in sys.modules if m.startswith('pipeline_core'))\n"
        "pipeline_core.Lead\n"
        "print(before, 'pipeline_core.records' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['pipeline_core', 'pipeline_core._version'] True"
