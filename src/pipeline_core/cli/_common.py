"""Shared plumbing of the command-line front: exit codes, output, progress, input files.

Nothing here is part of the library's domain core: this is the composition root, the one place
allowed to read files, the terminal and (for a default ``--now``) the system clock.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

from pipeline_core.clock import SystemClock
from pipeline_core.errors import Problem, ValidationError

__all__ = [
    "DEFAULT_STORE",
    "EXIT_BAD_INPUT",
    "EXIT_FAILURE",
    "EXIT_OK",
    "BadInput",
    "ProgressBar",
    "emit_json",
    "load_json_file",
    "load_pipeline",
    "parse_instant",
]

EXIT_OK: Final = 0
"""Success."""
EXIT_FAILURE: Final = 1
"""The command could not do its work (storage error, unwritable file, unexpected error)."""
EXIT_BAD_INPUT: Final = 2
"""Bad input: a usage error, an invalid file, record, definition or option value."""

DEFAULT_STORE: Final = "sqlite:///pipeline.db"
"""The store URL used when ``--store`` is not given."""


class BadInput(ValidationError):
    """Bad command-line input (a file, an option value); lists every problem like the library's
    own :class:`~pipeline_core.errors.ValidationError`."""


def bad_input(what: str, field: str, message: str, value: Any = None) -> BadInput:
    """A :class:`BadInput` with one problem at ``field``."""
    return BadInput(what, [Problem((field,), message, value, "invalid")])


def emit_json(data: Any, out: IO[str] | None = None) -> None:
    """Write ``data`` as indented JSON (non-ASCII kept readable) and a newline to stdout."""
    stream = out if out is not None else sys.stdout
    json.dump(data, stream, ensure_ascii=False, indent=2, default=str)
    stream.write("\n")


def load_json_file(path: str, field: str) -> Any:
    """Parse the JSON file at ``path``; a missing file or bad JSON is :class:`BadInput` naming
    ``field`` (the option or argument that gave the path)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise bad_input(path, field, "file not found", path) from None
    except OSError as exc:
        raise bad_input(path, field, f"cannot read the file: {exc.strerror}", path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad_input(
            path, field, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", path
        ) from None


def load_pipeline(spec: str, field: str = "--pipeline") -> Any:
    """A pipeline from a template name (``small_team``) or a pipeline JSON file."""
    from pipeline_core.stages import Pipeline, templates

    if spec in templates.names():
        return templates.get(spec)
    if spec.endswith(".json") or Path(spec).is_file():
        return Pipeline.from_dict(load_json_file(spec, field))
    raise bad_input(
        "pipeline",
        field,
        f"neither a template ({', '.join(templates.names())}) nor a pipeline JSON file",
        spec,
    )


def parse_instant(text: str | None, field: str) -> datetime:
    """An ISO 8601 instant with a UTC offset; ``None`` means the system clock's now."""
    if text is None:
        return SystemClock().now()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise bad_input(
            "options", field, "not an ISO 8601 date-time (e.g. 2025-04-06T09:00:00+08:00)", text
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise bad_input("options", field, "needs a UTC offset, e.g. +08:00 or Z", text)
    return value


class ProgressBar:
    """A one-line progress display on stderr, shown only when stderr is a terminal.

    Call it with the number of items done (the storage import/export ``progress`` callback);
    ``total`` (if known) adds a bar and a percentage. ``done()`` ends the line (``keep=False``:
    erases it).
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: IO[str] | None = None,
        *,
        keep: bool = True,
    ) -> None:
        self.label = label
        self.total = total
        self.keep = keep
        self.stream = stream if stream is not None else sys.stderr
        isatty: Callable[[], bool] = getattr(self.stream, "isatty", lambda: False)
        self.enabled = bool(isatty())
        self._shown = False

    def __call__(self, n: int) -> None:
        """Show that ``n`` items are done."""
        if not self.enabled:
            return
        if self.total:
            frac = min(1.0, n / self.total)
            filled = int(frac * 30)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"\r\x1b[2K{self.label} [{bar}] {n:,}/{self.total:,} ({frac:.0%})"
        else:
            text = f"\r\x1b[2K{self.label}: {n:,}"
        self.stream.write(text)
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        """Finish the line (if anything was shown)."""
        if self.enabled and self._shown:
            self.stream.write("\n" if self.keep else "\r\x1b[2K")
            self.stream.flush()
        self._shown = False


def add_json(parser: argparse.ArgumentParser) -> None:
    """Add the ``--json`` flag every command has."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON document on stdout (for tools and scripts)",
    )


def add_store(parser: argparse.ArgumentParser) -> None:
    """Add ``--store URL``."""
    parser.add_argument(
        "--store",
        default=DEFAULT_STORE,
        metavar="URL",
        help=f"store URL: sqlite:///relative.db, sqlite:////absolute.db, memory:// or "
        f"postgresql://user@host/db (default: {DEFAULT_STORE})",
    )
    parser.add_argument(
        "--as",
        dest="as_user",
        metavar="USER",
        help="read and write as this user of the store, within their access scopes (default: as "
        "an administrator). On a database file you can open directly this is a view, not a "
        "security boundary",
    )


def open_store(url: str, *, must_exist: bool = True, as_user: str | None = None) -> Any:
    """Open the store at ``url``; a SQLite file that does not exist is bad input (a typo should
    not silently create an empty database) unless ``must_exist`` is false.

    With ``as_user`` (``--as USER``) the store is a
    :class:`~pipeline_core.assignment.ScopedStore` for that stored user (closing it closes the
    store); an unknown user is bad input. Without it the command acts as an administrator.
    """
    store = _open_plain(url, must_exist=must_exist)
    if as_user is None:
        return store
    from pipeline_core.assignment import ScopedStore
    from pipeline_core.errors import NotFoundError

    class _OwnedScopedStore(ScopedStore):
        def close(self) -> None:
            self.inner.close()

    try:
        return _OwnedScopedStore(store, as_user)
    except NotFoundError:
        store.close()
        raise bad_input("options", "--as", "no such user in the store", as_user) from None
    except BaseException:
        store.close()
        raise


def _open_plain(url: str, *, must_exist: bool) -> Any:
    from pipeline_core import storage

    if must_exist and url.startswith("sqlite:///") and url not in ("sqlite:///:memory:",):
        path = Path(url[len("sqlite:///") :])
        if not path.exists():
            raise bad_input(
                "store", "--store", f"no database at {str(path)!r} (run `pipeline-core demo`?)", url
            )
    try:
        return storage.open(url)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise
        raise bad_input("store", "--store", str(exc), url) from None


def problems_json(problems: tuple[Problem, ...]) -> list[dict[str, Any]]:
    """Problems as plain data: field, message, value (as text), code."""
    return [
        {
            "field": p.field,
            "message": p.message,
            "value": None if p.missing else _plain(p.value),
            "code": p.code,
        }
        for p in problems
    ]


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)
