"""The demo's ``report.html``: one self-contained page, charts embedded as inline SVG.

Charts come from :mod:`pipeline_core.metrics.charts` (matplotlib, Agg backend, no pyplot state);
the numbers are those of the demo summary, so the page and the terminal report always agree.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

__all__ = ["render_report", "svg_of", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
max-width:960px;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;
text-align:right}td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:.5rem;
overflow-x:auto}.chart svg{max-width:100%;height:auto}.muted{color:#777}
"""


def svg_of(figure: Any) -> str:
    """A matplotlib figure as an inline ``<svg>`` element (XML prolog and DOCTYPE removed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    buf = io.StringIO()
    figure.savefig(buf, format="svg")
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num(x: Any) -> str:
    return "—" if x is None else f"{x:,.0f}"


def _pct(x: Any) -> str:
    return "—" if x is None else f"{x:.1%}"


def render_report(summary: dict[str, Any], charts: dict[str, str]) -> str:
    """The HTML page of a demo ``summary`` with ``charts`` (name → inline SVG)."""
    e = html.escape
    parts: list[str] = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>pipeline-core demo report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Pipeline review (pipeline-core demo)</h1>",
        f"<p>{summary['leads']:,} generated leads (seed {summary['seed']}), pipeline "
        f"<code>{e(summary['template'])}</code>, from {e(summary['start'])} to now = "
        f"{e(summary['now'])}. Database: <code>{e(summary['db'])}</code>.</p>",
    ]
    sc = summary["scoring"]
    parts.append(f"<h2>Lead scoring ({e(sc['model'])})</h2>")
    parts.append(_table(["grade", "leads"], [[g, f"{n:,}"] for g, n in sc["grades"].items()]))
    for lead in sc["top_leads"]:
        parts.append(
            f"<h3>{e(lead['id'])} {e(lead['company'] or '')}: {lead['score']:.1f} → grade "
            f"{e(lead['grade'])} ({e(lead['follow_up'])})</h3><pre>{e(lead['explain'])}</pre>"
        )
    sla = summary["sla"]
    parts.append(f"<h2>SLA at {e(summary['now'])}</h2>")
    parts.append(
        _table(
            ["item", "due by now", "last 7 days", "most frequent rules"],
            [
                [
                    k,
                    f"{sla['counts'][k]:,}",
                    f"{sla['last_7_days'][k]:,}",
                    ", ".join(f"{r} {n:,}" for r, n in list(sla["by_rule"][k].items())[:3]),
                ]
                for k in sla["counts"]
            ],
        )
    )
    rows = [
        [i["kind"], i["at"][:16], i["rule"], i["subject_id"], i["recipient_id"] or i["recipient"]]
        for k in sla["examples"]
        for i in sla["examples"][k]
    ]
    parts.append("<p>Latest items:</p>" + _table(["kind", "at", "rule", "subject", "to"], rows))
    fn = summary["funnel"]
    parts.append(
        f"<h2>Funnel (opportunities created {e(fn['start'][:10])} to {e(fn['end'][:10])})</h2>"
    )
    parts.append(
        _table(
            ["stage", "reached", "share", "conversion", "value"],
            [
                [
                    r["stage"],
                    f"{r['reached']:,}",
                    _pct(r["share"]),
                    _pct(r["conversion"]),
                    _num(r.get("value")),
                ]
                for r in fn["rows"]
            ],
        )
    )
    b = fn["bottleneck"]
    if b:
        parts.append(
            f"<p><b>Bottleneck:</b> {e(b['from_stage'])} → {e(b['to_stage'])}: "
            f"{b['progressed']:,} of {b['entered']:,} ({_pct(b['rate'])}).</p>"
        )
    if "missing" in charts:
        parts.append(charts["missing"])
    if "funnel" in charts:
        parts.append(f"<div class='chart'>{charts['funnel']}</div>")
    if "time_in_stage" in charts:
        parts.append("<h2>Time in stage</h2>")
        parts.append(f"<div class='chart'>{charts['time_in_stage']}</div>")
    fc = summary["forecast"]
    w, mc = fc["weighted"], fc["monte_carlo"]
    parts.append(f"<h2>Forecast ({e(fc['currency'])})</h2>")
    if w and mc:
        parts.append(
            _table(
                ["open deals", "pipeline", "weighted", "P10", "P50", "P90", "mean"],
                [
                    [
                        f"{w['open']:,}",
                        _num(w["pipeline"]),
                        _num(w["weighted"]),
                        _num(mc["p10"]),
                        _num(mc["p50"]),
                        _num(mc["p90"]),
                        _num(mc["mean"]),
                    ]
                ],
            )
        )
        parts.append(
            f"<p class='muted'>Monte-Carlo: {fc['runs']:,} runs, seed {summary['seed']}.</p>"
        )
    else:
        parts.append("<p>No open deals.</p>")
    if "forecast" in charts:
        parts.append(f"<div class='chart'>{charts['forecast']}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    path: Path, summary: dict[str, Any], *, funnel: Any, forecast: Any, time_in_stage: Any
) -> Path:
    """Draw the charts and write the report page to ``path`` (without matplotlib, the ``charts``
    extra, the page has the tables and says how to get the charts)."""
    from pipeline_core.metrics import charts as ch

    figures: dict[str, str] = {}
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        figures["missing"] = (
            "<p>Charts need matplotlib: <code>pip install 'pipeline-core[charts]'</code>.</p>"
        )
    else:
        figures["funnel"] = svg_of(ch.funnel_chart(funnel, title="Funnel"))
        if time_in_stage.records():
            figures["time_in_stage"] = svg_of(ch.time_in_stage_chart(time_in_stage))
        if forecast.records():
            figures["forecast"] = svg_of(ch.forecast_fan(forecast))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(summary, figures), encoding="utf-8")
    return path
