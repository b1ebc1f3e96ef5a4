"""Deprecated module path (removed in 0.4): the policy backtest is :mod:`pipeline_core.sla.policy_backtest`.

``backtest`` and ``BacktestReport`` are now ``backtest_policy`` and ``PolicyBacktestReport``.
"""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

from pipeline_core._deprecation import REMOVED_IN, moved
from pipeline_core.sla.policy_backtest import PolicyBacktestReport, RuleStats, backtest_policy

# the old public names, so that ``from ... import *`` still imports them (the old ones warn)
__all__ = ["BacktestReport", "RuleStats", "backtest"]  # noqa: F822 (served by __getattr__)

__getattr__ = moved(
    __name__,
    {
        "backtest": "pipeline_core.sla.policy_backtest:backtest_policy",
        "BacktestReport": "pipeline_core.sla.policy_backtest:PolicyBacktestReport",
    },
)


class _CallableShim(types.ModuleType):
    """Once this module is imported, Python sets the package attribute ``pipeline_core.sla.backtest``
    to the module itself: calling it keeps working (with the warning) as the function did."""

    def __call__(self, *args: Any, **kwargs: Any) -> PolicyBacktestReport:
        warnings.warn(
            "pipeline_core.sla.backtest(...) is deprecated: use "
            f"pipeline_core.sla.backtest_policy(...) (removed in {REMOVED_IN})",
            DeprecationWarning,
            stacklevel=2,
        )
        return backtest_policy(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableShim
