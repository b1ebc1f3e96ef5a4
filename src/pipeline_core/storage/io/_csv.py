"""CSV files of one record kind: the reader (row by row, every problem named) and the writer.

Internal to :mod:`pipeline_core.storage.io`, which exports the public names; the cell layout is
in :mod:`pipeline_core.storage.io._cells`.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator

import attrs

from pipeline_core._jsonvalue import MAX_DEPTH, text_too_deep
from pipeline_core._model import Record
from pipeline_core.errors import RecordTypeError, ValidationError
from pipeline_core.storage.io._cells import (
    cells_to_data,
    csv_columns,
    csv_row,
    fields_of,
    neutralise_cell,
    restore_cell,
    row_errors,
)
from pipeline_core.storage.io._labels import (
    CUSTOM_PREFIX,
    HEADER_LANGUAGES,
    HeaderLabels,
    header_labels,
    label_columns,
    resolve_header,
)
from pipeline_core.storage.io._shared import (
    BOM,
    ImportRejectedError,
    RowError,
    Source,
    custom_columns,
    not_utf8,
    open_read,
    open_write,
    table_for,
)

__all__ = ["header_columns", "read_csv", "row_record", "write_csv"]


def read_csv(
    kind: str,
    source: Source,
    *,
    spreadsheet_safe: bool = False,
    headers: HeaderLabels | None = None,
) -> Iterator[tuple[int, Record | list[RowError]]]:
    """Parse a CSV file row by row: ``(row_number, record)`` or ``(row_number, [errors])``.

    A bad header (unknown or repeated columns) raises :class:`ImportRejectedError` at once. A
    header cell is a column name, or a column's label in ``headers`` or in a built-in language
    (``创建时间`` is ``created_at``, see :data:`LABELS_ZH`); row errors name the column as the
    file writes it. A leading byte-order mark (an Excel-friendly file) is dropped. With
    ``spreadsheet_safe`` (a file written so), each cell's leading ``'`` is removed first
    (:func:`restore_cell`)."""
    cls = table_for(kind).cls
    f, close = open_read(source)
    try:
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        reader = csv.reader(f, strict=True)
        try:
            header = next(reader, None)
        except UnicodeDecodeError as exc:
            raise ImportRejectedError(kind, [not_utf8(1, exc)]) from None
        except csv.Error as exc:
            raise ImportRejectedError(
                kind, [RowError(1, "<row>", None, f"not valid CSV: {exc}", "csv_structure")]
            ) from None
        if header is None:
            return
        if header and header[0].startswith(BOM):
            header[0] = header[0][1:]  # the file's byte-order mark (only there) is dropped
        columns = header_columns(kind, header, headers)
        number = 1
        while True:
            number += 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError as exc:
                yield number, [not_utf8(number, exc)]
                break
            except csv.Error as exc:
                yield number, [_structure_error(number, exc)]
                continue
            if not any(cells):
                continue
            yield number, row_record(cls, number, columns, header, cells, spreadsheet_safe)
    finally:
        if close:
            f.close()


def header_columns(kind: str, header: list[str], headers: HeaderLabels | None) -> list[str]:
    """The columns a file's ``header`` row names (labels resolved, see :func:`read_csv`), or
    :class:`ImportRejectedError` listing every unknown and repeated column (row 1)."""
    known = set(csv_columns(kind))
    tables = [header_labels(headers), *HEADER_LANGUAGES.values()]
    columns = [
        col if col in known or col.startswith(CUSTOM_PREFIX) else resolve_header(col, tables)
        for col in header
    ]
    bad = [
        RowError(1, written, written, "unknown column", "unknown_column")
        for written, col in zip(header, columns, strict=True)
        if col not in known and not col.startswith(CUSTOM_PREFIX)
    ]
    seen: dict[str, str] = {}
    for written, col in zip(header, columns, strict=True):
        if col in seen:
            again = "column appears twice" + (
                f" (as {seen[col]!r} and {written!r})" if seen[col] != written else ""
            )
            bad.append(RowError(1, written, written, again, "duplicate_column"))
        seen[col] = written
    if bad:
        raise ImportRejectedError(kind, bad)
    return columns


def row_record(
    cls: type[Record],
    number: int,
    columns: list[str],
    header: list[str],
    cells: list[str],
    spreadsheet_safe: bool = False,
) -> Record | list[RowError]:
    """One data row's text ``cells`` (under ``columns``, written in the file as ``header``) as
    its record, or the row's errors (each naming the column as the file writes it)."""
    if spreadsheet_safe:
        cells = [restore_cell(c) for c in cells]
    problems = _cell_problems(number, columns, cells)
    if not problems and len(cells) > len(columns):
        problems = [
            RowError(
                number,
                "<row>",
                cells[len(columns) :],
                f"{len(cells)} cells but the header has {len(columns)} columns",
                "too_many_cells",
            )
        ]
    if not problems and len(cells) < len(columns):
        problems = [
            RowError(
                number,
                "<row>",
                len(cells),
                f"{len(cells)} cells but the header has {len(columns)} columns "
                "(a ragged row: every row has one cell per column)",
                "too_few_cells",
            )
        ]
    if not problems:
        data = cells_to_data(cls, columns, cells)
        try:
            return cls.from_dict(data)
        except ValidationError as exc:
            problems = row_errors(
                number, exc, dict(zip(columns, cells, strict=False)), fields_of(cls)
            )
    if header == columns:
        return problems
    written = dict(zip(columns, header, strict=True))
    return [attrs.evolve(e, field=written.get(e.field, e.field)) for e in problems]


def _structure_error(number: int, exc: csv.Error) -> RowError:
    text = str(exc)
    if "unexpected end of data" in text:
        message = (
            "a quoted cell that starts in this row is never closed (the quote swallows the rest "
            "of the file)"
        )
    else:
        message = f"not valid CSV: {text}"
    return RowError(number, "<row>", None, message, "csv_structure")


def _cell_problems(number: int, header: list[str], cells: list[str]) -> list[RowError]:
    out = []
    for column, cell in zip(header, cells, strict=False):
        if BOM in cell:
            out.append(
                RowError(
                    number,
                    column,
                    cell,
                    "a byte-order mark (U+FEFF) inside a cell: it is invisible and would become "
                    "part of the value (only the file's first character may be one)",
                    "bom",
                )
            )
        elif (column == "payload" or column.startswith("custom.")) and text_too_deep(cell)[0]:
            out.append(
                RowError(
                    number,
                    column,
                    "<nested value>",
                    f"nested deeper than {MAX_DEPTH} levels",
                    "too_deep",
                )
            )
    return out


def write_csv(
    kind: str,
    records: Iterable[Record],
    dest: Source,
    *,
    custom_fields: Iterable[str] | None = None,
    spreadsheet_safe: bool = False,
    bom: bool = False,
    headers: HeaderLabels = "fields",
) -> int:
    """Write records as CSV (UTF-8, CRLF line ends); returns how many. Without
    ``custom_fields`` the records are read twice to find every custom field name (a list is made
    of a one-shot iterator).

    ``spreadsheet_safe``: no cell begins with ``= + - @``, tab or CR (:func:`neutralise_cell`);
    read such a file back with ``spreadsheet_safe=True`` to get the values exactly. ``bom``: the
    file begins with a UTF-8 byte-order mark, which is how Excel (on Windows, in any locale) tells
    that a CSV is UTF-8; without it Excel reads the file in the system code page (GBK on Chinese
    Windows) and shows Chinese text garbled. :func:`read_csv` drops the mark. ``headers``: the
    header row's labels (:data:`HeaderLabels`: ``"zh"`` writes Chinese labels, which
    :func:`read_csv` reads back); an unknown language or a label table that could be read two
    ways raises :class:`~pipeline_core.errors.ConfigError` before anything is written."""
    table = table_for(kind)
    labels = header_labels(headers)
    records, custom = custom_columns(records, custom_fields)
    with open_write(dest) as f:
        if bom:
            f.write(BOM)
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(label_columns(csv_columns(table.kind, custom), labels))
        n = 0
        for r in records:
            if not isinstance(r, table.cls):
                raise RecordTypeError(
                    f"expected {table.cls.__name__} records, got {type(r).__name__}"
                )
            row = csv_row(r, custom)
            if spreadsheet_safe:
                row = [neutralise_cell(c) if isinstance(c, str) else c for c in row]
            writer.writerow(row)
            n += 1
        return n
