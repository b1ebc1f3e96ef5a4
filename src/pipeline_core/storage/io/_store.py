"""Import into and export from a store: one record kind, CSV or JSON Lines, in one transaction.

Internal to :mod:`pipeline_core.storage.io`, which exports the public names.
"""

from __future__ import annotations

import functools
import io
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from pipeline_core._model import Record
from pipeline_core.errors import MAX_PROBLEMS, RecordTypeError
from pipeline_core.storage._base import batched, check_batch
from pipeline_core.storage.io._csv import read_csv, write_csv
from pipeline_core.storage.io._jsonl import read_jsonl, write_jsonl
from pipeline_core.storage.io._labels import HeaderLabels
from pipeline_core.storage.io._shared import (
    Format,
    ImportRejectedError,
    ImportReport,
    RowError,
    Source,
    table_for,
)
from pipeline_core.storage.io._xlsx import read_xlsx, write_xlsx
from pipeline_core.storage.ports import DEFAULT_BATCH, AppendLog, Progress, Repository, Store

__all__ = ["export_records", "import_records"]


def _format(source: Source | IO[bytes], format: Format | None) -> Format:
    if format is not None:
        return format
    name = str(source) if isinstance(source, str | Path) else getattr(source, "name", "")
    if str(name).endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if str(name).endswith(".csv"):
        return "csv"
    if str(name).endswith(".xlsx"):
        return "xlsx"
    raise ValueError(f"cannot tell the format of {name!r}: pass format='csv', 'jsonl' or 'xlsx'")


def import_records(
    store: Store,
    kind: str,
    source: Source | IO[bytes],
    *,
    format: Format | None = None,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH,
    spreadsheet_safe: bool = False,
    headers: HeaderLabels | None = None,
) -> ImportReport:
    """Import a CSV, JSON Lines or Excel (``.xlsx``, the first sheet) file of one record kind
    into ``store``, in one transaction.

    Every row is validated. Default: if any row is bad, nothing is written and
    :class:`ImportRejectedError` lists every bad row. ``skip_invalid=True``: the good rows are
    written, the bad ones returned in the report. A record id that is already stored raises
    :class:`~pipeline_core.errors.DuplicateError` (nothing written); for append-only logs an
    identical entry is skipped. ``progress`` is called with the number of rows read, after each
    batch of ``batch_size`` rows and at the end. ``spreadsheet_safe=True`` reads a CSV written by
    ``export_records(..., spreadsheet_safe=True)`` back exactly (:func:`restore_cell`).
    ``headers``: the label table of a file exported with ``headers=`` a mapping (the built-in
    languages, ``headers="zh"``, are recognised without it). A CSV's leading byte-order mark
    (``bom=True`` on export) is dropped.
    """
    check_batch(batch_size)
    table = table_for(kind)
    fmt = _format(source, format)
    reader: Callable[[str, Any], Iterator[tuple[int, Record | list[RowError]]]] = (
        functools.partial(read_csv, spreadsheet_safe=spreadsheet_safe, headers=headers)
        if fmt == "csv"
        else functools.partial(read_xlsx, spreadsheet_safe=spreadsheet_safe, headers=headers)
        if fmt == "xlsx"
        else read_jsonl
    )
    errors: list[RowError] = []  # the first MAX_PROBLEMS, counted in full below
    rows = error_count = bad_rows = 0

    def good() -> Iterator[Record]:
        nonlocal rows, error_count, bad_rows
        for _, item in reader(table.kind, source):
            rows += 1
            if isinstance(item, list):
                bad_rows += 1
                error_count += len(item)
                errors.extend(item[: MAX_PROBLEMS - len(errors)])
            else:
                yield item
            if progress is not None and rows % batch_size == 0:
                progress(rows)

    repo = store.collection(table.kind)
    written = 0
    with store.unit_of_work():
        for batch in batched(good(), batch_size):
            if errors and not skip_invalid:
                continue  # keep reading to report every bad row; nothing will be written
            written += _write_batch(repo, batch, batch_size)
        if errors and not skip_invalid:
            raise ImportRejectedError(table.kind, errors, total=error_count, bad_rows=bad_rows)
    if progress is not None and rows % batch_size != 0:
        progress(rows)
    return ImportReport(table.kind, rows, written, tuple(errors), error_count, bad_rows)


def _write_batch(
    repo: Repository[Any] | AppendLog[Any], batch: Sequence[Record], batch_size: int
) -> int:
    # A store's collection (of the port: a built-in store's, or a ScopedStore's).
    if isinstance(repo, Repository):
        return repo.bulk_add(batch, batch_size=batch_size)
    return repo.bulk_append(batch, batch_size=batch_size)


def export_records(
    store: Store,
    kind: str,
    dest: Source | IO[bytes],
    *,
    format: Format | None = None,
    progress: Progress | None = None,
    spreadsheet_safe: bool = False,
    bom: bool = False,
    headers: HeaderLabels = "fields",
) -> int:
    """Export every record of one kind from ``store`` to CSV, JSON Lines or an Excel workbook
    (``.xlsx``: :func:`write_xlsx`, typed cells, streamed); returns how many. The format follows
    the file's suffix, or ``format``. Streams: the CSV and xlsx exports read the store twice
    (once for the custom field names).
    ``spreadsheet_safe=True`` (CSV): no cell begins with ``= + - @``, tab or CR, so a spreadsheet
    never runs one as a formula; import with ``spreadsheet_safe=True`` gives the values back.
    ``bom=True`` (CSV): the file begins with a UTF-8 byte-order mark, so Excel reads it as UTF-8
    (without one, Excel on Chinese Windows reads it as GBK and shows Chinese garbled); lines end
    CRLF either way. ``headers="zh"`` (CSV): Chinese column labels
    (:data:`~pipeline_core.storage.io.LABELS_ZH`), or a mapping of column → label;
    :func:`import_records` reads them back."""
    table = table_for(kind)
    repo = store.collection(table.kind)
    fmt = _format(dest, format)

    def stream() -> Iterator[Record]:
        for n, r in enumerate(repo.all(), start=1):
            if progress is not None and n % DEFAULT_BATCH == 0:
                progress(n)
            yield r

    if fmt == "jsonl":
        return write_jsonl(table.kind, stream(), _text(dest))
    names: set[str] = set()
    if "custom" in table.cls.__pc_names__:
        for r in repo.all():
            names.update(r.custom)
    if fmt == "xlsx":
        return write_xlsx(
            table.kind,
            stream(),
            typing.cast("str | Path | IO[bytes]", dest),
            custom_fields=sorted(names),
            headers=headers,
            spreadsheet_safe=spreadsheet_safe,
        )
    return write_csv(
        table.kind,
        stream(),
        _text(dest),
        custom_fields=sorted(names),
        spreadsheet_safe=spreadsheet_safe,
        bom=bom,
        headers=headers,
    )


def _text(dest: Source | IO[bytes]) -> Source:
    # CSV and JSON Lines are text: an open file must be a text one (bytes are for xlsx)
    if isinstance(dest, str | Path) or not isinstance(dest, io.BufferedIOBase | io.RawIOBase):
        return typing.cast(Source, dest)
    raise RecordTypeError(
        f"CSV and JSON Lines are written to a path or a text file, not {type(dest).__name__}"
    )
