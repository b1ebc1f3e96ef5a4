"""KPI thresholds and alerts, defaulting to the table of ``domain.md`` §6.

A :class:`Threshold` says: alert (at ``level``) when ``metric`` is ``below``/``above`` ``value``.
:data:`DEFAULT_THRESHOLDS`:

=======================  ==========  =======  ========  =========================================
metric                   rule        value    level     source
=======================  ==========  =======  ========  =========================================
lead_conversion          below       0.08     alert     lead conversion < 8 %
opportunity_conversion   below       0.15     alert     opportunity conversion < 15 %
opportunity_conversion   below       0.20     warning   unstable between 10 % and 20 %
avg_follow_up_days       above       7        alert     average follow-up > 7 days
churn_rate               above       0.12     alert     churn > 12 %
cycle_days               above       30       alert     order cycle > 30 days
response_hours           above       2        alert     response > 2 h
=======================  ==========  =======  ========  =========================================

A value exactly at the threshold does not alert (strict comparison). A metric may have several
thresholds; :func:`check_kpis` reports the most severe one that fires per metric.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from pipeline_core.errors import ConfigError, Problem

__all__ = ["DEFAULT_THRESHOLDS", "Alert", "Threshold", "check_kpis", "thresholds_from_dict"]

_LEVELS = {"alert": 2, "warning": 1}


@attrs.frozen
class Threshold:
    """Alert when ``metric`` is ``rule`` (``"below"``/``"above"``) ``value``."""

    metric: str
    rule: Literal["below", "above"]
    value: float
    level: Literal["alert", "warning"] = "alert"
    message: str = ""

    def fires(self, observed: float) -> bool:
        """Whether ``observed`` breaks this threshold (strictly)."""
        return observed < self.value if self.rule == "below" else observed > self.value

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return attrs.asdict(self)


@attrs.frozen
class Alert:
    """A threshold that fired, with the observed value and a sentence saying so."""

    metric: str
    level: str
    observed: float
    threshold: Threshold
    message: str


DEFAULT_THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("lead_conversion", "below", 0.08, "alert", "lead conversion below 8%"),
    Threshold("opportunity_conversion", "below", 0.15, "alert", "opportunity conversion below 15%"),
    Threshold(
        "opportunity_conversion",
        "below",
        0.20,
        "warning",
        "opportunity conversion unstable (10-20%)",
    ),
    Threshold("avg_follow_up_days", "above", 7, "alert", "average follow-up longer than 7 days"),
    Threshold("churn_rate", "above", 0.12, "alert", "churn above 12%"),
    Threshold("cycle_days", "above", 30, "alert", "order cycle longer than 30 days"),
    Threshold("response_hours", "above", 2, "alert", "response slower than 2 hours"),
)
"""The thresholds of ``domain.md`` §6."""


def thresholds_from_dict(items: Iterable[Mapping[str, Any]]) -> tuple[Threshold, ...]:
    """Thresholds from plain data; :class:`ConfigError` lists every bad entry."""
    out: list[Threshold] = []
    problems: list[Problem] = []
    for i, item in enumerate(items):
        metric, rule, value = item.get("metric"), item.get("rule"), item.get("value")
        level = item.get("level", "alert")
        bad = False
        if not isinstance(metric, str) or not metric:
            problems.append(Problem((i, "metric"), "a non-empty metric name is needed", metric))
            bad = True
        if rule not in ("below", "above"):
            problems.append(Problem((i, "rule"), "expected 'below' or 'above'", rule))
            bad = True
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(Problem((i, "value"), "expected a number", value))
            bad = True
        if level not in _LEVELS:
            problems.append(Problem((i, "level"), "expected 'alert' or 'warning'", level))
            bad = True
        if not bad:
            out.append(
                Threshold(
                    str(metric),
                    "below" if rule == "below" else "above",
                    float(typing.cast(float, value)),
                    "warning" if level == "warning" else "alert",
                    str(item.get("message", "")),
                )
            )
    if problems:
        raise ConfigError("KPI thresholds", problems)
    return tuple(out)


def check_kpis(
    values: Mapping[str, float | None], thresholds: Iterable[Threshold] = DEFAULT_THRESHOLDS
) -> list[Alert]:
    """Alerts for ``values`` (metric name → observed value; ``None`` = not measured, skipped):
    the most severe firing threshold per metric, in threshold order."""
    best: dict[str, Alert] = {}
    for th in thresholds:
        observed = values.get(th.metric)
        if observed is None or not th.fires(observed):
            continue
        current = best.get(th.metric)
        if current is None or _LEVELS[th.level] > _LEVELS[current.level]:
            msg = f"{th.level}: {th.message or th.metric} (observed {observed:.4g}, {th.rule} {th.value:.4g})"
            best[th.metric] = Alert(th.metric, th.level, float(observed), th, msg)
    return list(best.values())
