"""Shared plumbing of the command-line front: exit codes, output, progress, input files.

Nothing here is part of the library's domain core: this is the composition root, the one place
allowed to read files, the terminal and (for a default ``--as-of``) the system clock.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from pipeline_core._jsonvalue import MAX_DEPTH, DuplicateKeyError, loads_unique, text_too_deep
from pipeline_core.clock import SystemClock
from pipeline_core.errors import ConfigError, Problem, ValidationError

__all__ = [
    "DEFAULT_STORE",
    "EXIT_BAD_INPUT",
    "EXIT_FAILURE",
    "EXIT_OK",
    "BadInput",
    "ProgressBar",
    "TerminalSafe",
    "count_option",
    "days_option",
    "default_sla_calendar",
    "emit_json",
    "escape_text",
    "infer_pipeline",
    "load_json_file",
    "load_pipeline",
    "parse_instant",
    "team_zone",
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


HOLIDAYS_LEFT_OUT: Final = (
    "public holidays left out (Mon-Fri working days only): "
    "pip install 'pipeline-core[holidays]' for mainland China's holidays"
)
"""The note shown when the default calendar runs without the ``holidays`` extra."""


def team_zone(teams: Iterable[Any], default: Any) -> str:
    """The IANA zone a person of ``teams`` reads times in: the teams' zone when they all share
    one (a team without its own has ``default``'s), else ``default``'s (a policy, a calendar or a
    zone name: :func:`pipeline_core.sla.zone_name_of`)."""
    from pipeline_core.sla import zone_name_of

    zones = {zone_name_of(None, t, default) for t in teams}
    return zones.pop() if len(zones) == 1 else zone_name_of(None, None, default)


def default_sla_calendar(country: str | None, notes: list[str]) -> Any:
    """The SLA policy's default calendar for ``--country``: ``None`` (not given) is mainland
    China's holidays when the ``holidays`` extra is installed, else Mon-Fri working days with
    :data:`HOLIDAYS_LEFT_OUT` appended to ``notes``; ``''`` is no holidays; a code asked for by
    name needs the extra (:class:`~pipeline_core.errors.ConfigError` naming it otherwise)."""
    from pipeline_core.sla import default_calendar

    if country is not None:
        return default_calendar(country=country or None)
    try:
        return default_calendar(country="CN")
    except ConfigError as exc:
        if not any(p.code == "missing_dependency" for p in exc.problems):
            raise
        notes.append(HOLIDAYS_LEFT_OUT)
        return default_calendar()


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
        from pipeline_core.cli._format import os_error_text

        raise bad_input(path, field, os_error_text(exc, "cannot read"), path) from None
    deep, key = text_too_deep(text)
    if deep:
        raise bad_input(path, key or field, f"nested deeper than {MAX_DEPTH} levels", path)
    try:
        return loads_unique(text)
    except DuplicateKeyError as exc:
        raise bad_input(path, field, f"not valid JSON: {exc}", path) from None
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


EARLIEST: Final = datetime(1900, 1, 1, tzinfo=UTC)
"""The earliest instant an option such as ``--now`` accepts."""
LATEST: Final = datetime(3000, 1, 1, tzinfo=UTC)
"""The instant options such as ``--now`` must be before (room for horizons and deadlines)."""


def infer_pipeline(spec: str | None, opportunities: Iterable[Any], *, required: bool = True) -> Any:
    """``spec`` (template or JSON file) or else the template named by the stored opportunities'
    ``pipeline`` field; when they name none (or several) that is bad input, or ``None`` if not
    ``required``."""
    from pipeline_core.stages import templates

    if spec is not None:
        return load_pipeline(spec)
    names = {o.pipeline for o in opportunities if o.pipeline}
    if len(names) == 1 and (name := next(iter(names))) in templates.names():
        return templates.get(name)
    if not required:
        return None
    raise bad_input(
        "options",
        "--pipeline",
        "needed: the stored opportunities do not name one template"
        + (f" (they name {sorted(names)})" if names else ""),
        None,
    )


def parse_instant(text: str | None, field: str) -> datetime:
    """An ISO 8601 instant with a UTC offset, read as a record's timestamp is (offsets
    -12:00..+14:00, ASCII digits), between 1900 and 3000; ``None`` means the system clock's now.
    Anything else is :class:`BadInput` naming ``field``."""
    if text is None:
        return SystemClock().now()
    from pipeline_core._model import timestamp

    try:
        value = timestamp(text, field, "options")
    except ValidationError as exc:
        message = exc.problems[0].message
        raise bad_input("options", field, f"not a usable instant: {message}", text) from None
    if not EARLIEST <= value < LATEST:
        raise bad_input("options", field, "must be between 1900-01-01 and 3000-01-01 (UTC)", text)
    return value


MAX_DAYS: Final = 36_600
"""The largest number of days an option such as ``--horizon`` accepts (about 100 years)."""


def days_option(text: str) -> float:
    """``argparse`` type of a number-of-days option: a finite number from 0 to 36,600 in ASCII
    digits (``inf``, ``nan``, ``1e20`` and negative numbers are usage errors, exit 2)."""
    if not _NUMBER.match(text) or not 0 <= float(text) <= MAX_DAYS:
        raise argparse.ArgumentTypeError(
            f"expected a number of days from 0 to {MAX_DAYS:,}, got {escape_text(text)!r}"
        )
    return float(text)


def count_option(text: str) -> int:
    """``argparse`` type of a count option (``--top``, ``--limit``): a whole number >= 0 in ASCII
    digits (a negative count is a usage error, exit 2)."""
    if not _COUNT.match(text):
        raise argparse.ArgumentTypeError(
            f"expected a whole number 0 or more, got {escape_text(text)!r}"
        )
    return int(text)


_NUMBER: Final = re.compile(r"[0-9]+(\.[0-9]+)?\Z", re.ASCII)
_COUNT: Final = re.compile(r"[0-9]{1,18}\Z", re.ASCII)


class _EscapeTable(dict[int, "int | str"]):
    """``str.translate`` table built as characters are met: a character a terminal could act
    on or hide (Unicode categories Cc, Cf, Zl, Zp, Cs: ESC, BEL, CSI, zero-width and bidi
    characters, the BOM, line separators) maps to its ``\\uXXXX`` escape (a surrogate pair beyond
    U+FFFF, so the text reads the same inside JSON strings); tab, newline and everything else map
    to themselves."""

    def __missing__(self, code: int) -> int | str:
        value: int | str = code
        if chr(code) not in "\n\t" and unicodedata.category(chr(code)) in _ACTING:
            if code <= 0xFFFF:
                value = f"\\u{code:04x}"
            else:
                rest = code - 0x10000
                value = f"\\u{0xD800 + (rest >> 10):04x}\\u{0xDC00 + (rest & 0x3FF):04x}"
        self[code] = value
        return value


_ACTING: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_ESCAPES: Final = _EscapeTable()


def escape_text(text: str) -> str:
    """``text`` with every character a terminal could act on or hide written as ``\\uXXXX``
    (ESC, BEL, other controls, zero-width and bidi characters, BOM); newline and tab are kept.
    Used for everything the CLI prints, so stored text cannot drive the terminal."""
    if text.isascii() and text.isprintable():
        return text
    return text.translate(_ESCAPES)


class TerminalSafe(io.TextIOBase):
    """A text stream that writes to ``stream`` with :func:`escape_text` applied.

    ``raw`` is the stream itself, for output that must stay byte-exact (records exported to
    stdout)."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.raw = stream

    def write(self, text: str) -> int:
        """Write ``text`` escaped; returns ``len(text)``."""
        self.raw.write(escape_text(text))
        return len(text)

    def flush(self) -> None:
        """Flush the underlying stream."""
        self.raw.flush()

    def isatty(self) -> bool:
        """Whether the underlying stream is a terminal."""
        return bool(getattr(self.raw, "isatty", lambda: False)())


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
    from pipeline_core.access import ScopedStore
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
        # a typed error's own problems, not its text (which repeats the heading and the value)
        problems = getattr(exc, "problems", ())
        message = "; ".join(p.message for p in problems) if problems else str(exc)
        raise bad_input("store", "--store", message, url) from None


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
