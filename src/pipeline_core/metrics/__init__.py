"""Funnel metrics and pipeline analytics, written once, run on records or dataframes.

Every metric takes records (plain Python, no optional dependency) or dataframes in the flat layout
of :mod:`pipeline_core.metrics.inputs` (pandas, polars eager or lazy, pyarrow, DuckDB relations,
PySpark DataFrames, through ``narwhals``, imported only when a frame is given). Results are typed
tables (:mod:`pipeline_core.metrics.results`). Definitions: ``docs/metrics.md``.

Importing this package imports no dataframe library and no numpy; charts live in
:mod:`pipeline_core.metrics.charts` (matplotlib, imported when a chart is drawn).
"""

from pipeline_core._deprecation import moved
from pipeline_core.metrics.abtest import (
    TwoProportionTest,
    ab_test,
    ab_test_from_funnel,
    two_proportion_test,
)
from pipeline_core.metrics.cohort import churn_rate, repurchase_rate
from pipeline_core.metrics.conversion import lead_conversion, stage_conversion, win_rate
from pipeline_core.metrics.cycle import SurvivalCurve, aalen_johansen, kaplan_meier, sales_cycle
from pipeline_core.metrics.forecast import (
    monte_carlo_forecast,
    pipeline_velocity,
    stage_probabilities,
    weighted_forecast,
)
from pipeline_core.metrics.funnel import cohort_funnel, snapshot
from pipeline_core.metrics.inputs import (
    StageKindsLike,
    StageOrder,
    event_columns,
    opportunity_columns,
    stage_order,
)
from pipeline_core.metrics.kpi import DEFAULT_THRESHOLDS, Alert, Threshold, check_kpis
from pipeline_core.metrics.response import (
    followups_per_rep_week,
    reply_rate,
    response_time,
    sla_attainment,
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
from pipeline_core.metrics.scorecard import scorecard
from pipeline_core.metrics.segments import (
    CustomerFacts,
    SegmentPolicy,
    SegmentRule,
    customer_facts,
    refresh,
    segment_column,
)
from pipeline_core.metrics.stages import rotting, time_in_stage

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Alert",
    "ConversionResult",
    "CustomerFacts",
    "CycleResult",
    "FunnelResult",
    "MetricTable",
    "SegmentPolicy",
    "SegmentRule",
    "SnapshotResult",
    "StageKindsLike",
    "StageOrder",
    "SurvivalCurve",
    "Threshold",
    "TimeInStageResult",
    "TwoProportionTest",
    "WinRateResult",
    "aalen_johansen",
    "ab_test",
    "ab_test_from_funnel",
    "check_kpis",
    "churn_rate",
    "cohort_funnel",
    "customer_facts",
    "event_columns",
    "followups_per_rep_week",
    "kaplan_meier",
    "lead_conversion",
    "monte_carlo_forecast",
    "opportunity_columns",
    "pipeline_velocity",
    "refresh",
    "reply_rate",
    "repurchase_rate",
    "response_time",
    "rotting",
    "sales_cycle",
    "scorecard",
    "segment_column",
    "sla_attainment",
    "snapshot",
    "stage_conversion",
    "stage_order",
    "stage_probabilities",
    "time_in_stage",
    "two_proportion_test",
    "weighted_forecast",
    "win_rate",
]

# Old names, kept working for one release (not in ``__all__``).
__getattr__ = moved(__name__, {"PipelineLike": "pipeline_core.metrics.inputs:StageKindsLike"})
