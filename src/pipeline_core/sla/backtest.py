"""Deprecated module path (removed in 0.4): the policy backtest is :mod:`pipeline_core.sla.policy_backtest`.

``backtest`` and ``BacktestReport`` are now ``backtest_policy`` and ``PolicyBacktestReport``.
"""

from __future__ import annotations

from pipeline_core._deprecation import moved
from pipeline_core.sla.policy_backtest import PolicyBacktestReport, RuleStats, backtest_policy

__all__ = ["PolicyBacktestReport", "RuleStats", "backtest_policy"]

__getattr__ = moved(
    __name__,
    {
        "backtest": "pipeline_core.sla.policy_backtest:backtest_policy",
        "BacktestReport": "pipeline_core.sla.policy_backtest:PolicyBacktestReport",
    },
)
