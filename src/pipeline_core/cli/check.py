"""The ``check`` command: list stored values today's rules refuse or read differently."""

from __future__ import annotations

import argparse
from typing import Any, Final

from pipeline_core.cli._common import (
    EXIT_OK,
    bad_input,
    emit_json,
    open_store,
)
from pipeline_core.cli._options import (
    add_command,
    add_json,
    add_store,
)

__all__ = ["EXIT_FOUND", "add_parser"]


EXIT_FOUND: Final = 3
"""``check``: the store holds values the current rules refuse (listed; nothing changed)."""


def run_check(args: argparse.Namespace) -> int:
    from pipeline_core.access.audit import access_findings
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


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Register ``check``."""
    from pipeline_core.storage.io import kinds

    p = add_command(
        sub,
        formatter,
        "check",
        run_check,
        help="list stored values today's rules refuse or read differently (nothing is changed)",
        description="Read every stored record as stored and validate it against today's rules "
        "(timestamps, amounts, ids, payloads ...), then audit what the access scopes read "
        "differently from what the writers may have meant (ids shared by several kinds, "
        "references to the wrong kind or to nothing, ambiguous journal subjects, activities about "
        "records of different owners: pipeline_core.assignment.audit). Lists kind, id, field, "
        "value and reason for each finding; nothing is dropped or changed. Exit code 0: nothing "
        "found; 3: findings (listed); 1: the store could not be read; 2: bad options (--as is "
        "refused: check is an administrator's command).",
        examples=(
            "pipeline-core check",
            "pipeline-core check --store sqlite:///old.db --kind lead --json",
        ),
    )
    add_store(p)
    p.add_argument(
        "--kind", action="append", choices=kinds(), help="only records of this kind; repeatable"
    )
    add_json(p)
