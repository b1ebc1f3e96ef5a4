"""Optional dependencies: one place that says which extra installs a missing package.

Every import of a package outside the base install goes through :func:`require` first, so a
missing package is a :class:`MissingExtraError` that names the extra to install
(``pip install 'pipeline-core[frames]'``), never a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

__all__ = ["EXTRAS", "MissingExtraError", "require"]

EXTRAS: Final = {
    "holidays": "holidays",
    "numpy": "frames",
    "narwhals": "frames",
    "polars": "frames",
    "pandas": "frames",
    "pyarrow": "frames",
    "duckdb": "frames",
    "pyspark": "spark",
    "psycopg": "postgres",
    "phonenumbers": "team",
    "rapidfuzz": "team",
    "matplotlib": "charts",
    "openpyxl": "ingest",
    "python_calamine": "ingest",
}
"""The extra of ``pyproject.toml`` that installs each optional top-level package."""


class MissingExtraError(ModuleNotFoundError):
    """An optional package is not installed; the message names the extra that installs it.

    A :class:`ModuleNotFoundError` (so ``except ImportError`` still catches it) with ``name``
    (the package) and ``extra``."""

    def __init__(self, module: str, extra: str, needed_for: str = "") -> None:
        top = module.split(".")[0]
        why = f" (needed for {needed_for})" if needed_for else ""
        super().__init__(
            f"the optional package {top!r} is not installed{why}: "
            f"pip install 'pipeline-core[{extra}]'",
            name=top,
        )
        self.extra = extra


def require(module: str, extra: str | None = None, needed_for: str = "") -> ModuleType:
    """Import and return ``module``; if it (or a package it needs) is missing, raise
    :class:`MissingExtraError` naming ``extra`` (default: the extra of :data:`EXTRAS` for the
    module's top-level package).

    >>> require("json").__name__
    'json'
    >>> require("no_such_package_xyz", "frames")
    Traceback (most recent call last):
    ...
    pipeline_core._optional.MissingExtraError: the optional package 'no_such_package_xyz' is not installed: pip install 'pipeline-core[frames]'
    """
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except MissingExtraError:
        raise
    except ModuleNotFoundError as exc:
        missing = (exc.name or top).split(".")[0]
        name = extra or EXTRAS.get(top) or EXTRAS.get(missing) or "all"
        raise MissingExtraError(missing, name, needed_for) from exc
