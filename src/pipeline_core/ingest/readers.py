"""Readers: CSV in any common encoding, Excel workbooks and data frames, as rows of cells.

:func:`read_rows` opens a source and returns a :class:`RowSource`: a context-managed iterable of
``(row_number, {header: cell})``, with ``headers``, ``encoding`` and ``format``. Row numbers are
the ones a person sees: the header is row 1 (in a workbook, the sheet's own row number of the
header), the first data row 2; for a data frame, the 0-based position + 2. Rows whose cells are
all empty are skipped (their numbers too).

- **CSV** is streamed: the encoding is the declared one, or detected from the first 64 KiB (a
  byte-order mark; else strict UTF-8; else ``charset-normalizer``, GBK/GB2312 reported as their
  superset ``gb18030``) and reported in ``encoding`` (``detected`` says which of the two). The
  rest of the file is decoded as it is read: a byte the encoding cannot decode further on raises
  :class:`SourceError` naming the row, never a raw ``UnicodeDecodeError``. Cells are text.
- **xlsx** (also xlsm, xlsb, xls, ods) through ``python-calamine``: dates come as ``datetime`` /
  ``date``, numbers as ``int`` (integral values) or ``float``, empty cells as ``""``. The sheet is
  ``sheet`` (a name or a 0-based index; default: the first).
- **frames**: a pandas or polars data frame (anything narwhals reads eagerly); cells as the frame
  holds them (``None``/``NaN``/``NaT`` for missing values), numpy scalars as Python values.

File shape: trailing blank header cells and trailing empty cells are ignored; a blank header
before the last one is a :class:`SourceError` listing every one, before any row is read. A header
that appears twice is listed in ``RowSource.duplicates`` and its cells are :class:`CellError`
(``map_rows`` refuses a mapping that reads it, and ignores it otherwise). A ragged row (fewer
cells than the header in a CSV file, or text right of the last header) has a :class:`CellError`
under :data:`ROW_CELL`: a problem of that row, not of the file.

Formulas (xlsx/xlsm): a formula cell is read as the value the workbook saved with it (what Excel
shows); one saved without a computed value (written by openpyxl and never opened in Excel) is a
:class:`CellError` ``formula_without_value`` holding the formula, never a blank.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

from pipeline_core._optional import require
from pipeline_core.errors import Problem, RecordTypeError
from pipeline_core.ingest.encoding import (
    CANDIDATE_ENCODINGS,
    DETECT_BYTES,
    Undecodable,
    decoded_lines,
    detect_encoding,
)
from pipeline_core.ingest.rowsource import (
    ROW_CELL,
    Cell,
    CellError,
    Headers,
    RowSource,
    SourceError,
    SourceFormat,
    check_headers,
    ragged_row,
    row_cells,
)
from pipeline_core.ingest.workbook import WORKBOOK_SUFFIXES, read_workbook

__all__ = [
    "CANDIDATE_ENCODINGS",
    "DETECT_BYTES",
    "ROW_CELL",
    "Cell",
    "CellError",
    "RowSource",
    "SourceError",
    "SourceFormat",
    "detect_encoding",
    "read_rows",
]


def read_rows(
    source: str | os.PathLike[str] | IO[bytes] | IO[str] | Any,
    *,
    encoding: str | None = None,
    sheet: str | int | None = None,
    delimiter: str | None = None,
    format: Literal["csv", "xlsx"] | None = None,
) -> RowSource:
    """Open ``source`` for reading rows (see the module docs for the formats).

    ``source``: a path (``.csv``/``.tsv``/``.txt`` read as CSV, ``.xlsx``/``.xlsm``/``.xlsb``/
    ``.xls``/``.ods`` as a workbook), a binary or text stream (CSV unless ``format="xlsx"``), or a
    pandas/polars data frame. ``encoding``: the CSV file's codec (default: detected);
    ``sheet``: a workbook sheet's name or 0-based index (default: the first); ``delimiter``: the
    CSV separator (default: a tab for ``.tsv``, else a comma; never sniffed).

    A workbook's formula cell is its saved (cached) value; a formula with none is a
    :class:`CellError` (see the module docs), as are the cells of a duplicated header; a ragged
    row carries a :class:`CellError` under :data:`ROW_CELL`.

    Raises :class:`SourceError` (blank headers, an encoding that cannot be told for sure or
    does not decode, unknown sheet,
    broken CSV), :class:`~pipeline_core.errors.RecordTypeError` (a source of no known kind),
    :class:`~pipeline_core._optional.MissingExtraError` (``python-calamine``,
    ``charset-normalizer`` or ``narwhals`` not installed). Rows are read lazily; errors in rows
    (a bad byte, a broken quote) are raised while iterating, naming the row."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        kind = format or ("xlsx" if path.suffix.lower() in WORKBOOK_SUFFIXES else "csv")
        if kind == "xlsx":
            return read_workbook(path, sheet, str(path))
        sep = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
        f = open(path, "rb")  # noqa: SIM115 - closed by the RowSource
        try:
            return _csv(f, encoding, sep, path.name, f.close)
        except BaseException:
            f.close()
            raise
    if isinstance(source, io.TextIOBase):
        text = typing.cast(IO[str], source)
        return _csv_text(text, delimiter or ",", str(getattr(source, "name", "<stream>")))
    if hasattr(source, "read"):
        stream = typing.cast(IO[bytes], source)
        name = str(getattr(source, "name", "<stream>"))
        if format == "xlsx":
            return read_workbook(stream, sheet, name)
        return _csv(stream, encoding, delimiter or ",", name, None)
    return _frame(source)


# --------------------------------------------------------------------------- CSV


def _csv(
    f: IO[bytes], encoding: str | None, delimiter: str, name: str, close: Callable[[], None] | None
) -> RowSource:
    head = f.read(DETECT_BYTES)
    if isinstance(head, str):
        raise RecordTypeError("a text stream given as a binary one")
    detected = encoding is None
    if encoding is None:
        encoding, _ = detect_encoding(head)
    else:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise SourceError(
                name, [Problem(("encoding",), "unknown encoding", encoding, "encoding")]
            ) from None
    if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"  # a declared UTF-8 file with a byte-order mark: drop the mark
    return _csv_source(decoded_lines(f, encoding, head), delimiter, name, encoding, detected, close)


def _csv_text(f: IO[str], delimiter: str, name: str) -> RowSource:
    return _csv_source(iter(f), delimiter, name, None, False, None)


def _csv_source(
    lines: Iterator[str],
    delimiter: str,
    name: str,
    encoding: str | None,
    detected: bool,
    close: Callable[[], None] | None,
) -> RowSource:
    """A :class:`RowSource` over decoded CSV ``lines`` (the header read now, rows lazily)."""
    rows = _csv_rows(lines, delimiter, name, encoding)
    header = typing.cast(Headers, next(rows))
    return RowSource(
        headers=header.names,
        duplicates=header.duplicates,
        rows=rows,  # type: ignore[arg-type]
        format="csv",
        name=name,
        encoding=encoding,
        detected=detected,
        close=close,
    )


def _csv_rows(
    lines: Iterator[str], delimiter: str, name: str, encoding: str | None
) -> Iterator[Headers | tuple[int, dict[str, Any]]]:
    """First the header (a :class:`Headers`), then ``(row, cells)`` for every data row; a
    ragged row has a :class:`CellError` under :data:`ROW_CELL`."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    number = 1

    def undecodable(exc: Undecodable) -> SourceError:
        return SourceError(
            name,
            [
                Problem(
                    (number, "<row>"),
                    f"byte {exc.offset} cannot be decoded as {encoding} ({exc.reason}); "
                    "declare the file's encoding",
                    exc.bad,
                    "encoding",
                )
            ],
            row=number,
        )

    def broken(exc: csv.Error) -> SourceError:
        return SourceError(
            name,
            [Problem((number, "<row>"), f"not valid CSV: {exc}", None, "csv_structure")],
            row=number,
        )

    try:
        header = next(reader, None)
    except Undecodable as exc:
        raise undecodable(exc) from None
    except csv.Error as exc:
        raise broken(exc) from None
    if header is None:
        raise SourceError(name, [Problem((1, "<row>"), "the file is empty", None, "empty")], row=1)
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    head = check_headers(header, 1, name)
    width = len(head.names)
    yield head
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except Undecodable as exc:
            raise undecodable(exc) from None
        except csv.Error as exc:
            raise broken(exc) from None
        if not any(cells):
            continue
        row = row_cells(head, cells)
        if len(cells) != width:  # the common case, a full row, needs no further look
            problem = ragged_row(head, cells, short_ok=False)
            if problem is not None:
                row[ROW_CELL] = problem
        yield number, row


def _scalar(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (``numpy.int64(3)`` is ``3``)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def _frame(frame: Any) -> RowSource:
    nw: Any = require("narwhals", "frames", "reading data frames")
    try:
        df = nw.from_native(frame, eager_only=True)
    except TypeError:
        raise RecordTypeError(
            f"read_rows takes a path, a stream or a data frame, not {type(frame).__name__}"
        ) from None
    head = check_headers(list(df.columns), 1, "a data frame")

    def body() -> Iterator[tuple[int, dict[str, Any]]]:
        for i, row in enumerate(df.iter_rows(named=True)):
            yield i + 2, {k: _scalar(v) for k, v in row.items()}

    return RowSource(headers=head.names, rows=body(), format="frame", name="<frame>")
