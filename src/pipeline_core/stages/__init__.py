"""Stage pipelines: declarative stage state machines with guards, history, lifecycle and templates.

- :class:`Pipeline` - an immutable, validated definition of stages and allowed transitions;
  :meth:`Pipeline.move` is a pure function from one version of an opportunity to the next.
  Its parts: the value classes (:mod:`~pipeline_core.stages.values`), the named checks run when
  it is built (:mod:`~pipeline_core.stages.checks`) and its compiled edge table
  (:mod:`~pipeline_core.stages.compiled`).
- :mod:`~pipeline_core.stages.guards` - declarative conditions (usable from JSON) and callables.
- :mod:`~pipeline_core.stages.history` - current stage, path, time in stage, state at an instant.
- :mod:`~pipeline_core.stages.lifecycle` - lead to opportunity (:func:`convert`), post-sale pipeline.
- :mod:`~pipeline_core.stages.templates` - ready pipelines for the stage sets of ``domain.md`` §4.
- :mod:`~pipeline_core.stages.diagram` - Mermaid and Graphviz DOT diagrams.
"""

from pipeline_core._deprecation import moved
from pipeline_core.stages import templates
from pipeline_core.stages.definition import (
    FORECAST_CATEGORIES,
    ForecastCategory,
    Pipeline,
    Stage,
    StageAction,
    StageKind,
    Transition,
    TransitionRules,
)
from pipeline_core.stages.guards import OPERATORS, Check, Condition, EntryGuard
from pipeline_core.stages.history import EventLog, History, StageState, Visit, state_at
from pipeline_core.stages.lifecycle import Conversion, Opened, convert, open_post_sale

__all__ = [
    "FORECAST_CATEGORIES",
    "OPERATORS",
    "Check",
    "Condition",
    "Conversion",
    "EntryGuard",
    "EventLog",
    "ForecastCategory",
    "History",
    "Opened",
    "Pipeline",
    "Stage",
    "StageAction",
    "StageKind",
    "StageState",
    "Transition",
    "TransitionRules",
    "Visit",
    "convert",
    "open_post_sale",
    "state_at",
    "templates",
]

__getattr__ = moved(__name__, {"Guard": "pipeline_core.stages.guards:EntryGuard"})
