"""CSV files of one record kind: the reader (row by row, every problem named) and the writer.

Internal to :mod:`pipeline_core.storage.io`, which exports the public names; the cell layout is
in :mod:`pipeline_core.storage.io._cells`.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator

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
from pipeline_core.storage.io._shared import (
    BOM,
    ImportRejectedError,
    RowError,
    Source,
    not_utf8,
    open_read,
    open_write,
    table_for,
)

__all__ = ["read_csv", "write_csv"]


def read_csv(
    kind: str, source: Source, *, spreadsheet_safe: bool = False
) -> Iterator[tuple[int, Record | list[RowError]]]:
    """Parse a CSV file row by row: ``(row_number, record)`` or ``(row_number, [errors])``.

    A bad header (unknown columns) raises :class:`ImportRejectedError` at once. With
    ``spreadsheet_safe`` (a file written so), each cell's leading ``'`` is removed first
    (:func:`restore_cell`)."""
    cls = table_for(kind).cls
    fields = fields_of(cls)
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
        known = set(csv_columns(kind))
        bad = [
            RowError(1, col, col, "unknown column", "unknown_column")
            for col in header
            if col not in known and not col.startswith("custom.")
        ]
        seen: set[str] = set()
        for col in header:
            if col in seen:
                bad.append(RowError(1, col, col, "column appears twice", "duplicate_column"))
            seen.add(col)
        if bad:
            raise ImportRejectedError(kind, bad)
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
            if spreadsheet_safe:
                cells = [restore_cell(c) for c in cells]
            problems = _cell_problems(number, header, cells)
            if problems:
                yield number, problems
                continue
            if len(cells) > len(header):
                yield (
                    number,
                    [
                        RowError(
                            number,
                            "<row>",
                            cells[len(header) :],
                            f"{len(cells)} cells but the header has {len(header)} columns",
                            "too_many_cells",
                        )
                    ],
                )
                continue
            if len(cells) < len(header):
                yield (
                    number,
                    [
                        RowError(
                            number,
                            "<row>",
                            len(cells),
                            f"{len(cells)} cells but the header has {len(header)} columns "
                            "(a ragged row: every row has one cell per column)",
                            "too_few_cells",
                        )
                    ],
                )
                continue
            data = cells_to_data(cls, header, cells)
            try:
                yield number, cls.from_dict(data)
            except ValidationError as exc:
                yield (
                    number,
                    row_errors(number, exc, dict(zip(header, cells, strict=False)), fields),
                )
    finally:
        if close:
            f.close()


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
) -> int:
    """Write records as CSV; returns how many. Without ``custom_fields`` the records are read
    twice to find every custom field name (a list is made of a one-shot iterator).
    ``spreadsheet_safe``: no cell begins with ``= + - @``, tab or CR (:func:`neutralise_cell`);
    read such a file back with ``spreadsheet_safe=True`` to get the values exactly."""
    table = table_for(kind)
    if custom_fields is None:
        if iter(records) is records:  # a one-shot iterator: keep it for the second pass
            records = list(records)
        names: set[str] = set()
        for r in records:
            names.update(getattr(r, "custom", {}))
        custom_fields = sorted(names)
    custom = list(custom_fields)
    with open_write(dest) as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(csv_columns(table.kind, custom))
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
