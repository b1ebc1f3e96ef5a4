"""The ``funnel`` command: cohort funnel, stage conversion and the bottleneck."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from pipeline_core.cli import _format as f
from pipeline_core.cli import _options as options
from pipeline_core.cli._common import (
    EXIT_OK,
    BadInput,
    bad_input,
    days_option,
    emit_json,
    infer_pipeline,
    open_store,
    parse_instant,
    team_zone,
)
from pipeline_core.errors import Problem

__all__ = ["add_parser"]


def run_funnel(args: argparse.Namespace) -> int:
    from pipeline_core import metrics as m

    store = open_store(args.store, as_user=args.as_user)  # opened once, read in one go
    try:
        opportunities = list(store.opportunities.all())
        events = list(store.stage_events.all())
        # the text output names users and shows times in the teams' zone (unless --tz)
        users = [] if args.json else list(store.users.all())
        teams = [] if args.json or args.tz else list(store.teams.all())
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
    names = f.Names.of(lang=args.lang, pipeline=pipeline, users=users, ids=args.ids)
    zone = _reader_zone(args.tz, teams)
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


def _reader_zone(tz: str | None, teams: list[Any]) -> str:
    """The reader's zone: ``--tz``, else the stored teams' zone when they share one, else the
    default calendar's."""
    from pipeline_core.sla import default_calendar

    if tz:
        return options.zone_option(tz)
    return team_zone(teams, default_calendar())


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Register ``funnel``."""
    p = options.add_command(
        sub,
        formatter,
        "funnel",
        run_funnel,
        help="cohort funnel, stage conversion and the bottleneck",
        description="Count how many opportunities created in [--start, --end) reached each stage "
        "(cohort funnel), the conversion between consecutive stages and the bottleneck (the "
        "lowest conversion). Defaults: every stored opportunity.",
        examples=(
            "pipeline-core funnel",
            "pipeline-core funnel --by source --horizon 30",
            "pipeline-core funnel --start 2025-01-06T00:00:00+08:00 --end 2025-02-06T00:00:00+08:00 --json",
        ),
    )
    options.add_store(p)
    options.add_pipeline_option(p)
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
    options.add_reader(p)
    options.add_json(p)
