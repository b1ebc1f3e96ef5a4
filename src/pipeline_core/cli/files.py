"""The ``import`` and ``export`` commands: records of one kind into or out of the store (CSV or JSON Lines)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pipeline_core.cli._common import (
    EXIT_OK,
    ProgressBar,
    bad_input,
    emit_json,
    open_store,
)
from pipeline_core.cli._newfile import new_sqlite_file
from pipeline_core.cli._options import (
    add_as_of_option,
    add_command,
    add_json,
    add_pipeline_option,
    add_store,
)
from pipeline_core.cli.ingest import run_mapped_import, sheet_option

__all__ = ["add_parsers"]


def run_import(args: argparse.Namespace) -> int:
    if args.mapping is not None:
        return run_mapped_import(args)
    mapped_only = [
        option
        for option, given in (
            ("--encoding", args.encoding),
            ("--sheet", args.sheet),
            ("--dry-run", args.dry_run),
            ("--report", args.report),
            ("--backfill", args.backfill),
            ("--pipeline", args.pipeline),
            ("--by", args.by),
            ("--create-users", args.create_users),
        )
        if given not in (None, False)
    ]
    if mapped_only:
        raise bad_input("options", mapped_only[0], "needs --mapping M.toml", True)
    from pipeline_core.storage.io import import_records

    if not Path(args.file).is_file():
        raise bad_input(args.file, "FILE", "file not found", args.file)
    with new_sqlite_file(args.store):  # a refused import leaves no new database file behind
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
                headers=args.headers,
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


def run_export(args: argparse.Namespace) -> int:
    from pipeline_core.storage.io import export_records

    to_stdout = args.file == "-"
    if to_stdout and args.format is None:
        raise bad_input("options", "--format", "needed when writing to stdout (-)", None)
    if to_stdout and args.json:
        raise bad_input(
            "options", "--json", "cannot be combined with writing records to stdout", True
        )
    fmt = args.format or ("xlsx" if not to_stdout and args.file.endswith(".xlsx") else None)
    if args.bom and fmt not in (None, "csv"):
        raise bad_input("options", "--bom", "a byte-order mark is for CSV files", fmt)
    if args.headers != "fields" and fmt == "jsonl":
        raise bad_input("options", "--headers", "JSON Lines has no header row", args.headers)
    if to_stdout:
        dest: Any = sys.stdout.buffer if fmt == "xlsx" else getattr(sys.stdout, "raw", sys.stdout)
    else:
        dest = args.file
    store = open_store(args.store, as_user=args.as_user)
    bar = ProgressBar(f"exporting {args.kind}")
    try:
        n = export_records(
            store,
            args.kind,
            dest,
            format=args.format,
            progress=bar,
            spreadsheet_safe=args.spreadsheet_safe,
            bom=args.bom,
            headers=args.headers,
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


def kinds() -> list[str]:
    """The record kinds ``import`` and ``export`` take (``storage.io.kinds``)."""
    from pipeline_core.storage.io import kinds as io_kinds

    return io_kinds()


def _add_mapped_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "with a mapping (a spreadsheet or CRM export: CSV in any common encoding, or Excel)"
    )
    g.add_argument(
        "--mapping",
        metavar="M.toml",
        help="map the file's columns with this mapping (.toml/.json/.yaml) and sync: new rows "
        "added, changed ones saved as their next version, unchanged ones skipped",
    )
    g.add_argument("--encoding", metavar="E", help="the CSV file's encoding (default: detected)")
    g.add_argument(
        "--sheet", type=sheet_option, metavar="S", help="workbook sheet name or 0-based index"
    )
    g.add_argument("--dry-run", action="store_true", help="report what would happen; write nothing")
    g.add_argument(
        "--report",
        metavar="out.csv|out.jsonl",
        help="every row's outcome (row, outcome, id, field, value, reason), streamed to this file; "
        "written only when the import succeeds",
    )
    g.add_argument(
        "--backfill",
        action="store_true",
        help="imported history: deadlines before the import raise no SLA alerts",
    )
    add_pipeline_option(g, help="template or pipeline JSON the imported opportunities are in")  # type: ignore[arg-type]
    g.add_argument(
        "--by",
        metavar="ID",
        help="the user id recorded as making the changes (default: --as, else 'import')",
    )
    g.add_argument(
        "--create-users",
        action="store_true",
        help="an owner no stored user matches becomes a new user (instead of a rejected row)",
    )
    add_as_of_option(p)


def add_parsers(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Register ``import`` and ``export``."""
    for name, verb in (("import", "into"), ("export", "from")):
        p = add_command(
            sub,
            formatter,
            name,
            run_import if name == "import" else run_export,
            help=f"{name} records of one kind {verb} the store (CSV or JSON Lines)",
            description=(
                "Import a CSV or JSON Lines file of one record kind into the store, in one "
                "transaction. By default a file with any bad row writes nothing and every bad row "
                "is listed (row, column, value, problem); --skip-invalid writes the good rows. "
                "With --mapping, any spreadsheet or CRM export (CSV in any common encoding, Excel) "
                "is mapped and synced: run it again and unchanged rows are skipped. A refused "
                "import into a new database file removes the file."
                if name == "import"
                else "Export every record of one kind from the store to a CSV, JSON Lines or Excel "
                "(.xlsx) file (the format follows the suffix, or --format); '-' writes to stdout. "
                "--bom (--excel) makes a CSV Excel opens as UTF-8; --headers zh writes Chinese "
                "column labels, which import reads back."
            )
            + f" Kinds: {', '.join(kinds())}.",
            examples=(
                (
                    "pipeline-core import lead leads.csv",
                    "pipeline-core import opportunity deals.jsonl --store sqlite:///crm.db --skip-invalid",
                    "pipeline-core import lead leads_gbk.csv --mapping leads_gbk.toml --dry-run",
                    "pipeline-core import lead leads_gbk.csv --mapping leads_gbk.toml "
                    "--create-users --report report.csv",
                )
                if name == "import"
                else (
                    "pipeline-core export lead leads.csv",
                    "pipeline-core export stage_event - --format jsonl | head",
                    "pipeline-core export lead leads.csv --bom --headers zh",
                    "pipeline-core export opportunity deals.xlsx --headers zh",
                )
            ),
        )
        p.add_argument(
            "kind",
            choices=kinds(),
            metavar="KIND",
            help=f"record kind: {', '.join(kinds())}",
        )
        p.add_argument(
            "file",
            metavar="FILE",
            help="the .csv or .jsonl file" + (" ('-' for stdout)" if name == "export" else ""),
        )
        add_store(p)
        p.add_argument(
            "--format",
            choices=("csv", "jsonl", "xlsx"),
            help="file format (default: from the suffix .csv, .jsonl, .xlsx)",
        )
        p.add_argument(
            "--headers",
            choices=("fields", "zh"),
            default="fields",
            help=(
                "CSV/xlsx header row: field names (default) or Chinese labels (zh)"
                if name == "export"
                else "header labels of the file (field names and zh labels are both recognised)"
            ),
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
        if name == "export":
            p.add_argument(
                "--bom",
                "--excel",
                dest="bom",
                action="store_true",
                help="CSV: begin with a UTF-8 byte-order mark so Excel reads the file as UTF-8 "
                "(without it Excel on Chinese Windows shows Chinese text garbled)",
            )
        if name == "import":
            p.add_argument(
                "--skip-invalid",
                action="store_true",
                help="write the good rows and report the bad ones",
            )
            _add_mapped_options(p)
        add_json(p)
