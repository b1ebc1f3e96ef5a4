"""The ``pipeline-core`` command line: a demo and the commands tools wrap the library with.

``main(argv)`` runs one command and returns its exit code (it never calls ``sys.exit`` itself;
the console script does):

- ``0``: success;
- ``1``: failure: the command could not do its work (a storage error, a file that cannot be
  written, an unexpected error);
- ``2``: bad input: a usage error, an invalid file, record, definition or option value. The
  message names every problem and its field;
- ``3``: ``check`` only: stored values the current input rules refuse were found (and listed);
- ``130``: interrupted by Ctrl-C (no traceback).

Errors print the typed error's message on stderr (no traceback); with ``--json`` an error
document ``{"error": {...}}`` is printed on stdout as well.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from pipeline_core._interrupts import reraise_interrupt
from pipeline_core._version import __version__
from pipeline_core.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    TerminalSafe,
    emit_json,
    escape_text,
    problems_json,
)
from pipeline_core.errors import (
    ConfigError,
    DuplicateError,
    NotFoundError,
    PipelineCoreError,
    TransitionError,
    ValidationError,
)

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "build_parser",
    "main",
]

EXIT_INTERRUPTED = 130
"""Exit code after Ctrl-C: 128 + SIGINT (2), as shells report it."""

_EPILOG = """\
examples:
  pipeline-core demo                          # pipeline.db + report.html in this directory
  pipeline-core score --top 5 --explain
  pipeline-core sla --as-of 2025-04-06T00:00:00+08:00 --kind breach
  pipeline-core funnel --by source --json
  pipeline-core export lead leads.csv && pipeline-core import lead leads.csv --store sqlite:///copy.db
  pipeline-core validate my-pipeline.json acme-model.json acme-policy.json
  pipeline-core diagram small_team --format dot

`python -m pipeline_core ...` is the same command. Every command takes --json (one JSON document
on stdout) and --help. Store commands take --store URL (default sqlite:///pipeline.db). Progress is shown on stderr when it is a terminal.

exit codes:
  0  success
  1  failure: the command could not do its work (storage error, unwritable file, unexpected error)
  2  bad input: usage error, invalid file, record, definition or option; every problem is listed
  3  check: the store holds values the current input rules refuse (listed; nothing changed)
  130 interrupted (Ctrl-C)
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's examples as written and shows defaults in the wrapped descriptions."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=100)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from pipeline_core.cli import commands, demo

    parser = argparse.ArgumentParser(
        prog="pipeline-core",
        description="Sales-pipeline tools over pipeline_core: a demo, lead scoring, SLA "
        "reminders, funnel metrics, import/export, definition checks and diagrams.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"pipeline-core {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    demo.add_parser(sub, _Formatter)
    commands.add_parsers(sub, _Formatter)
    return parser


def _error_json(kind: str, exc: BaseException, code: int) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "message": str(exc), "exit_code": code}
    if isinstance(exc, ValidationError | ConfigError):
        out["problems"] = problems_json(exc.problems)
    return {"error": out}


def _report(args: argparse.Namespace, exc: BaseException, code: int, prefix: str = "error") -> int:
    message = str(exc)
    errors = getattr(exc, "errors", None)
    if errors and all(hasattr(e, "row") for e in errors):  # an import's bad rows, by row number
        total, rows = getattr(exc, "total", len(errors)), getattr(exc, "bad_rows", len(errors))
        shown = (
            f" (the first {len(errors)} problems of {total} listed)" if total > len(errors) else ""
        )
        message = f"{rows} bad rows in the {getattr(exc, 'what', 'input')}{shown}:\n" + "\n".join(
            f"  - {e}" for e in errors
        )
    print(f"pipeline-core: {prefix}: {escape_text(message)}", file=sys.stderr)
    if getattr(args, "json", False):
        emit_json(_error_json(type(exc).__name__, exc, code))
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Ctrl-C (``KeyboardInterrupt``) at any point returns ``130`` (128 + SIGINT) after one line on
    stderr, without a traceback."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        with contextlib.suppress(OSError, KeyboardInterrupt):
            print("pipeline-core: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse printed it)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    stdout = sys.stdout
    sys.stdout = TerminalSafe(stdout)  # nothing stored drives the terminal
    try:
        return _run(handler, args)
    finally:
        if isinstance(sys.stdout, TerminalSafe):
            sys.stdout = stdout


def _run(handler: Any, args: argparse.Namespace) -> int:
    try:
        return int(handler(args))
    except (ValidationError, ConfigError, TransitionError, NotFoundError, DuplicateError) as exc:
        return _report(args, exc, EXIT_BAD_INPUT)
    except PipelineCoreError as exc:
        return _report(args, exc, EXIT_FAILURE)
    except ValueError as exc:  # the library's plain ValueErrors are about the input too
        reraise_interrupt(exc)  # a Ctrl-C that pydantic wrapped is still a Ctrl-C
        return _report(args, exc, EXIT_BAD_INPUT)
    except BrokenPipeError:  # `pipeline-core ... | head`: the reader left; say nothing more
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the exit flush quiet
        return EXIT_FAILURE
    except OSError as exc:  # in the user's terms: which file, and why, without errno text
        from pipeline_core.cli._format import os_error_text

        return _report(args, OSError(os_error_text(exc)), EXIT_FAILURE)
    except KeyboardInterrupt:
        print("pipeline-core: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _report(args, exc, EXIT_FAILURE, prefix=f"unexpected {type(exc).__name__}")
