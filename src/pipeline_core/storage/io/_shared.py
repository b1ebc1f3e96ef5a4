"""What the readers and writers share: sources and formats, row errors, import reports, kinds.

Internal to :mod:`pipeline_core.storage.io`, which exports the public names.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import attrs

from pipeline_core._model import Record
from pipeline_core.errors import MAX_PROBLEMS, ConfigError, Problem, ValidationError, short_repr
from pipeline_core.storage._base import TABLES, TABLES_BY_KIND, Table

__all__ = [
    "BOM",
    "Format",
    "ImportRejectedError",
    "ImportReport",
    "RowError",
    "Source",
    "custom_columns",
    "kinds",
    "not_utf8",
    "open_read",
    "open_write",
    "replaced_when_complete",
    "table_for",
]

Format = Literal["csv", "jsonl", "xlsx"]
"""The file formats of import and export."""
Source = str | Path | IO[str]
"""A path (``str`` or :class:`~pathlib.Path`) or an open text file."""

BOM = "\ufeff"
"""The byte-order mark: dropped as a file's first character, refused anywhere else."""


@attrs.frozen
class RowError:
    """One bad row: its number (spreadsheet row or JSONL line), the column, the cell value and
    what is wrong."""

    row: int
    field: str
    value: Any
    message: str
    code: str = "invalid"

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.message} (got {short_repr(self.value)})"


@attrs.frozen
class ImportReport:
    """What an import did: rows read, records written (new ones, for append-only logs), and
    the bad rows that were skipped (``skip_invalid=True``): ``errors`` keeps the first 1,000
    problems, ``error_count`` counts them all and ``bad_rows`` counts the rows skipped."""

    kind: str
    rows: int
    written: int
    errors: tuple[RowError, ...] = ()
    error_count: int = attrs.field(default=attrs.Factory(lambda s: len(s.errors), takes_self=True))
    bad_rows: int = attrs.field(
        default=attrs.Factory(lambda s: len({e.row for e in s.errors}), takes_self=True)
    )


class ImportRejectedError(ValidationError):
    """An import found bad rows and wrote nothing.

    ``errors`` lists the first 1,000 problems (row, column, value, message); ``total`` counts
    every problem and ``bad_rows`` every bad row, so the error stays small (a file of 200,000 bad
    rows gives a message of about 150 kB, not hundreds of megabytes)."""

    def __init__(
        self,
        kind: str,
        errors: Iterable[RowError],
        *,
        total: int | None = None,
        bad_rows: int | None = None,
    ) -> None:
        self.errors: tuple[RowError, ...] = tuple(itertools.islice(errors, MAX_PROBLEMS))
        self.bad_rows: int = bad_rows if bad_rows is not None else len({e.row for e in self.errors})
        super().__init__(
            f"{kind} import (nothing was written)",
            [
                Problem((e.row, e.field), e.message, e.value, e.code)
                if e.row
                else Problem((e.field,), e.message, e.value, e.code)
                for e in self.errors
            ],
            total=total,
        )


def kinds() -> list[str]:
    """The record kinds that can be imported and exported."""
    return [t.kind for t in TABLES]


def table_for(kind: str) -> Table:
    """The table of a record kind (``"lead"``) or table name (``"leads"``), or
    :class:`~pipeline_core.errors.ConfigError` naming the kinds there are."""
    table = TABLES_BY_KIND.get(kind)
    if table is None:
        for t in TABLES:
            if t.name == kind:
                return t
        raise ConfigError(
            "import/export",
            [
                Problem(
                    ("kind",), f"unknown record kind; expected one of {', '.join(kinds())}", kind
                )
            ],
        )
    return table


def not_utf8(number: int, exc: UnicodeDecodeError) -> RowError:
    """The error for a file that stops being UTF-8 text at row or line ``number``."""
    return RowError(
        number,
        "<row>",
        exc.object[exc.start : exc.start + 8],
        f"the file is not UTF-8 text ({exc.reason}); nothing after this point was read",
        "encoding",
    )


def open_read(source: Source) -> tuple[IO[str], bool]:
    """``source`` opened for reading (UTF-8, a leading byte-order mark dropped) and whether the
    caller must close it (``True`` for a path it opened)."""
    if isinstance(source, str | Path):
        return open(source, encoding="utf-8-sig", newline=""), True
    return source, False


@contextlib.contextmanager
def replaced_when_complete(path: Path) -> Iterator[str]:
    """A temporary file name next to ``path``, renamed to ``path`` when the block completes and
    removed when it fails, so a failed or interrupted export never leaves a partial file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def open_write(dest: Source) -> Iterator[IO[str]]:
    """``dest`` opened for writing: a path is written to a temporary file renamed into place when
    complete (:func:`replaced_when_complete`); an open file is used as is."""
    if not isinstance(dest, str | Path):
        yield dest
        return
    with (
        replaced_when_complete(Path(dest)) as tmp,
        open(tmp, "w", encoding="utf-8", newline="") as f,
    ):
        yield f


def custom_columns(
    records: Iterable[Record], custom_fields: Iterable[str] | None
) -> tuple[Iterable[Record], list[str]]:
    """``(records, custom field names)`` for an export: ``custom_fields`` as given, else every
    custom field the records carry, sorted (a one-shot iterator is then read into a list, which
    is returned for the second pass)."""
    if custom_fields is None:
        if iter(records) is records:  # a one-shot iterator: keep it for the second pass
            records = list(records)
        names: set[str] = set()
        for r in records:
            names.update(getattr(r, "custom", {}))
        custom_fields = sorted(names)
    return records, list(custom_fields)
