"""``pipeline-core demo``: a sample company's quarter in ``pipeline.db`` and a report.

:func:`run_demo` does the work and returns a plain-data summary (the ``--json`` output);
:func:`render_text` prints it and :func:`pipeline_core.cli.report.write_report` writes the HTML
report with the charts. "Now" is the horizon of the generated quarter, an injected instant: the
demo gives the same numbers on every run for a seed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import attrs

from pipeline_core._deprecation import moved
from pipeline_core.cli import _format as f
from pipeline_core.cli import _options
from pipeline_core.cli._common import (
    EXIT_OK,
    ProgressBar,
    bad_input,
    default_sla_calendar,
    emit_json,
    team_zone,
)
from pipeline_core.cli._options import add_command, add_json

__all__ = ["DEMO_START", "DemoOptions", "add_parser", "render_text", "run_demo"]

DEMO_START: Final = datetime(2025, 1, 6, tzinfo=ZoneInfo("Asia/Shanghai"))
"""Where the demo quarter starts (a Monday, Shanghai time)."""

_TOP_LEADS: Final = 3
_EXAMPLES: Final = 3
_KINDS: Final = ("reminder", "breach", "escalation", "risk")


@attrs.frozen(kw_only=True)
class DemoOptions:
    """What the demo generates and where it writes (paths relative to the current directory)."""

    seed: int = 7
    leads: int = 2_000
    days: int = 90
    template: str = "small_team"
    db: Path = Path("pipeline.db")
    report: Path | None = Path("report.html")
    start: datetime = DEMO_START
    runs: int = 2_000
    lang: str = f.DEFAULT_LANG
    """Language of the labels a person reads (stage labels, rule titles, the report's ``lang``)."""
    ids: bool = False
    """Show each stage, user and rule id after its name in the report."""


def _manager_of(users: Iterable[Any]) -> dict[str, str]:
    return {u.id: u.manager_id for u in users if u.manager_id}


def _remove_db(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _follow_up(grade: Any) -> str:
    if grade.follow_up_within is not None:
        days = grade.follow_up_within / timedelta(days=1)
        deep = ", deep conversation" if grade.deep_conversation else ""
        return f"contact within {days:g} day{'s' if days != 1 else ''}{deep}"
    if grade.nurture_every is not None:
        return f"nurture every {grade.nurture_every / timedelta(days=1):g} days"
    return str(grade.action)


def run_demo(
    options: DemoOptions, *, progress: Callable[[str], ProgressBar] | None = None
) -> dict[str, Any]:
    """Generate, store, score, run the SLA engine and compute the metrics; return the summary.

    Writes ``options.db`` (replacing it: built under a temporary name, then renamed, so a failed
    run leaves the old database alone) and, unless ``options.report`` is ``None``, the HTML report.
    """
    from pipeline_core import metrics as m
    from pipeline_core import storage
    from pipeline_core.records import JournalEntry, Lead
    from pipeline_core.samples import SampleConfig, generate
    from pipeline_core.scoring import BANT
    from pipeline_core.sla import (
        SlaEngine,
        default_policy,
        state_from_records,
    )
    from pipeline_core.stages import templates

    began = time.perf_counter()
    bar = progress or (lambda label: ProgressBar(label, keep=False))
    step = bar("demo")

    def status(text: str) -> None:
        if step.enabled:
            step.stream.write(f"\r\x1b[2K{text}...")
            step.stream.flush()

    if options.template not in templates.names():
        raise bad_input(
            "demo",
            "--template",
            f"unknown template; one of {', '.join(templates.names())}",
            options.template,
        )
    pipeline = templates.get(options.template)
    config = SampleConfig.for_pipeline(
        pipeline, seed=options.seed, n_leads=options.leads, start=options.start, days=options.days
    )
    status(f"generating {options.leads:,} leads over {options.days} days")
    company = generate(config)
    now = config.end

    leads = list(company.leads())
    opportunities = list(company.opportunities())
    events = list(company.stage_events())
    activities = list(company.activities())

    status("scoring")
    # Score and grade every lead; keep the result on the lead and as a journal entry.
    model = BANT.default()
    scores = {lead.id: model.score(lead) for lead in leads}
    graded: list[Lead] = []
    journal: list[JournalEntry] = []
    for lead in leads:
        s = scores[lead.id]
        custom = {**lead.custom, "score": float(s.value), "grade": s.grade.name}
        graded.append(Lead.from_dict({**lead.to_dict(), "custom": custom}))
        journal.append(
            JournalEntry(
                id=f"grade-{lead.id}",
                kind="grade_assigned",
                subject_id=lead.id,
                at=lead.created_at,
                by="scoring",
                payload={"grade": s.grade.name, "score": str(s.value), "model": s.model},
            )
        )

    status("running the SLA engine")
    # SLA engine at "now" (the horizon of the quarter).
    notes: list[str] = []
    calendar = default_sla_calendar(None, notes)  # without `holidays`: weekdays, said so
    policy = default_policy(calendar)
    engine = SlaEngine(policy, pipeline=pipeline)
    # the zone a person in the team reads times in: the teams' own, else the policy calendar's
    zone = team_zone(company.teams, policy)
    acts_of: defaultdict[str, list[Any]] = defaultdict(list)
    for a in activities:
        if a.lead_id:
            acts_of[a.lead_id].append(a)
        if a.opportunity_id:
            acts_of[a.opportunity_id].append(a)
    events_of: defaultdict[str, list[Any]] = defaultdict(list)
    for event in events:
        events_of[event.opportunity_id].append(event)
    managers = _manager_of(company.users)
    states = [
        state_from_records(
            lead,
            acts_of[lead.id],
            grade=scores[lead.id].grade.name,
            grade_at=lead.graded_at or lead.created_at,
            manager_id=managers.get(lead.owner_id or ""),
        )
        for lead in leads
    ] + [
        state_from_records(
            o,
            acts_of[o.id],
            manager_id=managers.get(o.owner_id),
            pipeline=pipeline,
            events=events_of.get(o.id),
        )
        for o in opportunities
    ]
    items = [i for st in states for i in engine.evaluate(st, now)]
    outcomes = [o for st in states for o in engine.outcomes(st)]

    # Store everything in one fresh database, then swap it in.
    status("storing")
    target = options.db
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _remove_db(tmp)
    stored: dict[str, int] = {}
    store = storage.open(f"sqlite:///{tmp.resolve()}")
    try:
        with store.unit_of_work():
            for name, records, method in (
                ("teams", company.teams, "bulk_add"),
                ("users", company.users, "bulk_add"),
                ("accounts", list(company.accounts()), "bulk_add"),
                ("contacts", list(company.contacts()), "bulk_add"),
                ("leads", graded, "bulk_add"),
                ("opportunities", opportunities, "bulk_add"),
                ("sla_outcomes", outcomes, "bulk_add"),
                ("stage_events", events, "bulk_append"),  # the logs are appended to
                ("activities", activities, "bulk_append"),
                ("journal", journal, "bulk_append"),
            ):
                p = bar(f"storing {name}")
                stored[name] = getattr(getattr(store, name), method)(records, progress=p)
                p.done()
    except BaseException:
        store.close()
        _remove_db(tmp)
        raise
    store.close()
    _remove_db(target)
    os.replace(tmp, target)

    # Metrics over the quarter.
    status("computing the metrics")
    funnel = m.cohort_funnel(opportunities, events, stages=pipeline, start=config.origin, end=now)
    bottleneck = funnel.conversion().bottleneck()
    weighted = m.weighted_forecast(opportunities, stages=pipeline)
    monte = m.monte_carlo_forecast(
        opportunities, stages=pipeline, runs=options.runs, seed=options.seed
    )
    in_stage = m.time_in_stage(events, stages=pipeline, as_of=now)

    ranked = sorted(leads, key=lambda lead: (-scores[lead.id].units, lead.id))
    top = [
        {
            "id": lead.id,
            "company": lead.company,
            "score": float(scores[lead.id].value),
            "grade": scores[lead.id].grade.name,
            "follow_up": _follow_up(scores[lead.id].grade),
            "explain": scores[lead.id].explain(),
        }
        for lead in ranked[:_TOP_LEADS]
    ]
    grades = Counter(s.grade.name for s in scores.values())
    counts = Counter(i.kind for i in items)
    week_ago = now - timedelta(days=7)
    recent = Counter(i.kind for i in items if i.at >= week_ago)
    by_rule: dict[str, dict[str, int]] = {}
    for kind in _KINDS:
        by_rule[kind] = dict(Counter(i.rule for i in items if i.kind == kind).most_common())
    latest = sorted(items, key=lambda i: (-i.at_us, i.id))
    examples = {
        kind: [i.to_dict() for i in latest if i.kind == kind][:_EXAMPLES] for kind in _KINDS
    }
    summary: dict[str, Any] = {
        "seed": options.seed,
        "leads": options.leads,
        "template": pipeline.id,
        "start": config.origin.isoformat(),
        "now": now.isoformat(),
        "timezone": zone,
        "lang": options.lang,
        "notes": notes,
        "names": f.Names.of(
            lang=options.lang, pipeline=pipeline, users=company.users, policy=policy
        ).to_dict(),
        "db": str(target),
        "report": None if options.report is None else str(options.report),
        "stored": stored,
        "scoring": {
            "model": f"{model.name} v{model.version}",
            "grades": {g: grades.get(g, 0) for g in ("A", "B", "C")},
            "top_leads": top,
        },
        "sla": {
            "counts": {k: counts.get(k, 0) for k in _KINDS},
            "last_7_days": {k: recent.get(k, 0) for k in _KINDS},
            "by_rule": by_rule,
            "examples": examples,
            "outcomes": {
                "met": sum(1 for o in outcomes if o.met),
                "missed": sum(1 for o in outcomes if not o.met),
            },
        },
        "funnel": {
            "start": config.origin.isoformat(),
            "end": now.isoformat(),
            "rows": funnel.records(),
            "bottleneck": bottleneck,
        },
        "time_in_stage": in_stage.records(),
        "forecast": {
            "currency": config.currency,
            "weighted": weighted.records()[0] if weighted.records() else None,
            "monte_carlo": monte.records()[0] if monte.records() else None,
            "runs": options.runs,
        },
    }
    if options.report is not None:
        from pipeline_core.cli.report import write_report

        status("drawing the charts")
        write_report(
            options.report,
            summary,
            funnel=funnel,
            forecast=monte,
            time_in_stage=in_stage,
            ids=options.ids,
        )
    if step.enabled:
        step.stream.write("\r\x1b[2K")
        step.stream.flush()
    summary["seconds"] = round(time.perf_counter() - began, 2)
    return summary


def render_text(summary: dict[str, Any], *, ids: bool = False) -> str:
    """The short human report of a demo run: times in the team's zone with their offset, stage
    labels, user names and rule titles (with ``ids``: each followed by its id)."""
    out: list[str] = []
    add = out.append
    zone = summary.get("timezone") or "UTC"
    names = f.Names.from_dict(summary.get("names") or {}, ids=ids)
    stored = summary["stored"]
    add(
        f"pipeline-core demo: {f.count(summary['leads'])} leads, seed {summary['seed']}, "
        f"pipeline {summary['template']!r}, {summary['start'][:10]} → now = "
        f"{f.instant(summary['now'], zone)}"
    )
    add(f"wrote {summary['db']}: " + ", ".join(f"{f.count(v)} {k}" for k, v in stored.items()))
    for note in summary.get("notes") or ():
        add(f"note: {note}")
    sc = summary["scoring"]
    add("")
    add(
        f"Top leads ({sc['model']})   grades: "
        + " · ".join(f"{g} {f.count(n)}" for g, n in sc["grades"].items())
    )
    for lead in sc["top_leads"]:
        add(
            f"  {lead['id']}  {lead['company'] or ''}  {f.score(lead['score'])} → "
            f"{lead['grade']}: {lead['follow_up']}"
        )
        out.extend("    " + line for line in lead["explain"].splitlines()[1:])
    sla = summary["sla"]
    add("")
    add(
        f"SLA at {f.instant(summary['now'], zone)} (due by now; last 7 days in brackets; "
        f"times in {zone})"
    )
    rows = []
    for kind, label in (
        ("reminder", "due reminders"),
        ("breach", "breaches"),
        ("escalation", "escalations"),
        ("risk", "risk flags"),
    ):
        rules = ", ".join(
            f"{names.rule(r)} {f.count(n)}" for r, n in list(sla["by_rule"][kind].items())[:3]
        )
        rows.append(
            [
                label,
                f.count(sla["counts"][kind]),
                f"({f.count(sla['last_7_days'][kind])})",
                rules,
            ]
        )
    out.extend(f.table(["", "due", "7 days", "most frequent"], rows, "<>><"))
    rows = []
    for kind in ("reminder", "breach", "risk"):
        for item in sla["examples"][kind]:
            extra = (
                f"{item.get('signal')} {f.count(item.get('value'))} ({item.get('level')})"
                if kind == "risk"
                else ""
            )
            rows.append(
                [
                    kind,
                    f.instant(item["at"], zone),
                    names.rule(item["rule"]),
                    item["subject_id"],
                    names.user(item["recipient_id"]) if item["recipient_id"] else item["recipient"],
                    extra,
                ]
            )
    add("latest:")
    out.extend(f.table(["kind", "at", "rule", "subject", "to", ""], rows, "<<<<<<", "    "))
    fn = summary["funnel"]
    add("")
    add(f"Funnel (opportunities created {fn['start'][:10]} to {fn['end'][:10]})")
    currency = summary["forecast"]["currency"]
    out.extend(
        f.table(
            ["stage", "reached", "share", "conv.", "value"],
            f.funnel_rows(fn["rows"], names, currency),
            "<>>>>",
        )
    )
    b = fn["bottleneck"]
    if b:
        add(
            f"  bottleneck: {names.stage(b['from_stage'])} → {names.stage(b['to_stage'])} "
            f"({f.count(b['progressed'])} of {f.count(b['entered'])}, {f.pct(b['rate'])})"
        )
    fc = summary["forecast"]
    w, mc = fc["weighted"], fc["monte_carlo"]
    add("")
    if w and mc:
        add(f"Forecast ({f.count(w['open'])} open deals)")
        add(
            f"  pipeline {f.money(w['pipeline'], currency)}   "
            f"weighted {f.money(w['weighted'], currency)}"
        )
        add(
            f"  Monte-Carlo ({f.count(fc['runs'])} runs): P10 {f.money(mc['p10'], currency)}   "
            f"P50 {f.money(mc['p50'], currency)}   P90 {f.money(mc['p90'], currency)}   "
            f"mean {f.money(mc['mean'], currency)}"
        )
    else:
        add("Forecast: no open deals")
    add("")
    if summary["report"]:
        add(f"report: {summary['report']}   ({summary.get('seconds', 0):.1f} s)")
    add(
        f"next: pipeline-core sla --as-of {summary['now']}   |   pipeline-core funnel   |   "
        "pipeline-core --help"
    )
    add(
        "      (pipeline-core is in the virtual environment: `. .venv/bin/activate` first, or "
        "run .venv/bin/pipeline-core, or python -m pipeline_core)"
    )
    return "\n".join(out)


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Register ``demo``."""
    p = add_command(
        sub,
        formatter,
        "demo",
        _handle,
        help="build pipeline.db and report.html from a generated sample company",
        description="Generate a realistic sample company and a quarter of activity, store it in a "
        "fresh SQLite database, score and grade the leads (BANT), run the SLA engine at the end "
        "of the quarter, and print a short report (top leads and why, reminders, breaches, risk "
        "flags, funnel and bottleneck, forecast). Also writes an HTML report with the charts. "
        "Existing files are replaced.",
        examples=(
            "pipeline-core demo",
            "pipeline-core demo --leads 500 --seed 3 --db /tmp/demo.db --report /tmp/demo.html",
            "pipeline-core demo --no-report --json",
        ),
    )
    p.add_argument(
        "--db",
        default="pipeline.db",
        metavar="PATH",
        help="SQLite database to (re)create (default: pipeline.db)",
    )
    p.add_argument(
        "--report",
        default="report.html",
        metavar="PATH",
        help="HTML report to write (default: report.html)",
    )
    p.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    _options.add_lang_ids(p)
    p.add_argument(
        "--seed", type=int, default=7, help="random seed: same seed, same company (default: 7)"
    )
    p.add_argument(
        "--leads", type=int, default=2_000, metavar="N", help="number of leads (default: 2000)"
    )
    p.add_argument(
        "--days",
        type=int,
        default=90,
        metavar="N",
        help="length of the generated period in days (default: 90)",
    )
    p.add_argument(
        "--template",
        default="small_team",
        metavar="NAME",
        help="pipeline template (default: small_team; see `pipeline-core diagram --list`)",
    )
    add_json(p)


_MAX_LEADS = 1_000_000
"""Most leads ``demo --leads`` generates (more would not fit in memory on a laptop)."""
_MAX_DAYS = 36_525
"""Longest ``demo --days`` period: 100 years (a longer one leaves the calendar's range)."""


def _handle(args: argparse.Namespace) -> int:
    problems: list[tuple[str, str, Any]] = []
    if not 1 <= args.leads <= _MAX_LEADS:
        problems.append(("--leads", f"must be 1 to {_MAX_LEADS:,}", args.leads))
    if not 1 <= args.days <= _MAX_DAYS:
        problems.append(("--days", f"must be 1 to {_MAX_DAYS:,} (100 years)", args.days))
    if problems:
        from pipeline_core.cli._common import BadInput
        from pipeline_core.errors import Problem

        raise BadInput("demo options", [Problem((f,), msg, v) for f, msg, v in problems])
    options = DemoOptions(
        seed=args.seed,
        leads=args.leads,
        days=args.days,
        template=args.template,
        db=Path(args.db),
        report=None if args.no_report else Path(args.report),
        lang=args.lang,
        ids=args.ids,
    )
    summary = run_demo(options)
    if args.json:
        emit_json(summary)
    else:
        print(render_text(summary, ids=args.ids))
    return EXIT_OK


# Names that moved, kept working for one release (not in ``__all__``).
__getattr__ = moved(__name__, {"add_lang_ids": "pipeline_core.cli._options:add_lang_ids"})
