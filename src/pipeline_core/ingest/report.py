"""What a sync did, row by row: the counts in memory, the per-row entries streamed to a file.

A sync of a million rows must not hold a million entries: :class:`SyncReport` keeps the four
counts (added, updated, unchanged, rejected) and the first :data:`~pipeline_core.errors.MAX_PROBLEMS`
rejections; every entry (:class:`RowOutcome`) goes to a :class:`SyncReportWriter` as it is made.
:func:`report_writer` opens one for a ``.csv`` or ``.jsonl`` path. A file is written under a
temporary name next to it and renamed into place only when the sync succeeds, so a failed sync
leaves no new file behind.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import IO, Any, Final, Literal, Protocol, runtime_checkable

import attrs

from pipeline_core.errors import ConfigError, Problem
from pipeline_core.storage.io import ImportRejectedError, RowError, neutralise_cell

__all__ = [
    "REPORT_COLUMNS",
    "CsvReportWriter",
    "JsonlReportWriter",
    "RowOutcome",
    "SyncOutcome",
    "SyncRejectedError",
    "SyncReport",
    "SyncReportWriter",
    "report_writer",
]

SyncOutcome = Literal["added", "updated", "unchanged", "rejected"]
"""What a sync did with one row."""

REPORT_COLUMNS: Final = ("row", "outcome", "id", "field", "value", "reason")
"""The columns of a report file, in order."""

WRITE_BUFFER: Final = 1 << 20
"""Bytes a report file buffers between writes to the disk (1 MiB)."""


@attrs.frozen
class RowOutcome:
    """One entry of a sync report.

    ``row``: the row number a person sees in the source file (header = 1); ``outcome``: see
    :data:`SyncOutcome`; ``id``: the stored record's id (``None`` when a rejected row matched none);
    ``field`` / ``value`` / ``reason``: for a rejected row the field, the offending value and why
    (a row with several problems gives one entry per problem); for an updated row the changed
    fields (``;``-joined) and what happened (``"version 3"``, ``"moved new -> quote"``); for an
    added opportunity the placement.
    """

    row: int
    outcome: SyncOutcome
    id: str | None = None
    field: str | None = None
    value: Any = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible plain data (instants ISO 8601, amounts as decimal text)."""
        return {
            "row": self.row,
            "outcome": self.outcome,
            "id": self.id,
            "field": self.field,
            "value": plain_value(self.value),
            "reason": self.reason,
        }


def plain_value(value: Any) -> Any:
    """``value`` as JSON data: text, numbers, booleans and ``None`` as they are, instants and
    dates in ISO 8601, ``Decimal`` as decimal text, enums by value, anything else as ``str``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return plain_value(value.value)
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


@runtime_checkable
class SyncReportWriter(Protocol):
    """Where the per-row entries of a sync go, as they are made.

    ``write`` is called once per entry, in row order; ``finish`` once when the sync succeeded;
    ``discard`` once when it failed (rejected rows without ``skip_invalid``, or any error), and
    must leave nothing behind."""

    def write(self, entry: RowOutcome) -> None:
        """Record one entry."""
        ...

    def finish(self) -> None:
        """The sync succeeded: make the report final."""
        ...

    def discard(self) -> None:
        """The sync failed: drop everything written so far."""
        ...


class _FileWriter:
    """A report file written under a temporary name beside ``path``, renamed in by ``finish``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        fd, self._tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        self._f: IO[str] = os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=WRITE_BUFFER)
        self._start()

    def _start(self) -> None:
        pass

    def finish(self) -> None:
        """Close the file and rename it into place."""
        self._f.close()
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        """Close and delete the temporary file."""
        self._f.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)


class CsvReportWriter(_FileWriter):
    """A UTF-8 CSV report at ``path`` with the header :data:`REPORT_COLUMNS`. Text cells that a
    spreadsheet would run as a formula get a leading ``'`` (``storage.io.neutralise_cell``): the
    values come from the imported file."""

    def _start(self) -> None:
        self._csv = csv.writer(self._f, lineterminator="\r\n")
        self._csv.writerow(REPORT_COLUMNS)

    def write(self, entry: RowOutcome) -> None:
        """Write one row of the report (the cells of :meth:`RowOutcome.to_dict`, in order)."""
        self._csv.writerow(
            (
                _csv_cell(entry.row),
                _csv_cell(entry.outcome),
                _csv_cell(entry.id),
                _csv_cell(entry.field),
                _csv_cell(plain_value(entry.value)),
                _csv_cell(entry.reason),
            )
        )


def _csv_cell(value: Any) -> str:
    """One plain value as a report cell: blank for ``None``, text made spreadsheet-safe, anything
    else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise_cell(value)
    return json.dumps(value)


class JsonlReportWriter(_FileWriter):
    """A JSON Lines report at ``path``: one :meth:`RowOutcome.to_dict` object per line."""

    def write(self, entry: RowOutcome) -> None:
        """Write one line of the report."""
        self._f.write(json.dumps(entry.to_dict(), ensure_ascii=False))
        self._f.write("\n")


def report_writer(path: str | Path) -> SyncReportWriter:
    """A report writer for ``path``: :class:`CsvReportWriter` for ``.csv``,
    :class:`JsonlReportWriter` for ``.jsonl``/``.ndjson``; :class:`ConfigError` otherwise. The
    file appears only when the sync succeeds."""
    name = str(path).lower()
    if name.endswith(".csv"):
        return CsvReportWriter(path)
    if name.endswith((".jsonl", ".ndjson")):
        return JsonlReportWriter(path)
    raise ConfigError(
        "sync report",
        [Problem(("report",), "a report file ends in .csv or .jsonl", str(path), "report_format")],
    )


@attrs.frozen
class SyncReport:
    """What a sync did: ``rows`` read and how many were ``added``, ``updated``, ``unchanged`` and
    ``rejected`` (the four add up to ``rows``); ``moved`` of the updated opportunities changed
    stage through ``Pipeline.move``; ``events`` stage events were appended (moves and the placements
    of new opportunities). ``errors``: the first 1,000 problems of the rejected rows
    (``error_count`` counts them all). ``written``: whether the changes were stored (``False`` for
    a dry run)."""

    kind: str
    rows: int
    added: int
    updated: int
    unchanged: int
    rejected: int
    moved: int = 0
    events: int = 0
    dry_run: bool = False
    written: bool = True
    errors: tuple[RowError, ...] = ()
    error_count: int = attrs.field(default=attrs.Factory(lambda s: len(s.errors), takes_self=True))


class SyncRejectedError(ImportRejectedError):
    """A sync found rejected rows and stored nothing (the default, all-or-nothing).

    An :class:`~pipeline_core.storage.io.ImportRejectedError` (so a ``ValidationError``) listing
    the first 1,000 problems (row, field, value, reason), with ``report``, the full
    :class:`SyncReport` (counts of what would have been done; ``written`` is ``False``)."""

    def __init__(self, report: SyncReport) -> None:
        super().__init__(
            report.kind, report.errors, total=report.error_count, bad_rows=report.rejected
        )
        self.report = report
