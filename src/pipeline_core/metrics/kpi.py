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
thresholds; :func:`check_kpis` reports the most severe one that fires per metric. A metric name
no threshold knows (a typo such as ``respnse_hours``) is an error, never silently skipped; a
missing value (``None``, ``NaN``) is "not measured" and skipped.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from pipeline_core.errors import ConfigError, Problem, ValidationError
from pipeline_core.facts import is_missing

__all__ = ["DEFAULT_THRESHOLDS", "Alert", "Threshold", "check_kpis", "thresholds_from_dict"]

_LEVELS = {"alert": 2, "warning": 1}


_KEYS = frozenset({"metric", "rule", "value", "level", "message"})


def _threshold_problems(
    metric: Any, rule: Any, value: Any, level: Any, message: Any, path: tuple[str | int, ...]
) -> list[Problem]:
    """Every problem with one threshold's values (shared by the constructor and the reader)."""
    problems: list[Problem] = []
    if not isinstance(metric, str) or not metric:
        problems.append(Problem((*path, "metric"), "a non-empty metric name is needed", metric))
    if rule not in ("below", "above"):
        problems.append(Problem((*path, "rule"), "expected 'below' or 'above'", rule))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(Problem((*path, "value"), "expected a finite number", value))
    if level not in _LEVELS:
        problems.append(Problem((*path, "level"), "expected 'alert' or 'warning'", level))
    if not isinstance(message, str):
        problems.append(Problem((*path, "message"), "expected text", message))
    return problems


@attrs.frozen
class Threshold:
    """Alert when ``metric`` is ``rule`` (``"below"``/``"above"``) ``value``.

    Validated on construction: :class:`~pipeline_core.errors.ConfigError` names every bad field.
    """

    metric: str
    rule: Literal["below", "above"]
    value: float
    level: Literal["alert", "warning"] = "alert"
    message: str = ""

    def __attrs_post_init__(self) -> None:
        problems = _threshold_problems(
            self.metric, self.rule, self.value, self.level, self.message, ()
        )
        if problems:
            raise ConfigError("KPI threshold", problems)

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
    """Thresholds from plain data: a list of ``{"metric", "rule", "value", "level"?,
    "message"?}`` mappings. :class:`ConfigError` lists every bad entry and field (a mapping or a
    text instead of the list, an entry that is not a mapping, an unknown key)."""
    if isinstance(items, Mapping | str | bytes) or not isinstance(items, Iterable):
        raise ConfigError(
            "KPI thresholds",
            [
                Problem(
                    (),
                    "expected a list of thresholds, e.g. [{'metric': 'lead_conversion', "
                    "'rule': 'below', 'value': 0.08}]",
                    items,
                    "type",
                )
            ],
        )
    out: list[Threshold] = []
    problems: list[Problem] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(Problem((i,), "expected a mapping", item, "type"))
            continue
        problems.extend(
            Problem((i, str(key)), "unknown field", item[key], "extra_forbidden")
            for key in item
            if key not in _KEYS
        )
        metric, rule, value = item.get("metric"), item.get("rule"), item.get("value")
        level = item.get("level", "alert")
        found = _threshold_problems(metric, rule, value, level, item.get("message", ""), (i,))
        problems.extend(found)
        if not found:
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
    """Alerts for ``values`` (metric name → observed value; ``None`` or ``NaN`` = not measured,
    skipped): the most severe firing threshold per metric, in threshold order.

    :class:`~pipeline_core.errors.ValidationError` names every metric of ``values`` that no
    threshold knows (a misspelling would otherwise never alert) and every value that is not a
    number; :class:`~pipeline_core.errors.ConfigError` for an item of ``thresholds`` that is not
    a :class:`Threshold`.
    """
    thresholds = tuple(thresholds)
    bad = [(i, t) for i, t in enumerate(thresholds) if not isinstance(t, Threshold)]
    if bad:
        raise ConfigError(
            "KPI thresholds",
            [Problem(("thresholds", i), "not a Threshold", t, "type") for i, t in bad],
        )
    known = {th.metric for th in thresholds}
    problems: list[Problem] = []
    for name, observed in values.items():
        if name not in known:
            problems.append(
                Problem(
                    (name,),
                    f"no threshold for this metric; known: {', '.join(sorted(known))}",
                    name,
                    "unknown_metric",
                )
            )
        elif not is_missing(observed) and (
            isinstance(observed, bool) or not isinstance(observed, int | float)
        ):
            problems.append(Problem((name,), "expected a number or None", observed, "type"))
    if problems:
        raise ValidationError("KPI values", problems)
    best: dict[str, Alert] = {}
    for th in thresholds:
        observed = values.get(th.metric)
        if observed is None or is_missing(observed) or not th.fires(observed):
            continue
        current = best.get(th.metric)
        if current is None or _LEVELS[th.level] > _LEVELS[current.level]:
            msg = f"{th.level}: {th.message or th.metric} (observed {observed:.4g}, {th.rule} {th.value:.4g})"
            best[th.metric] = Alert(th.metric, th.level, float(observed), th, msg)
    return list(best.values())
