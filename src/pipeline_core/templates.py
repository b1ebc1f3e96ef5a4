"""Ready-made stage pipelines: ``pipeline_core.templates.names()`` and ``get(name)``.

An alias of :mod:`pipeline_core.stages.templates`.
"""

from pipeline_core.stages.templates import data, get, names

__all__ = ["data", "get", "names"]
