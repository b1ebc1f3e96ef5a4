"""The ``score`` command: score and grade leads (BANT by default) from a file or the store."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline_core.cli import _format as f
from pipeline_core.cli._common import (
    EXIT_OK,
    bad_input,
    count_option,
    emit_json,
    load_json_file,
    open_store,
)
from pipeline_core.cli._options import (
    add_command,
    add_json,
    add_store,
)

__all__ = ["add_parser", "load_leads", "load_model", "score_leads"]


def load_model(path: str | None) -> Any:
    """The scoring model in the JSON file ``path`` (``--model``), or ``BANT.default()``."""
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


def run_score(args: argparse.Namespace) -> int:
    model = load_model(args.model)
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


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Register ``score``."""
    p = add_command(
        sub,
        formatter,
        "score",
        run_score,
        help="score and grade leads (BANT by default) from a file or the store",
        description="Score every lead with a scoring model (default: BANT.default()) and grade it "
        "A/B/C. Leads come from LEADS (a CSV or JSON Lines file in the library's lead layout, as "
        "`export lead` writes it) or from the store. Text output shows the best leads; --json "
        "lists every lead, best first.",
        examples=(
            "pipeline-core score",
            "pipeline-core score leads.csv --explain --top 3",
            "pipeline-core score leads.jsonl --model acme-model.json --json",
        ),
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
