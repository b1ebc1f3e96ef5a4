"""The ``sla`` command: reminders, breaches, escalations and risk flags due by an instant."""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any, Final

from pipeline_core.cli import _format as f
from pipeline_core.cli._common import (
    EXIT_OK,
    ProgressBar,
    count_option,
    default_sla_calendar,
    emit_json,
    infer_pipeline,
    load_json_file,
    open_store,
    parse_instant,
    team_zone,
)
from pipeline_core.cli._options import (
    add_as_of_option,
    add_command,
    add_json,
    add_pipeline_option,
    add_reader,
    add_store,
    zone_option,
)
from pipeline_core.cli.score import load_model

__all__ = ["add_parser"]


_KINDS: Final = ("reminder", "breach", "escalation", "risk")
_PLURAL: Final = {
    "reminder": "reminders",
    "breach": "breaches",
    "escalation": "escalations",
    "risk": "risk flags",
}


def run_sla(args: argparse.Namespace) -> int:
    from pipeline_core.sla import (
        Policy,
        SlaEngine,
        default_policy,
        state_from_records,
        zone_name_of,
    )

    as_of = parse_instant(args.as_of, args.as_of_option)  # the evaluation instant
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
    model = load_model(args.model)
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
        i
        for s in states()
        for i in engine.evaluate(s, as_of)
        if args.kind is None or i.kind == args.kind
    ]
    if args.owner is not None:
        items = [i for i in items if i.recipient_id == args.owner]
    items.sort(key=lambda i: (-i.at_us, i.id))
    # the reader's zone: --tz, else the teams' zone when they share one, else the policy calendar's
    reader_zone = zone_option(args.tz) if args.tz else team_zone(teams.values(), policy)
    names = f.Names.of(
        lang=args.lang, pipeline=pipeline, users=users, policy=engine.policy, ids=args.ids
    )
    counts = Counter(i.kind for i in items)
    by_rule = Counter((i.kind, i.rule) for i in items)
    result: dict[str, Any] = {
        "now": as_of.isoformat(),  # the output key stays "now" (the JSON layout)
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
        f"SLA at {f.instant(as_of, reader_zone)} over {f.count(result['subjects'])} leads and "
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


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Register ``sla``."""
    p = add_command(
        sub,
        formatter,
        "sla",
        run_sla,
        help="reminders, breaches, escalations and risk flags due by an instant",
        description="Run the SLA engine over the stored leads and opportunities at --as-of and list "
        "every item due by then (reminders, breaches, escalations, risk flags), latest first. "
        "Lead grades come from the lead's custom field 'grade' (the demo stores it) or are scored "
        "with --model. The stage SOP time limits of the pipeline are rules too.",
        examples=(
            "pipeline-core sla --as-of 2025-04-06T00:00:00+08:00",
            "pipeline-core sla --as-of 2025-04-06T00:00:00+08:00 --kind breach --limit 20",
            "pipeline-core sla --policy acme-policy.json --pipeline saas --json",
        ),
    )
    add_store(p)
    add_as_of_option(p)
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
    add_pipeline_option(p)
    p.add_argument(
        "--model",
        metavar="FILE",
        help="scoring model for leads without a stored grade (default: BANT)",
    )
    p.add_argument("--kind", choices=_KINDS, help="only items of this kind")
    add_reader(p)
    p.add_argument("--owner", metavar="USER_ID", help="only items for this recipient")
    p.add_argument(
        "--limit",
        type=count_option,
        metavar="N",
        help="list at most N items (text default: 10; --json default: all)",
    )
    add_json(p)
