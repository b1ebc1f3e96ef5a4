"""Charts of metric results with matplotlib (the ``charts`` extra), saved as PNG or SVG.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot global state) and returned,
so notebooks display them and :func:`save` writes them; the format follows the file suffix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline_core._optional import require
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.metrics.results import FunnelResult, MetricTable, TimeInStageResult

__all__ = ["ab_chart", "forecast_fan", "funnel_chart", "save", "time_in_stage_chart"]


def _figure(width: float = 7.0, height: float = 4.0) -> tuple[Any, Any]:
    require("matplotlib.figure", "charts")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def funnel_chart(result: FunnelResult, *, title: str | None = None) -> Any:
    """Horizontal bars of ``reached`` per step (one bar group per group key), share labelled."""
    fig, ax = _figure()
    n = len(result.group_by)
    groups = result.groups()
    height = 0.8 / max(1, len(groups))
    steps = [r[n] for r in result.rows if tuple(r[:n]) == groups[0]]
    for gi, key in enumerate(groups):
        recs = [r for r in result.records() if tuple(r[c] for c in result.group_by) == key]
        ys = [i + gi * height for i in range(len(recs))]
        bars = ax.barh(
            ys, [r["reached"] for r in recs], height=height, label=" / ".join(map(str, key)) or None
        )
        for bar, r in zip(bars, recs, strict=True):
            share = r["share"]
            ax.text(
                bar.get_width(),
                bar.get_y() + bar.get_height() / 2,
                f" {share:.0%}" if share is not None else "",
                va="center",
                fontsize=8,
            )
    ax.set_yticks([i + (len(groups) - 1) * height / 2 for i in range(len(steps))], steps)
    ax.invert_yaxis()
    ax.set_xlabel("opportunities that reached the step")
    ax.set_title(title or "Cohort funnel")
    if n:
        ax.legend(fontsize=8)
    return fig


def time_in_stage_chart(result: TimeInStageResult, *, title: str | None = None) -> Any:
    """Bars of the median days per stage with the p90 as a marker (ungrouped rows only)."""
    fig, ax = _figure()
    recs = [
        r
        for r in result.records()
        if all(r.get(c) == result.records()[0].get(c) for c in result.group_by)
    ]
    xs = range(len(recs))
    ax.bar(xs, [r.get("median_days") or 0 for r in recs], label="median")
    if recs and "p90_days" in recs[0]:
        ax.scatter(
            xs,
            [r.get("p90_days") or 0 for r in recs],
            color="black",
            marker="_",
            s=400,
            label="p90",
        )
    ax.set_xticks(list(xs), [r["stage"] for r in recs])
    ax.set_ylabel("days in stage")
    ax.set_title(title or "Time in stage")
    ax.legend(fontsize=8)
    return fig


def forecast_fan(result: MetricTable, *, title: str | None = None) -> Any:
    """P10–P90 range with the P50 and mean per group of a Monte-Carlo forecast."""
    if result.metric != "monte_carlo_forecast":
        raise ValidationError(
            "result", [Problem(("metric",), "expected a Monte-Carlo forecast", result.metric)]
        )
    fig, ax = _figure()
    recs = result.records()
    labels = [" / ".join(str(r[c]) for c in result.group_by) or "all" for r in recs]
    xs = list(range(len(recs)))
    for x, r in zip(xs, recs, strict=True):
        ax.fill_between([x - 0.3, x + 0.3], r["p10"], r["p90"], alpha=0.3, color="tab:blue")
        ax.hlines(r["p50"], x - 0.3, x + 0.3, color="tab:blue", label="P50" if x == 0 else None)
        ax.scatter([x], [r["mean"]], color="black", marker="x", label="mean" if x == 0 else None)
    ax.set_xticks(xs, labels)
    ax.set_ylabel(f"won amount ({result.params.get('currency') or ''})")
    ax.set_title(title or "Forecast (P10–P90)")
    ax.legend(fontsize=8)
    return fig


def ab_chart(result: MetricTable, *, title: str | None = None) -> Any:
    """Conversion per variant with the confidence interval of the difference to the control."""
    if result.metric != "ab_test":
        raise ValidationError(
            "result", [Problem(("metric",), "expected an A/B test result", result.metric)]
        )
    fig, ax = _figure()
    recs = result.records()
    control_rate = next((r["rate"] for r in recs if r["verdict"] == "control"), 0.0) or 0.0
    xs = list(range(len(recs)))
    ax.bar(
        xs,
        [r["rate"] or 0 for r in recs],
        color=["gray" if r["verdict"] == "control" else "tab:blue" for r in recs],
    )
    for x, r in zip(xs, recs, strict=True):
        if r["ci_low"] is not None:
            ax.vlines(x, control_rate + r["ci_low"], control_rate + r["ci_high"], color="black")
    ax.set_xticks(xs, [str(r["variant"]) for r in recs])
    ax.set_ylabel("conversion")
    ax.set_title(title or "A/B comparison")
    return fig


def save(figure: Any, path: str | Path) -> Path:
    """Write ``figure`` to ``path``; ``.png`` or ``.svg`` (anything else: ValidationError)."""
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ValidationError(
            "path", [Problem(("path",), "save as .png or .svg", str(path), "format")]
        )
    figure.savefig(p, format=fmt)
    return p
