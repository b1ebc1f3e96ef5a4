"""The ``mapping`` command: write a starter mapping from a file's headers, check a mapping, copy
out the shipped sample.

- ``mapping init FILE [--record lead] [-o out.toml]``: each header matched to a known field
  (:func:`pipeline_core.ingest.starter_mapping`), unknown ones commented out;
- ``mapping check M.toml [FILE]``: the mapping loads (every problem listed); with ``FILE``, its
  headers have every mapped column and each row is mapped (the first problems shown);
- ``mapping sample [DIR]``: the made-up 30-row GBK export ``leads_gbk.csv`` and its mapping
  ``leads_gbk.toml`` that ship with the package, copied into ``DIR``.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pipeline_core.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    bad_input,
    emit_json,
    escape_text,
    parse_instant,
)
from pipeline_core.cli._newfile import sqlite_path
from pipeline_core.cli._options import add_command, add_json, add_store
from pipeline_core.cli.ingest import (
    SHOWN_PROBLEMS,
    open_import_store,
    read_mapping,
    sheet_option,
    source_error,
)

__all__ = ["SAMPLE_FILES", "add_parser", "copy_sample"]

SAMPLE_FILES: Final = ("leads_gbk.csv", "leads_gbk.toml")
"""The sample export and its mapping, in ``pipeline_core/ingest/samples/``."""


def copy_sample(folder: str | Path, *, force: bool = False) -> list[Path]:
    """Copy :data:`SAMPLE_FILES` into ``folder`` (created if needed), byte for byte; returns the
    paths written. An existing file is not overwritten unless ``force``
    (:class:`~pipeline_core.cli._common.BadInput` naming it)."""
    source = resources.files("pipeline_core.ingest") / "samples"
    target = Path(folder)
    paths = [target / name for name in SAMPLE_FILES]
    for p in paths:
        if p.exists() and not force:
            raise bad_input(str(p), "DIR", "the file exists (--force overwrites it)", str(p))
    target.mkdir(parents=True, exist_ok=True)
    for name, p in zip(SAMPLE_FILES, paths, strict=True):
        p.write_bytes((source / name).read_bytes())
    return paths


def _run_sample(args: argparse.Namespace) -> int:
    paths = copy_sample(args.dir, force=args.force)
    if args.json:
        emit_json({"written": [str(p) for p in paths]})
    else:
        for p in paths:
            print(f"wrote {p}")
    return EXIT_OK


def _headers(args: argparse.Namespace) -> tuple[tuple[str, ...], str | None, bool]:
    from pipeline_core.ingest import read_rows

    if not Path(args.file).is_file():
        raise bad_input(args.file, "FILE", "file not found", args.file)
    with read_rows(args.file, encoding=args.encoding, sheet=args.sheet) as source:
        return source.headers, source.encoding, source.detected


def _run_init(args: argparse.Namespace) -> int:
    import tomllib

    from pipeline_core.ingest import SourceError, starter_mapping

    if args.output and Path(args.output).exists() and not args.force:
        raise bad_input(args.output, "-o", "the file exists (--force overwrites it)", args.output)
    try:
        headers, encoding, _ = _headers(args)
    except SourceError as exc:
        return source_error(args, exc, None)
    text = starter_mapping(headers, args.record, currency=args.currency, timezone=args.timezone)
    columns: dict[str, str] = tomllib.loads(text)["columns"]
    mapped = list(columns)
    left = [h for h in headers if h not in mapped]
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    result = {
        "file": args.file,
        "encoding": encoding,
        "record": args.record,
        "mapped": columns,
        "left_out": left,
        "output": args.output,
    }
    if args.json:
        emit_json({**result, "mapping": text} if not args.output else result)
    elif args.output:
        print(
            f"wrote {args.output}: {len(mapped)} of {len(headers)} columns mapped"
            + (f"; left for you: {', '.join(left)}" if left else "")
        )
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _users(url: str) -> list[Any]:
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return []
    store = open_import_store(url, must_exist=True)
    try:
        return list(store.users.all())
    finally:
        store.close()


def _run_check(args: argparse.Namespace) -> int:
    from pipeline_core.ingest import SourceError, map_rows, read_rows

    mapping = read_mapping(args.mapping, "M")
    result: dict[str, Any] = {
        "mapping": args.mapping,
        "record": mapping.record,
        "columns": len(mapping.columns),
        "external_id": mapping.external_id,
        "owns": list(mapping.owned_fields),
    }
    lines = [
        f"{args.mapping}: a {mapping.record} mapping, {len(mapping.columns)} columns"
        + (f", external id {mapping.external_id!r}" if mapping.external_id else ", no external id")
    ]
    if args.file:
        if not Path(args.file).is_file():
            raise bad_input(args.file, "FILE", "file not found", args.file)
        users = _users(args.store)
        rows = bad = 0
        problems: list[str] = []
        encoding = None
        try:
            with read_rows(args.file, encoding=args.encoding, sheet=args.sheet) as source:
                encoding = source.encoding
                # '@import' defaults read the instant the check runs at (nothing is written)
                now = parse_instant(None, "--as-of")
                for row in map_rows(source, mapping, users=users, as_of=now):
                    rows += 1
                    if not row.ok:
                        bad += 1
                        for p in row.problems:
                            if len(problems) < SHOWN_PROBLEMS:
                                problems.append(
                                    f"row {row.row}, {p.field}: {p.message} (got {p.value!r})"
                                )
        except SourceError as exc:
            return source_error(args, exc, encoding)
        result.update(file=args.file, encoding=encoding, rows=rows, rows_with_problems=bad,
                      problems=problems)  # fmt: skip
        lines.append(
            f"{Path(args.file).name}"
            + (f" (encoding {encoding})" if encoding else "")
            + f": {rows:,} rows, {rows - bad:,} map cleanly, {bad:,} with problems"
            + ("" if users else " (no stored users: owner columns match nobody)")
        )
        lines += [f"  {p}" for p in problems]
    if args.json:
        emit_json(result)
    else:
        print("\n".join(escape_text(line) for line in lines))
    return EXIT_BAD_INPUT if result.get("rows_with_problems") else EXIT_OK


def _reader_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoding", metavar="E", help="the CSV file's encoding (default: detected)")
    p.add_argument(
        "--sheet", type=sheet_option, metavar="S", help="workbook sheet name or 0-based index"
    )


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Register ``mapping`` with its ``init``, ``check`` and ``sample`` sub-commands."""
    from pipeline_core.ingest.mapping import RECORD_KINDS

    top = add_command(
        sub,
        formatter,
        "mapping",
        lambda args: _missing_action(top),
        help="write a starter mapping from a file's headers, check a mapping, copy the sample",
        description="Mappings say which column of a spreadsheet or CRM export fills which record "
        "field, and how its cells are read (see `pipeline-core import --mapping`).",
        examples=(
            "pipeline-core mapping sample .",
            "pipeline-core mapping init export.csv --record lead -o export.toml",
            "pipeline-core mapping check export.toml export.csv",
        ),
    )
    actions = top.add_subparsers(title="actions", metavar="ACTION")
    init = add_command(
        actions,
        formatter,
        "init",
        _run_init,
        help="a starter mapping from FILE's headers",
        description="Write a starter mapping: each header matched to a field by its known Chinese "
        "or English names; headers nobody knows are written commented out. Check every line.",
        examples=("pipeline-core mapping init leads.csv -o leads.toml",),
    )
    init.add_argument("file", metavar="FILE", help="a CSV file or workbook")
    init.add_argument(
        "--record",
        default="lead",
        choices=tuple(RECORD_KINDS),
        help="the record kind the rows fill (default: lead)",
    )
    init.add_argument("-o", "--output", metavar="OUT.toml", help="write here (default: stdout)")
    init.add_argument("--force", action="store_true", help="overwrite OUT.toml")
    init.add_argument("--currency", metavar="CODE", help="the money columns' currency (CNY ...)")
    init.add_argument("--timezone", metavar="ZONE", help="the zone of wall times (Asia/Shanghai)")
    _reader_options(init)
    add_json(init)
    check = add_command(
        actions,
        formatter,
        "check",
        _run_check,
        help="check a mapping (and map FILE's rows with it, writing nothing)",
        description="Load a mapping and list every problem; with FILE, check its headers and map "
        "each row (owners matched against the store's users), writing nothing.",
        examples=("pipeline-core mapping check leads.toml leads.csv",),
    )
    check.add_argument("mapping", metavar="M", help="the mapping file (.toml, .json, .yaml)")
    check.add_argument("file", metavar="FILE", nargs="?", help="a source file to map")
    _reader_options(check)
    add_store(check)
    add_json(check)
    sample = add_command(
        actions,
        formatter,
        "sample",
        _run_sample,
        help="copy the shipped GBK sample export and its mapping into DIR",
        description="Copy leads_gbk.csv (a made-up 30-row GBK export with Chinese headers) and "
        "leads_gbk.toml (its mapping) into DIR.",
        examples=("pipeline-core mapping sample .",),
    )
    sample.add_argument("dir", metavar="DIR", nargs="?", default=".", help="default: here")
    sample.add_argument("--force", action="store_true", help="overwrite existing files")
    add_json(sample)


def _missing_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
