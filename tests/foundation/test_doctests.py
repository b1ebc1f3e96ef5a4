"""The ``>>>`` examples in the library's docstrings run as part of the suite, module by module."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pipeline_core

_SKIP = frozenset({"pipeline_core.__main__", "pipeline_core.samples.__main__"})


def _modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(pipeline_core.__path__, prefix="pipeline_core.")
        if info.name not in _SKIP
    ]
    return ["pipeline_core", *sorted(names)]


def _examples(name: str) -> int:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return sum(len(test.examples) for test in finder.find(module, name))


@pytest.mark.parametrize("name", [n for n in _modules() if _examples(n)])
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_examples_are_found() -> None:
    # the issue counted 44 examples in source docstrings: none may silently stop being collected
    assert sum(_examples(n) for n in _modules()) >= 44
