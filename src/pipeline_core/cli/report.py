"""The demo's ``report.html``: one self-contained page, charts embedded as inline SVG.

Charts come from :mod:`pipeline_core.metrics.charts` (matplotlib, Agg backend, no pyplot state);
the numbers are those of the demo summary, so the page and the terminal report always agree.
"""

from __future__ import annotations

import html
import io
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pipeline_core._optional import require
from pipeline_core.cli import _format as f

__all__ = ["readable_chart", "render_report", "svg_of", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",
"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;
color:#222}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;
white-space:nowrap;vertical-align:top}th{text-align:left}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums}td.wrap{white-space:normal}pre{background:#f6f6f6;padding:.5rem;
overflow-x:auto}.chart svg{max-width:100%;height:auto}.muted{color:#777}
"""

_CHART_RC: Final[dict[Any, Any]] = {"svg.hashsalt": "pipeline-core", "svg.fonttype": "none"}
"""matplotlib settings of the report's charts: fixed element ids (the same bytes for the same
input) and text kept as text (the browser draws it with the page's fonts, Chinese included)."""


def svg_of(figure: Any) -> str:
    """A matplotlib figure as an inline ``<svg>`` element (XML prolog and DOCTYPE removed).

    The same figure gives the same bytes: no date in the metadata, fixed element ids."""
    require("matplotlib", "charts")
    import matplotlib

    matplotlib.use("Agg", force=False)
    buf = io.StringIO()
    with matplotlib.rc_context(_CHART_RC), warnings.catch_warnings():
        # without a CJK font matplotlib only measures Chinese labels roughly; the browser draws
        # them (svg.fonttype none), so its "Glyph missing" warning does not apply to the page
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _table(headers: list[str], rows: list[list[Any]], aligns: str | None = None) -> str:
    """An HTML table in a horizontally scrolling box; ``aligns`` has one ``<`` (text, left) or
    ``>`` (a number, right) per column (default: all text)."""
    kinds = aligns or "<" * len(headers)

    def cls(i: int) -> str:
        return " class='num'" if kinds[i] == ">" else ""

    head = "".join(f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f"<td{cls(i)}>{html.escape(str(c))}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return (
        f"<div class='scroll'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def _body(explain: str) -> str:
    """A score explanation without its first line (``bant v1: 95 → grade A``): the heading above
    it already gives the score, in the one score format."""
    return explain.split("\n", 1)[1] if "\n" in explain else ""


def render_report(summary: dict[str, Any], charts: dict[str, str], *, ids: bool = False) -> str:
    """The HTML page of a demo ``summary`` with ``charts`` (name → inline SVG).

    Times are in the team's zone with their offset, stages, users and rules by name (``ids``:
    followed by their ids), numbers with thousands separators, money with its currency, shares as
    percentages; the page's ``lang`` is the summary's (default ``zh-CN``)."""
    e = html.escape
    zone = summary.get("timezone") or "UTC"
    names = f.Names.from_dict(summary.get("names") or {}, ids=ids)
    lang = summary.get("lang") or f.DEFAULT_LANG
    currency = summary["forecast"]["currency"]
    now = f.instant(summary["now"], zone)
    parts: list[str] = [
        f"<!DOCTYPE html><html lang='{e(lang)}'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>pipeline-core demo report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Pipeline review (pipeline-core demo)</h1>",
        f"<p>{f.count(summary['leads'])} generated leads (seed {summary['seed']}), pipeline "
        f"<code>{e(summary['template'])}</code>, from {e(summary['start'][:10])} to now = "
        f"<time datetime='{e(summary['now'])}'>{e(now)}</time>. Times are in {e(zone)}. "
        f"Database: <code>{e(summary['db'])}</code>.</p>",
    ]
    parts.extend(f"<p class='muted'>Note: {e(n)}</p>" for n in summary.get("notes") or ())
    sc = summary["scoring"]
    parts.append(f"<h2>Lead scoring ({e(sc['model'])})</h2>")
    parts.append(
        _table(["grade", "leads"], [[g, f.count(n)] for g, n in sc["grades"].items()], "<>")
    )
    for lead in sc["top_leads"]:
        parts.append(
            f"<h3>{e(lead['id'])} {e(lead['company'] or '')}: {f.score(lead['score'])} → grade "
            f"{e(lead['grade'])} ({e(lead['follow_up'])})</h3><pre>{e(_body(lead['explain']))}</pre>"
        )
    sla = summary["sla"]
    parts.append(f"<h2>SLA at {e(now)}</h2>")
    parts.append(
        _table(
            ["item", "due by now", "last 7 days", "most frequent rules"],
            [
                [
                    k,
                    f.count(sla["counts"][k]),
                    f.count(sla["last_7_days"][k]),
                    ", ".join(
                        f"{names.rule(r)} {f.count(n)}"
                        for r, n in list(sla["by_rule"][k].items())[:3]
                    ),
                ]
                for k in sla["counts"]
            ],
            "<>><",
        )
    )
    rows = [
        [
            i["kind"],
            f.instant(i["at"], zone),
            names.rule(i["rule"]),
            i["subject_id"],
            names.user(i["recipient_id"]) if i["recipient_id"] else i["recipient"],
        ]
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
            f.funnel_rows(fn["rows"], names, currency),
            "<>>>>",
        )
    )
    b = fn["bottleneck"]
    if b:
        parts.append(
            f"<p><b>Bottleneck:</b> {e(names.stage(b['from_stage']))} → "
            f"{e(names.stage(b['to_stage']))}: {f.count(b['progressed'])} of "
            f"{f.count(b['entered'])} ({f.pct(b['rate'])}).</p>"
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
                        f.count(w["open"]),
                        *(
                            f.money(x, currency)
                            for x in (
                                w["pipeline"],
                                w["weighted"],
                                mc["p10"],
                                mc["p50"],
                                mc["p90"],
                                mc["mean"],
                            )
                        ),
                    ]
                ],
                ">>>>>>>",
            )
        )
        parts.append(
            f"<p class='muted'>Monte-Carlo: {f.count(fc['runs'])} runs, seed {summary['seed']}.</p>"
        )
    else:
        parts.append("<p>No open deals.</p>")
    if "forecast" in charts:
        parts.append(f"<div class='chart'>{charts['forecast']}</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


class _QuietFontWeight(logging.Filter):
    """Drops matplotlib's "Failed to find font weight normal for WenQuanYi Zen Hei" notices: the
    Chinese fonts come in one weight, used on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Failed to find font weight" not in record.getMessage()


_FONT_LOG: Final = logging.getLogger("matplotlib.font_manager")


def _cjk_fonts() -> list[str]:
    """Installed fonts with Chinese glyphs matplotlib knows, in order of preference (measured
    labels fit; the page itself names the same fonts)."""
    if not any(isinstance(x, _QuietFontWeight) for x in _FONT_LOG.filters):
        _FONT_LOG.addFilter(_QuietFontWeight())
    require("matplotlib", "charts")
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    return [n for n in _CJK_FONTS if n in known]


_CJK_FONTS: Final = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "SimHei")


def readable_chart(
    figure: Any,
    *,
    labels: Mapping[str, str] | None = None,
    currency: str | None = None,
    money_axis: str = "",
    percent_axis: str = "",
) -> Any:
    """Make a chart of :mod:`pipeline_core.metrics.charts` read as a person expects; returns it.

    - tick labels that are stage ids (keys of ``labels``) become their labels (``首次沟通``);
    - ``money_axis`` (``"x"`` or ``"y"``): amounts with thousands separators and the currency
      (``¥2,000,000``), no ``1e6`` offset; ``percent_axis``: shares 0..1 as ``45%``;
    - every legend moves outside the plot, so it hides no bar or marker;
    - with a Chinese font installed, every text uses it (no missing glyphs).
    """
    require("matplotlib.ticker", "charts")
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    names = dict(labels or {})
    fonts = _cjk_fonts()
    if fonts:
        for text in figure.findobj(lambda o: hasattr(o, "set_fontfamily")):
            text.set_fontfamily([*fonts, "DejaVu Sans"])
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            ticks = [t.get_text() for t in axis.get_ticklabels()]
            if any(t in names for t in ticks):
                axis.set_ticks(axis.get_ticklocs(), [names.get(t, t) for t in ticks])
        if money_axis:
            axis = ax.yaxis if money_axis == "y" else ax.xaxis
            axis.set_major_formatter(FuncFormatter(lambda v, _pos: f.money(v, currency)))
        if percent_axis:
            axis = ax.yaxis if percent_axis == "y" else ax.xaxis
            axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        if ax.get_legend() is not None:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return figure


def write_report(
    path: Path,
    summary: dict[str, Any],
    *,
    funnel: Any,
    forecast: Any,
    time_in_stage: Any,
    ids: bool = False,
) -> Path:
    """Draw the charts and write the report page to ``path`` (without matplotlib, the ``charts``
    extra, the page has the tables and says how to get the charts).

    The same ``summary`` and results give the same bytes."""
    from pipeline_core.metrics import charts as ch

    names = f.Names.from_dict(summary.get("names") or {}, ids=ids)
    currency = summary["forecast"]["currency"]
    stage_names = {k: names.stage(k) for k in names.stages}
    figures: dict[str, str] = {}
    try:
        require("matplotlib", "charts")
        import matplotlib  # noqa: F401
    except ImportError:
        figures["missing"] = (
            "<p>Charts need matplotlib: <code>pip install 'pipeline-core[charts]'</code>.</p>"
        )
    else:
        figures["funnel"] = svg_of(
            readable_chart(ch.funnel_chart(funnel, title="Funnel"), labels=stage_names)
        )
        if time_in_stage.records():
            figures["time_in_stage"] = svg_of(
                readable_chart(ch.time_in_stage_chart(time_in_stage), labels=stage_names)
            )
        if forecast.records():
            figures["forecast"] = svg_of(
                readable_chart(ch.forecast_fan(forecast), currency=currency, money_axis="y")
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(summary, figures, ids=ids), encoding="utf-8")
    return path
