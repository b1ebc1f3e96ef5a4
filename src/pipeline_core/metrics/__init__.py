"""Funnel metrics and pipeline analytics, written once, run on records or dataframes.

Every metric takes records (plain Python, no optional dependency) or dataframes in the flat layout
of :mod:`pipeline_core.metrics.inputs` (pandas, polars eager or lazy, pyarrow, DuckDB relations,
PySpark DataFrames, through ``narwhals``, imported only when a frame is given). Results are typed
tables (:mod:`pipeline_core.metrics.results`). Definitions: ``docs/metrics.md``.

Importing this package imports no dataframe library and no numpy.
"""

from pipeline_core.metrics.conversion import lead_conversion, stage_conversion, win_rate
from pipeline_core.metrics.cycle import SurvivalCurve, aalen_johansen, kaplan_meier, sales_cycle
from pipeline_core.metrics.funnel import cohort_funnel, snapshot
from pipeline_core.metrics.inputs import (
    PipelineLike,
    StageOrder,
    event_columns,
    opportunity_columns,
    stage_order,
)
from pipeline_core.metrics.results import (
    ConversionResult,
    CycleResult,
    FunnelResult,
    MetricTable,
    SnapshotResult,
    TimeInStageResult,
    WinRateResult,
)
from pipeline_core.metrics.stages import rotting, time_in_stage

__all__ = [
    "ConversionResult",
    "CycleResult",
    "FunnelResult",
    "MetricTable",
    "PipelineLike",
    "SnapshotResult",
    "StageOrder",
    "SurvivalCurve",
    "TimeInStageResult",
    "WinRateResult",
    "aalen_johansen",
    "cohort_funnel",
    "event_columns",
    "kaplan_meier",
    "lead_conversion",
    "opportunity_columns",
    "rotting",
    "sales_cycle",
    "snapshot",
    "stage_conversion",
    "stage_order",
    "time_in_stage",
    "win_rate",
]
