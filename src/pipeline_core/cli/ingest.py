"""``import KIND FILE --mapping M.toml``: a spreadsheet or CRM export synced into the store.

The file is read (:func:`pipeline_core.ingest.read_rows`: CSV in any common encoding, Excel
workbooks), mapped (:func:`~pipeline_core.ingest.map_rows`) and synced
(:func:`~pipeline_core.ingest.sync`): new rows added, changed ones saved as their next version,
unchanged ones skipped. The screen shows the encoding, the counts and the first
:data:`SHOWN_PROBLEMS` problems; ``--report`` streams every row's entry to a CSV or JSON Lines file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import attrs

from pipeline_core.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    ProgressBar,
    bad_input,
    emit_json,
    escape_text,
    load_pipeline,
    open_store,
    parse_instant,
)
from pipeline_core.cli._newfile import new_sqlite_file, sqlite_path

__all__ = [
    "SHOWN_PROBLEMS",
    "kept_new_users",
    "open_import_store",
    "read_mapping",
    "run_mapped_import",
    "sheet_option",
    "source_error",
]

SHOWN_PROBLEMS: Final = 20
"""How many row problems the screen lists (``--report`` and ``--json`` have the rest)."""

_PROGRESS_EVERY: Final = 500


def sheet_option(text: str) -> str | int:
    """``--sheet``: a sheet's name, or its 0-based index when the text is digits only."""
    return int(text) if text.isascii() and text.isdigit() else text


def read_mapping(path: str, field: str = "--mapping") -> Any:
    """The mapping in the file ``path`` (:func:`pipeline_core.ingest.load_mapping`); a missing or
    unreadable file is :class:`~pipeline_core.cli._common.BadInput` naming ``field``; a mapping
    with problems is the :class:`~pipeline_core.errors.ConfigError` listing every one."""
    from pipeline_core.ingest import load_mapping

    if not Path(path).is_file():
        raise bad_input(path, field, "file not found", path)
    try:
        return load_mapping(path)
    except UnicodeDecodeError:
        raise bad_input(path, field, "a mapping file is UTF-8 text", path) from None


def open_import_store(url: str, *, must_exist: bool = False, as_user: str | None = None) -> Any:
    """:func:`~pipeline_core.cli._common.open_store`, a store that cannot be opened (a path in
    no directory, a file that is not a database: a :class:`~pipeline_core.errors.StorageError`
    other than a lock timeout) being bad input: a ``ValueError`` whose one line names
    ``--store`` and the reason (exit code 2)."""
    from pipeline_core.errors import LockTimeoutError, StorageError

    try:
        return open_store(url, must_exist=must_exist, as_user=as_user)
    except StorageError as exc:
        if isinstance(exc, LockTimeoutError):
            raise
        raise ValueError(f"--store {url}: {exc}") from None


def _open_report(path: str) -> Any:
    """The ``--report`` writer; a path where no file can be written (no such folder, no
    permission) is bad input in one line (exit code 2), before anything is read."""
    from pipeline_core.ingest import report_writer

    try:
        return report_writer(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValueError(f"--report {path}: cannot write the report there: {reason}") from None


def source_error(args: argparse.Namespace, exc: Any, encoding: str | None) -> int:
    """Report a :class:`~pipeline_core.ingest.SourceError` in one line (file, row, column,
    problem, the encoding it was read with); exit code 2."""
    problem = exc.problems[0] if exc.problems else None
    where = Path(args.file).name
    if exc.row is not None:
        where += f", row {exc.row}"
    if problem is not None and problem.path and str(problem.path[-1]) not in ("<row>", "<file>"):
        where += f", column {problem.path[-1]}"
    message = problem.message if problem is not None else str(exc)
    read_as = encoding or getattr(args, "encoding", None)
    if read_as and "encoding" in (problem.code if problem else ""):
        how = "declared" if getattr(args, "encoding", None) else "detected"
        message += f" (read as {read_as}, {how}; give the right one with --encoding)"
    more = f" (and {len(exc.problems) - 1} more problems)" if len(exc.problems) > 1 else ""
    print(f"pipeline-core: error: {escape_text(where)}: {escape_text(message)}{more}",
          file=sys.stderr)  # fmt: skip
    if getattr(args, "json", False):
        from pipeline_core.cli._common import problems_json

        emit_json(
            {
                "error": {
                    "type": type(exc).__name__,
                    "message": f"{where}: {message}",
                    "row": exc.row,
                    "encoding": read_as,
                    "problems": problems_json(exc.problems),
                    "exit_code": EXIT_BAD_INPUT,
                }
            }
        )
    return EXIT_BAD_INPUT


class _HeldReport:
    """A report writer (or none) whose ``finish``/``discard`` wait for the whole import (leads
    and the users they create commit together); it notes the rows the sync kept (every outcome
    but ``rejected``), so only their owners become new users."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.kept: set[int] = set()

    def write(self, entry: Any) -> None:
        if entry.outcome != "rejected":
            self.kept.add(entry.row)
        if self.inner is not None:
            self.inner.write(entry)

    def finish(self) -> None:
        pass

    def discard(self) -> None:
        pass


class _OwnersSeen:
    """The mapped rows passed through, noting for each row the values of its owner fields (the
    new users a row needs)."""

    def __init__(self, rows: Iterable[Any], fields: tuple[str, ...]) -> None:
        self.rows = rows
        self.fields = fields
        self.owners: dict[int, set[str]] = {}

    def __iter__(self) -> Iterator[Any]:
        for row in self.rows:
            if row.data is not None:
                owners = {row.data[f] for f in self.fields if isinstance(row.data.get(f), str)}
                if owners:
                    self.owners.setdefault(row.row, set()).update(owners)
            yield row


def kept_new_users(
    planned: Iterable[Any], owners: dict[int, set[str]], kept: set[int]
) -> list[Any]:
    """The planned new users (in the order first met) that own at least one kept row: with
    ``--skip-invalid`` an owner met only in rejected rows is not created."""
    needed = {owner for row in kept for owner in owners.get(row, ())}
    return [u for u in planned if u.id in needed]


def _counted(rows: Iterable[Any], bar: ProgressBar) -> Iterator[Any]:
    for n, row in enumerate(rows, 1):
        if n % _PROGRESS_EVERY == 0:
            bar(n)
        yield row


def _owns(mapping: Any) -> tuple[str, ...] | None:
    if mapping.owns is None:
        return None
    names = dict.fromkeys("custom" if f.startswith("custom.") else f for f in mapping.owns)
    return tuple(n for n in names if n not in ("id", "version"))


def _problem_dict(e: Any) -> dict[str, Any]:
    from pipeline_core.ingest.report import plain_value

    return {
        "row": e.row,
        "field": e.field,
        "value": plain_value(e.value),
        "reason": e.message,
        "code": e.code,
    }


def _counts(report: Any) -> dict[str, int]:
    return {
        "rows": report.rows,
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": report.rejected,
    }


def _print_problems(report: Any, stream: Any) -> None:
    shown = report.errors[:SHOWN_PROBLEMS]
    if not shown:
        return
    head = (
        f"problems (the first {len(shown)} of {report.error_count}):"
        if report.error_count > len(shown)
        else "problems:"
    )
    print(head, file=stream)
    for e in shown:
        print(f"  {e}", file=stream)


def run_mapped_import(args: argparse.Namespace) -> int:
    """``import KIND FILE --mapping M``: read, map and sync ``FILE``; see the module docs."""
    from pipeline_core.ingest import SYNC_KINDS, SourceError, SyncRejectedError

    if args.kind not in SYNC_KINDS:
        raise bad_input(
            "options", "KIND", f"a mapped import fills one of: {', '.join(SYNC_KINDS)}", args.kind
        )
    if not Path(args.file).is_file():
        raise bad_input(args.file, "FILE", "file not found", args.file)
    mapping = read_mapping(args.mapping)
    if mapping.record != args.kind:
        raise bad_input(
            args.mapping, "record", f"the mapping fills {mapping.record} records, not {args.kind}",
            mapping.record,
        )  # fmt: skip
    if args.create_users:
        mapping = attrs.evolve(mapping, owners=attrs.evolve(mapping.owners, create_missing=True))
    pipeline = load_pipeline(args.pipeline) if args.pipeline else None
    at = parse_instant(args.as_of, args.as_of_option)
    by = args.by or args.as_user or "import"
    writer = _open_report(args.report) if args.report else None
    url = args.store
    path = sqlite_path(url)
    if args.dry_run and path is not None and not path.exists():
        url = "memory://"  # a dry run creates no database file: an empty store is the same
    state: dict[str, Any] = {"encoding": None}
    try:
        with new_sqlite_file(url):
            result = _sync_file(args, mapping, url, pipeline, at, by, writer, state)
    except SourceError as exc:
        if writer is not None:
            writer.discard()
        return source_error(args, exc, state["encoding"])
    except SyncRejectedError as exc:
        if writer is not None:
            writer.discard()
        return rejected(args, exc)
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    if writer is not None and result is not None:
        writer.finish()
    return _show(args, state, result)


def _sync_file(
    args: argparse.Namespace,
    mapping: Any,
    url: str,
    pipeline: Any,
    at: Any,
    by: str,
    writer: Any,
    state: dict[str, Any],
) -> Any:
    from pipeline_core.ingest import MappedRow, map_rows, read_rows, sync

    store = open_import_store(url, as_user=args.as_user)
    bar = ProgressBar(f"importing {args.kind}")
    try:
        users = list(store.users.all())
        with read_rows(args.file, encoding=args.encoding, sheet=args.sheet) as source:
            state.update(encoding=source.encoding, detected=source.detected,
                         format=source.format, headers=len(source.headers))  # fmt: skip
            mapped = map_rows(source, mapping, users=users, as_of=at)
            owner_fields = tuple(n for n, f in mapping.fields.items() if f.kind == "owner")
            seen = _OwnersSeen(_counted(mapped, bar), owner_fields)
            held = _HeldReport(writer)
            with store.unit_of_work():
                report = sync(
                    store,
                    args.kind,
                    seen,
                    owns=_owns(mapping),
                    external_id=mapping.external_id,
                    pipeline=pipeline,
                    by=by,
                    at=at,
                    dry_run=args.dry_run,
                    skip_invalid=args.skip_invalid,
                    backfill=args.backfill or mapping.backfill,
                    report=held,
                )
                new_users = kept_new_users(mapped.new_users, seen.owners, held.kept)
                state["users"] = [u.id for u in new_users]
                if new_users:
                    sync(
                        store,
                        "user",
                        [MappedRow(0, u.to_dict()) for u in new_users],
                        by=by,
                        at=at,
                        dry_run=args.dry_run,
                    )
    finally:
        bar.done()
        store.close()
    return report


def _show(args: argparse.Namespace, state: dict[str, Any], report: Any) -> int:
    name = Path(args.file).name
    encoding = state.get("encoding")
    how = "detected" if state.get("detected") else "declared"
    users = state.get("users", [])
    result = {
        "kind": args.kind,
        "file": args.file,
        "store": args.store,
        "format": state.get("format"),
        "encoding": encoding,
        "encoding_detected": bool(state.get("detected")) if encoding else None,
        **_counts(report),
        "dry_run": report.dry_run,
        "written": report.written,
        "users_created": users,
        "report": args.report,
        "problems": [_problem_dict(e) for e in report.errors],
        "problem_count": report.error_count,
    }
    # rows a real import would refuse: the same exit code as the real import (2), also dry
    code = EXIT_BAD_INPUT if report.rejected and not args.skip_invalid else EXIT_OK
    if args.json:
        emit_json(result)
        return code
    read = f"read {name}" + (f" (encoding {encoding}, {how})" if encoding else "")
    print(f"{read}: {report.rows:,} rows")
    counts = ", ".join(
        f"{n:,} {word}" for word, n in (("added", report.added), ("updated", report.updated),
                                        ("unchanged", report.unchanged),
                                        ("rejected", report.rejected))
    )  # fmt: skip
    target = "dry run, nothing written" if report.dry_run else f"into {args.store}"
    print(f"{args.kind}: {counts} ({target})")
    if users:
        print(f"user: {len(users):,} {'to create' if report.dry_run else 'created'}: "
              + ", ".join(users[:SHOWN_PROBLEMS]) + (" ..." if len(users) > SHOWN_PROBLEMS else ""))  # fmt: skip
    _print_problems(report, sys.stderr if report.rejected else sys.stdout)
    if args.report:
        print(f"report: {args.report}")
    return code


def rejected(args: argparse.Namespace, exc: Any) -> int:
    """An all-or-nothing import with rejected rows: the counts it would have had, the first
    problems, nothing written; exit code 2."""
    report = exc.report
    if args.json:
        emit_json(
            {
                "error": {
                    "type": type(exc).__name__,
                    "message": f"{report.rejected} rejected rows: nothing was written",
                    **_counts(report),
                    "problems": [_problem_dict(e) for e in report.errors],
                    "problem_count": report.error_count,
                    "exit_code": EXIT_BAD_INPUT,
                }
            }
        )
    print(
        f"pipeline-core: error: {report.rejected:,} of {report.rows:,} rows rejected; nothing was "
        f"written (--skip-invalid stores the good rows; --dry-run --report FILE lists every "
        f"problem)",
        file=sys.stderr,
    )
    _print_problems(report, sys.stderr)
    return EXIT_BAD_INPUT
