"""The working commands: ``score``, ``sla``, ``funnel``, ``import``, ``export``, ``check``,
``validate``, ``diagram``. Each is a thin wrapper over the library's public API; ``--json`` prints the same
result as plain data."""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from pipeline_core.cli import _format as f
from pipeline_core.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    BadInput,
    ProgressBar,
    add_json,
    add_store,
    bad_input,
    count_option,
    days_option,
    default_sla_calendar,
    emit_json,
    load_json_file,
    load_pipeline,
    open_store,
    parse_instant,
    problems_json,
    team_zone,
)
from pipeline_core.errors import ConfigError, Problem, ValidationError

__all__ = ["add_parsers", "infer_pipeline", "load_leads", "score_leads"]

_KINDS: Final = ("reminder", "breach", "escalation", "risk")
_PLURAL: Final = {
    "reminder": "reminders",
    "breach": "breaches",
    "escalation": "escalations",
    "risk": "risk flags",
}


# -- helpers ----------------------------------------------------------------------------------


def _model(path: str | None) -> Any:
    from pipeline_core.scoring import BANT, model_from_dict

    if path is None:
        return BANT.default()
    return model_from_dict(load_json_file(path, "--model"))


def load_leads(path: str) -> list[Any]:
    """Leads from a CSV or JSON Lines file in the library's lead layout; every bad row is
    reported at once (:class:`~pipeline_core.storage.io.ImportRejectedError`)."""
    from pipeline_core.storage.io import ImportRejectedError, RowError, read_csv, read_jsonl

    p = Path(path)
    if not p.is_file():
        raise bad_input(path, "LEADS", "file not found", path)
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        reader = read_jsonl
    elif p.suffix.lower() == ".csv":
        reader = read_csv
    else:
        raise bad_input(path, "LEADS", "expected a .csv or .jsonl file", path)
    leads: list[Any] = []
    errors: list[RowError] = []
    for _, item in reader("lead", p):
        if isinstance(item, list):
            errors.extend(item)
        else:
            leads.append(item)
    if errors:
        raise ImportRejectedError("lead", errors)
    return leads


def score_leads(leads: Iterable[Any], model: Any) -> list[dict[str, Any]]:
    """``{"id", "score", "grade", "score_obj"}`` per lead, best first (ties by id)."""
    rows = []
    for lead in leads:
        s = model.score(lead)
        rows.append({"id": lead.id, "score": float(s.value), "grade": s.grade.name, "_s": s})
    rows.sort(key=lambda r: (-r["_s"].units, r["id"]))
    return rows


def infer_pipeline(spec: str | None, opportunities: Iterable[Any], *, required: bool = True) -> Any:
    """``spec`` (template or JSON file) or else the template named by the stored opportunities'
    ``pipeline`` field; when they name none (or several) that is bad input, or ``None`` if not
    ``required``."""
    from pipeline_core.stages import templates

    if spec is not None:
        return load_pipeline(spec)
    names = {o.pipeline for o in opportunities if o.pipeline}
    if len(names) == 1 and (name := next(iter(names))) in templates.names():
        return templates.get(name)
    if not required:
        return None
    raise bad_input(
        "options",
        "--pipeline",
        "needed: the stored opportunities do not name one template"
        + (f" (they name {sorted(names)})" if names else ""),
        None,
    )


# -- score ------------------------------------------------------------------------------------


def _score(args: argparse.Namespace) -> int:
    model = _model(args.model)
    if args.leads_file is not None:
        leads = load_leads(args.leads_file)
        source = args.leads_file
    else:
        store = open_store(args.store, as_user=args.as_user)
        try:
            leads = list(store.leads.all())
        finally:
            store.close()
        source = args.store
    rows = score_leads(leads, model)
    grades = Counter(r["grade"] for r in rows)
    names = [b.name for b in sorted(model.bands, key=lambda b: b.priority)]
    top = rows if args.top is None else rows[: args.top]
    result = {
        "source": source,
        "model": {"name": model.name, "version": getattr(model, "version", None)},
        "count": len(rows),
        "grades": {g: grades.get(g, 0) for g in names},
        "leads": [
            {"id": r["id"], "score": r["score"], "grade": r["grade"]}
            | ({"explain": r["_s"].explain()} if args.explain else {})
            for r in top
        ],
    }
    if args.json:
        emit_json(result)
        return EXIT_OK
    print(
        f"{f.count(len(rows))} leads from {source} scored with {model.name}: "
        + " · ".join(f"{g} {f.count(n)}" for g, n in result["grades"].items())
    )
    shown = rows[: 10 if args.top is None else args.top]
    company = {lead.id: lead.company or "" for lead in leads}
    for line, r in zip(
        f.table(
            ["lead", "company", "score", "grade"],
            [[r["id"], company.get(r["id"], ""), f.score(r["score"]), r["grade"]] for r in shown],
            "<<><",
        )[1:],
        shown,
        strict=True,
    ):
        print(line)
        if args.explain:
            s = r["_s"]  # the explanation's first line again in the one score format
            print(f"      {s.model} v{s.version}: {f.score(s.value)} → grade {s.grade.name}")
            print("\n".join("      " + line for line in s.explain().splitlines()[1:]))
    if len(shown) < len(rows):
        print(f"  ... {f.count(len(rows) - len(shown))} more (--top N, --json)")
    return EXIT_OK


# -- sla --------------------------------------------------------------------------------------


def _sla(args: argparse.Namespace) -> int:
    from pipeline_core.sla import (
        Policy,
        SlaEngine,
        default_policy,
        state_from_records,
        zone_name_of,
    )

    now = parse_instant(args.now, "--now")
    store = open_store(args.store, as_user=args.as_user)
    try:
        leads = list(store.leads.all())
        opportunities = list(store.opportunities.all())
        activities = list(store.activities.all())
        events_of: defaultdict[str, list[Any]] = defaultdict(list)
        for event in store.stage_events.all():  # closed periods and the win, from the history
            events_of[event.opportunity_id].append(event)
        users = list(store.users.all())
        teams = {t.id: t for t in store.teams.all()}
    finally:
        store.close()
    pipeline = (
        # only adds the stage SOP limits: when the records name none, the policy runs alone
        infer_pipeline(args.pipeline, opportunities, required=False)
    )
    if args.policy is not None:
        policy = Policy.from_dict(load_json_file(args.policy, "--policy"), stages=pipeline)
    else:
        notes: list[str] = []
        policy = default_policy(default_sla_calendar(args.country, notes))
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    engine = SlaEngine(policy, pipeline=pipeline)
    model = _model(args.model)
    managers = {u.id: u.manager_id for u in users if u.manager_id}
    # the zone of each owner's day (user, then team, then the policy calendar)
    zones = {u.id: zone_name_of(u, teams.get(u.team_id or ""), policy) for u in users}
    acts_of: defaultdict[str, list[Any]] = defaultdict(list)
    for a in activities:
        if a.lead_id:
            acts_of[a.lead_id].append(a)
        if a.opportunity_id:
            acts_of[a.opportunity_id].append(a)

    def states() -> Iterator[Any]:
        bar = ProgressBar("evaluating", total=len(leads) + len(opportunities))
        n = 0
        for lead in leads:
            grade = lead.custom.get("grade")
            if grade not in ("A", "B", "C"):
                grade = model.score(lead).grade.name
            yield state_from_records(
                lead,
                acts_of[lead.id],
                grade=grade,
                grade_at=lead.graded_at or lead.created_at,  # the grade clock: last grade change
                manager_id=managers.get(lead.owner_id or ""),
                timezone=zones.get(lead.owner_id or ""),
            )
            n += 1
            if n % 1000 == 0:
                bar(n)
        for o in opportunities:
            yield state_from_records(
                o,
                acts_of[o.id],
                manager_id=managers.get(o.owner_id),
                pipeline=pipeline,
                events=events_of.get(o.id),
                timezone=zones.get(o.owner_id),
            )
            n += 1
            if n % 1000 == 0:
                bar(n)
        bar(n)
        bar.done()

    items = [
        i for i in engine.evaluate_many(states(), now) if args.kind is None or i.kind == args.kind
    ]
    if args.owner is not None:
        items = [i for i in items if i.recipient_id == args.owner]
    items.sort(key=lambda i: (-i.at_us, i.id))
    # the reader's zone: --tz, else the teams' zone when they share one, else the policy calendar's
    reader_zone = _zone_option(args.tz) if args.tz else team_zone(teams.values(), policy)
    names = f.Names.of(
        lang=args.lang, pipeline=pipeline, users=users, policy=engine.policy, ids=args.ids
    )
    counts = Counter(i.kind for i in items)
    by_rule = Counter((i.kind, i.rule) for i in items)
    result: dict[str, Any] = {
        "now": now.isoformat(),
        "policy": policy.id,
        "pipeline": None if pipeline is None else pipeline.id,
        "subjects": len(leads) + len(opportunities),
        "counts": {k: counts.get(k, 0) for k in _KINDS},
        "by_rule": {k: {r: n for (kk, r), n in by_rule.most_common() if kk == k} for k in _KINDS},
        "items": [i.to_dict() for i in (items if args.limit is None else items[: args.limit])],
    }
    if args.json:
        emit_json(result)
        return EXIT_OK
    print(
        f"SLA at {f.instant(now, reader_zone)} over {f.count(result['subjects'])} leads and "
        f"opportunities (policy {policy.id}; times in {reader_zone})"
    )
    rows = [
        [
            _PLURAL[k],
            f.count(result["counts"][k]),
            ", ".join(
                f"{names.rule(r)} {f.count(n)}" for r, n in list(result["by_rule"][k].items())[:4]
            ),
        ]
        for k in _KINDS
    ]
    for line in f.table(["", "due", "most frequent"], rows, "<><")[1:]:
        print(line)
    shown = items[: 10 if args.limit is None else args.limit]
    if shown:
        print("latest:")
        rows = [
            [
                i.kind,
                f.instant(i.at, reader_zone),
                names.rule(i.rule),
                i.subject_id,
                names.user(i.recipient_id) if i.recipient_id else str(i.recipient),
            ]
            for i in shown
        ]
        for line in f.table(["kind", "at", "rule", "subject", "to"], rows, "<<<<<"):
            print(line)
    return EXIT_OK


def _zone_option(text: str) -> str:
    """A ``--tz`` value: an IANA zone name, else bad input naming the option."""
    from pipeline_core._model import iana_zone

    try:
        iana_zone(text)  # the one zone check: also refuses machine-dependent names (localtime)
    except ValueError:
        raise bad_input(
            "options", "--tz", "not a time zone name such as Asia/Shanghai", text
        ) from None
    return text


# -- funnel -----------------------------------------------------------------------------------


def _funnel(args: argparse.Namespace) -> int:
    from pipeline_core import metrics as m

    store = open_store(args.store, as_user=args.as_user)
    try:
        opportunities = list(store.opportunities.all())
        events = list(store.stage_events.all())
    finally:
        store.close()
    pipeline = infer_pipeline(args.pipeline, opportunities)
    if args.start is not None:
        start = parse_instant(args.start, "--start")
    elif opportunities:
        start = min(o.created_at for o in opportunities)
    else:
        raise bad_input("store", "--store", "holds no opportunities: nothing to count", args.store)
    if args.end is not None:
        end = parse_instant(args.end, "--end")
    elif opportunities:
        # metrics count in whole epoch seconds (floored): one second after the last creation
        end = max(o.created_at for o in opportunities) + timedelta(seconds=1)
    else:
        raise bad_input("store", "--store", "holds no opportunities: nothing to count", args.store)
    if end <= start:
        raise BadInput("options", [Problem(("--end",), "must be after --start", args.end)])
    horizon = None if args.horizon is None else timedelta(days=args.horizon)
    funnel = m.cohort_funnel(
        opportunities,
        events,
        stages=pipeline,
        start=start,
        end=end,
        horizon=horizon,
        by=tuple(args.by),
        value=not args.no_value,
    )
    conversion = funnel.conversion()
    result = {
        "pipeline": pipeline.id,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "horizon_days": args.horizon,
        "by": list(args.by),
        "rows": funnel.records(),
        "conversion": conversion.records(),
        "bottleneck": conversion.bottleneck() if not args.by else None,
        "bottlenecks": conversion.bottlenecks(),
    }
    if args.json:
        emit_json(result)
        return EXIT_OK
    users = _stored_users(args)
    names = f.Names.of(lang=args.lang, pipeline=pipeline, users=users, ids=args.ids)
    zone = _stored_zone(args)
    print(
        f"Funnel of {pipeline.id!r}: opportunities created {f.instant(start, zone)} to "
        f"{f.instant(end, zone)}"
    )
    keys = list(args.by)

    def key_text(k: str, value: Any) -> str:
        return names.user(value) if k == "owner_id" and value is not None else str(value)

    rows = [
        [
            *(key_text(k, r[k]) for k in keys),
            names.stage(r["stage"]),
            f.count(r["reached"]),
            f.pct(r["share"]),
            f.pct(r["conversion"]),
        ]
        for r in result["rows"]
    ]
    for line in f.table(
        [*keys, "stage", "reached", "share", "conv."], rows, "<" * len(keys) + "<>>>"
    ):
        print(line)
    for b in result["bottlenecks"]:
        where = " ".join(f"{k}={key_text(k, b[k])}" for k in keys)
        print(
            f"  bottleneck{(' ' + where) if where else ''}: {names.stage(b['from_stage'])} → "
            f"{names.stage(b['to_stage'])} ({f.count(b['progressed'])} of "
            f"{f.count(b['entered'])}, {f.pct(b['rate'])})"
        )
    return EXIT_OK


def _stored_users(args: argparse.Namespace) -> list[Any]:
    store = open_store(args.store, as_user=args.as_user)
    try:
        return list(store.users.all())
    finally:
        store.close()


def _stored_zone(args: argparse.Namespace) -> str:
    """The reader's zone: ``--tz``, else the stored teams' zone when they share one, else the
    default calendar's."""
    from pipeline_core.sla import default_calendar

    if args.tz:
        return _zone_option(args.tz)
    store = open_store(args.store, as_user=args.as_user)
    try:
        teams = list(store.teams.all())
    finally:
        store.close()
    return team_zone(teams, default_calendar())


# -- import / export --------------------------------------------------------------------------


def _import(args: argparse.Namespace) -> int:
    from pipeline_core.storage.io import import_records

    if not Path(args.file).is_file():
        raise bad_input(args.file, "FILE", "file not found", args.file)
    store = open_store(args.store, must_exist=False, as_user=args.as_user)
    bar = ProgressBar(f"importing {args.kind}")
    try:
        report = import_records(
            store,
            args.kind,
            args.file,
            format=args.format,
            skip_invalid=args.skip_invalid,
            progress=bar,
            spreadsheet_safe=args.spreadsheet_safe,
        )
    finally:
        bar.done()
        store.close()
    result = {
        "kind": report.kind,
        "file": args.file,
        "store": args.store,
        "rows": report.rows,
        "written": report.written,
        "skipped": [
            {
                "row": e.row,
                "field": e.field,
                "value": str(e.value),
                "message": e.message,
                "code": e.code,
            }
            for e in report.errors
        ],
    }
    if args.json:
        emit_json(result)
    else:
        print(
            f"imported {report.written:,} {report.kind} records of {report.rows:,} rows into {args.store}"
        )
        for e in report.errors:
            print(f"  skipped {e}", file=sys.stderr)
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from pipeline_core.storage.io import export_records

    to_stdout = args.file == "-"
    if to_stdout and args.format is None:
        raise bad_input("options", "--format", "needed when writing to stdout (-)", None)
    if to_stdout and args.json:
        raise bad_input(
            "options", "--json", "cannot be combined with writing records to stdout", True
        )
    store = open_store(args.store, as_user=args.as_user)
    bar = ProgressBar(f"exporting {args.kind}")
    try:
        n = export_records(
            store,
            args.kind,
            getattr(sys.stdout, "raw", sys.stdout) if to_stdout else args.file,
            format=args.format,
            progress=bar,
            spreadsheet_safe=args.spreadsheet_safe,
        )
    finally:
        bar.done()
        store.close()
    if args.json:
        emit_json({"kind": args.kind, "file": args.file, "store": args.store, "written": n})
    else:
        print(
            f"exported {n:,} {args.kind} records to {args.file}",
            file=sys.stderr if to_stdout else sys.stdout,
        )
    return EXIT_OK


# -- validate ---------------------------------------------------------------------------------


def _detect(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    if "stages" in data:
        return "pipeline"
    if "criteria" in data or "parts" in data:
        return "model"
    if "rules" in data or "risks" in data or "calendar" in data:
        return "policy"
    return None


def _check(kind: str, data: Any, stages: Any) -> str:
    from pipeline_core.scoring import model_from_dict
    from pipeline_core.sla import Policy
    from pipeline_core.stages import Pipeline

    if kind == "pipeline":
        p = Pipeline.from_dict(data)
        return f"pipeline {p.id!r}: {len(p.stages)} stages"
    if kind == "model":
        mo = model_from_dict(data)
        return f"scoring model {mo.name!r}"
    pol = Policy.from_dict(data, stages=stages)
    return f"SLA policy {pol.id!r}: {len(pol.rules)} rules, {len(pol.risks)} risk rules"


def _validate(args: argparse.Namespace) -> int:
    stages = None if args.pipeline is None else load_pipeline(args.pipeline)
    reports: list[dict[str, Any]] = []
    for path in args.files:
        entry: dict[str, Any] = {"file": path, "kind": args.kind, "valid": False, "problems": []}
        try:
            data = load_json_file(path, "FILE")
            kind = args.kind if args.kind != "auto" else _detect(data)
            entry["kind"] = kind
            if kind is None:
                raise BadInput(
                    path,
                    [
                        Problem(
                            (),
                            "cannot tell the kind (a pipeline has "
                            "'stages', a model 'criteria' or 'parts', a policy 'rules'): "
                            "pass --kind",
                            None,
                            "unknown_kind",
                            missing=True,
                        )
                    ],
                )
            entry["summary"] = _check(kind, data, stages)
            entry["valid"] = True
        except (ConfigError, ValidationError) as exc:
            entry["what"] = exc.what
            entry["problems"] = problems_json(exc.problems)
            entry["message"] = str(exc)
        reports.append(entry)
    ok = all(r["valid"] for r in reports)
    if args.json:
        emit_json({"valid": ok, "files": reports})
    else:
        for r in reports:
            if r["valid"]:
                print(f"ok       {r['file']}: {r['summary']}")
            else:
                print(f"invalid  {r['file']}: {r['message']}")
    return EXIT_OK if ok else EXIT_BAD_INPUT


# -- check ------------------------------------------------------------------------------------

EXIT_FOUND: Final = 3
"""``check``: the store holds values the current rules refuse (listed; nothing changed)."""


def _check_store(args: argparse.Namespace) -> int:
    from pipeline_core.assignment.scoped import access_findings
    from pipeline_core.storage.check import DEFAULT_AUDITORS, check_store, stored_values

    if args.as_user is not None:
        raise bad_input(
            "options",
            "--as",
            "check reads the stored documents as they are, for an administrator; run it without --as",
            args.as_user,
        )
    store = open_store(args.store)
    try:
        if args.kind:
            kinds = list(args.kind)
            report = check_store(store, (lambda s: stored_values(s, kinds),))
        else:
            report = check_store(store, (*DEFAULT_AUDITORS, access_findings))
    finally:
        store.close()
    if args.json:
        emit_json(
            {
                "store": args.store,
                "ok": report.ok,
                "records": report.records,
                "total": report.total,
                "by_kind": report.by_kind,
                "findings": [finding.to_dict() for finding in report.findings],
            }
        )
    elif report.ok:
        print(f"ok: {report.records:,} stored records, nothing the current rules refuse")
    else:
        print(f"{report.total:,} stored values the current rules refuse (nothing was changed):")
        for finding in report.findings:
            print(f"  - {finding}")
        if report.total > len(report.findings):
            print(
                f"  ... {report.total - len(report.findings):,} more (--json lists the first 1,000)"
            )
    return EXIT_OK if report.ok else EXIT_FOUND


# -- diagram ----------------------------------------------------------------------------------


def _diagram(args: argparse.Namespace) -> int:
    from pipeline_core.stages import templates

    if args.list:
        names = templates.names()
        if args.json:
            emit_json({"templates": names})
        else:
            print("\n".join(names))
        return EXIT_OK
    if args.pipeline is None:
        raise bad_input(
            "options", "PIPELINE", "give a template name or a pipeline JSON file (or --list)"
        )
    pipeline = load_pipeline(args.pipeline, "PIPELINE")
    text = pipeline.to_mermaid() if args.format == "mermaid" else pipeline.to_dot()
    if args.output is not None:
        Path(args.output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    if args.json:
        emit_json({"pipeline": pipeline.id, "format": args.format, "diagram": text})
    elif args.output is None:
        print(text)
    else:
        print(f"wrote {args.format} diagram of {pipeline.id!r} to {args.output}")
    return EXIT_OK


# -- parsers ----------------------------------------------------------------------------------


def _add_reader(p: argparse.ArgumentParser) -> None:
    from pipeline_core.cli.demo import add_lang_ids

    add_lang_ids(p)
    p.add_argument(
        "--tz",
        metavar="ZONE",
        help="time zone the times are shown in (default: the team's, e.g. Asia/Shanghai)",
    )


def add_parsers(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Register every command of this module on the sub-parser action ``sub``."""
    from pipeline_core.storage.io import kinds

    p = sub.add_parser(
        "score",
        help="score and grade leads (BANT by default) from a file or the store",
        description="Score every lead with a scoring model (default: BANT.default()) and grade it "
        "A/B/C. Leads come from LEADS (a CSV or JSON Lines file in the library's lead layout, as "
        "`export lead` writes it) or from the store. Text output shows the best leads; --json "
        "lists every lead, best first.",
        epilog="examples:\n  pipeline-core score\n  pipeline-core score leads.csv --explain --top 3\n"
        "  pipeline-core score leads.jsonl --model acme-model.json --json",
        formatter_class=formatter,
    )
    p.add_argument(
        "leads_file",
        nargs="?",
        metavar="LEADS",
        help="CSV or JSON Lines file of leads (default: read the store)",
    )
    add_store(p)
    p.add_argument(
        "--model",
        metavar="FILE",
        help="scoring model or weighted sum as JSON (default: BANT.default())",
    )
    p.add_argument(
        "--top",
        type=count_option,
        metavar="N",
        help="show only the N best leads (text default: 10; --json default: all)",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="include each lead's explanation (criteria, rules, points)",
    )
    add_json(p)
    p.set_defaults(handler=_score)

    p = sub.add_parser(
        "sla",
        help="reminders, breaches, escalations and risk flags due by an instant",
        description="Run the SLA engine over the stored leads and opportunities at --now and list "
        "every item due by then (reminders, breaches, escalations, risk flags), latest first. "
        "Lead grades come from the lead's custom field 'grade' (the demo stores it) or are scored "
        "with --model. The stage SOP time limits of the pipeline are rules too.",
        epilog="examples:\n  pipeline-core sla --now 2025-04-06T00:00:00+08:00\n"
        "  pipeline-core sla --now 2025-04-06T00:00:00+08:00 --kind breach --limit 20\n"
        "  pipeline-core sla --policy acme-policy.json --pipeline saas --json",
        formatter_class=formatter,
    )
    add_store(p)
    p.add_argument(
        "--now", metavar="INSTANT", help="ISO 8601 instant with offset (default: the current time)"
    )
    p.add_argument(
        "--policy", metavar="FILE", help="SLA policy JSON (default: the built-in default policy)"
    )
    p.add_argument(
        "--country",
        default=None,
        metavar="CODE",
        help="holidays of the default calendar (default: CN, or Mon-Fri working days with a "
        "note when the 'holidays' extra is not installed; '' for none)",
    )
    p.add_argument(
        "--pipeline",
        metavar="NAME|FILE",
        help="template or pipeline JSON (default: the template the opportunities name)",
    )
    p.add_argument(
        "--model",
        metavar="FILE",
        help="scoring model for leads without a stored grade (default: BANT)",
    )
    p.add_argument("--kind", choices=_KINDS, help="only items of this kind")
    _add_reader(p)
    p.add_argument("--owner", metavar="USER_ID", help="only items for this recipient")
    p.add_argument(
        "--limit",
        type=count_option,
        metavar="N",
        help="list at most N items (text default: 10; --json default: all)",
    )
    add_json(p)
    p.set_defaults(handler=_sla)

    p = sub.add_parser(
        "funnel",
        help="cohort funnel, stage conversion and the bottleneck",
        description="Count how many opportunities created in [--start, --end) reached each stage "
        "(cohort funnel), the conversion between consecutive stages and the bottleneck (the "
        "lowest conversion). Defaults: every stored opportunity.",
        epilog="examples:\n  pipeline-core funnel\n  pipeline-core funnel --by source --horizon 30\n"
        "  pipeline-core funnel --start 2025-01-06T00:00:00+08:00 --end 2025-02-06T00:00:00+08:00 --json",
        formatter_class=formatter,
    )
    add_store(p)
    p.add_argument(
        "--pipeline",
        metavar="NAME|FILE",
        help="template or pipeline JSON (default: the template the opportunities name)",
    )
    p.add_argument(
        "--start", metavar="INSTANT", help="cohort start, inclusive (default: the first creation)"
    )
    p.add_argument(
        "--end",
        metavar="INSTANT",
        help="cohort end, exclusive (default: just after the last creation)",
    )
    p.add_argument(
        "--horizon",
        type=days_option,
        metavar="DAYS",
        help="count only stages reached within DAYS of creation",
    )
    p.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="COLUMN",
        help="group by an opportunity field (source, owner_id, team_id ...); repeatable",
    )
    p.add_argument(
        "--no-value", action="store_true", help="do not sum amounts (needed with mixed currencies)"
    )
    _add_reader(p)
    add_json(p)
    p.set_defaults(handler=_funnel)

    for name, verb in (("import", "into"), ("export", "from")):
        p = sub.add_parser(
            name,
            help=f"{name} records of one kind {verb} the store (CSV or JSON Lines)",
            description=(
                "Import a CSV or JSON Lines file of one record kind into the store, in one "
                "transaction. By default a file with any bad row writes nothing and every bad row "
                "is listed (row, column, value, problem); --skip-invalid writes the good rows."
                if name == "import"
                else "Export every record of one kind from the store to a CSV or JSON Lines file "
                "(the format follows the suffix, or --format); '-' writes to stdout."
            )
            + f" Kinds: {', '.join(kinds())}.",
            epilog=(
                "examples:\n  pipeline-core import lead leads.csv\n"
                "  pipeline-core import opportunity deals.jsonl --store sqlite:///crm.db --skip-invalid"
                if name == "import"
                else "examples:\n  pipeline-core export lead leads.csv\n"
                "  pipeline-core export stage_event - --format jsonl | head"
            ),
            formatter_class=formatter,
        )
        p.add_argument(
            "kind", choices=kinds(), metavar="KIND", help=f"record kind: {', '.join(kinds())}"
        )
        p.add_argument(
            "file",
            metavar="FILE",
            help="the .csv or .jsonl file" + (" ('-' for stdout)" if name == "export" else ""),
        )
        add_store(p)
        p.add_argument(
            "--format", choices=("csv", "jsonl"), help="file format (default: from the suffix)"
        )
        p.add_argument(
            "--spreadsheet-safe",
            action="store_true",
            help=(
                "CSV: write no cell beginning with = + - @, tab or CR (a leading ' marks text)"
                if name == "export"
                else "CSV: the file was exported with --spreadsheet-safe (one leading ' removed)"
            ),
        )
        if name == "import":
            p.add_argument(
                "--skip-invalid",
                action="store_true",
                help="write the good rows and report the bad ones",
            )
        add_json(p)
        p.set_defaults(handler=_import if name == "import" else _export)

    p = sub.add_parser(
        "validate",
        help="check pipeline, scoring model and SLA policy JSON files",
        description="Validate definitions given as JSON files: pipelines, scoring models "
        "(or weighted sums) and SLA policies. Every problem of every file is printed with its "
        "path. The kind is detected from the content unless --kind is given. Exit code 2 if any "
        "file is invalid.",
        epilog="examples:\n  pipeline-core validate my-pipeline.json acme-model.json\n"
        "  pipeline-core validate acme-policy.json --pipeline my-pipeline.json --json",
        formatter_class=formatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON files to check")
    p.add_argument(
        "--kind",
        choices=("auto", "pipeline", "model", "policy"),
        default="auto",
        help="what the files are (default: auto)",
    )
    p.add_argument(
        "--pipeline", metavar="NAME|FILE", help="check a policy's stage ids against this pipeline"
    )
    add_json(p)
    p.set_defaults(handler=_validate)

    p = sub.add_parser(
        "diagram",
        help="draw a pipeline as a Mermaid or Graphviz DOT diagram",
        description="Print the stages and every allowed move of a pipeline template or a "
        "pipeline JSON file as a Mermaid stateDiagram (paste into Markdown) or a Graphviz digraph.",
        epilog="examples:\n  pipeline-core diagram --list\n  pipeline-core diagram small_team\n"
        "  pipeline-core diagram my-pipeline.json --format dot -o pipeline.dot",
        formatter_class=formatter,
    )
    p.add_argument(
        "pipeline", nargs="?", metavar="PIPELINE", help="template name or pipeline JSON file"
    )
    p.add_argument(
        "--format",
        choices=("mermaid", "dot"),
        default="mermaid",
        help="diagram language (default: mermaid)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write the diagram to FILE")
    p.add_argument("--list", action="store_true", help="list the template names")
    add_json(p)
    p.set_defaults(handler=_diagram)

    p = sub.add_parser(
        "check",
        help="list stored values today's rules refuse or read differently (nothing is changed)",
        description="Read every stored record as stored and validate it against today's rules "
        "(timestamps, amounts, ids, payloads ...), then audit what the access scopes read "
        "differently from what the writers may have meant (ids shared by several kinds, "
        "references to the wrong kind or to nothing, ambiguous journal subjects, activities about "
        "records of different owners: pipeline_core.assignment.audit). Lists kind, id, field, "
        "value and reason for each finding; nothing is dropped or changed. Exit code 0: nothing "
        "found; 3: findings (listed); 1: the store could not be read; 2: bad options (--as is "
        "refused: check is an administrator's command).",
        epilog="examples:\n  pipeline-core check\n  pipeline-core check --store sqlite:///old.db "
        "--kind lead --json",
        formatter_class=formatter,
    )
    add_store(p)
    p.add_argument(
        "--kind", action="append", choices=kinds(), help="only records of this kind; repeatable"
    )
    add_json(p)
    p.set_defaults(handler=_check_store)
