"""The ``validate`` and ``diagram`` commands: check definition files, draw a pipeline."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline_core.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    BadInput,
    bad_input,
    emit_json,
    load_json_file,
    load_pipeline,
    problems_json,
)
from pipeline_core.cli._options import (
    add_command,
    add_json,
    add_pipeline_option,
)
from pipeline_core.errors import ConfigError, Problem, ValidationError

__all__ = ["add_parsers"]


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


def run_validate(args: argparse.Namespace) -> int:
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


def run_diagram(args: argparse.Namespace) -> int:
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


def add_parsers(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Register ``validate`` and ``diagram``."""
    p = add_command(
        sub,
        formatter,
        "validate",
        run_validate,
        help="check pipeline, scoring model and SLA policy JSON files",
        description="Validate definitions given as JSON files: pipelines, scoring models "
        "(or weighted sums) and SLA policies. Every problem of every file is printed with its "
        "path. The kind is detected from the content unless --kind is given. Exit code 2 if any "
        "file is invalid.",
        examples=(
            "pipeline-core validate my-pipeline.json acme-model.json",
            "pipeline-core validate acme-policy.json --pipeline my-pipeline.json --json",
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON files to check")
    p.add_argument(
        "--kind",
        choices=("auto", "pipeline", "model", "policy"),
        default="auto",
        help="what the files are (default: auto)",
    )
    add_pipeline_option(p, "check a policy's stage ids against this pipeline")
    add_json(p)

    p = add_command(
        sub,
        formatter,
        "diagram",
        run_diagram,
        help="draw a pipeline as a Mermaid or Graphviz DOT diagram",
        description="Print the stages and every allowed move of a pipeline template or a "
        "pipeline JSON file as a Mermaid stateDiagram (paste into Markdown) or a Graphviz digraph.",
        examples=(
            "pipeline-core diagram --list",
            "pipeline-core diagram small_team",
            "pipeline-core diagram my-pipeline.json --format dot -o pipeline.dot",
        ),
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
