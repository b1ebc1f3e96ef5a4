"""Excel workbooks (``.xlsx``) of one record kind: the writer (streamed) and the reader.

Internal to :mod:`pipeline_core.storage.io`, which exports the public names. The sheet has the
CSV layout (:mod:`pipeline_core.storage.io._cells`: the same columns and the same text), with
cells typed where Excel keeps the value exactly:

- integer fields (``version``, ``company_size`` ...) as numbers when they have at most 15 digits;
  float fields and custom numbers as numbers when 15 significant digits hold them exactly;
  money amounts (``budget.amount``) as numbers when a float holds the decimal exactly within 15
  significant digits (``1200.50`` is the number 1200.5, the same amount); anything else as text,
  so nothing is rounded (Excel keeps 15 significant digits);
- booleans as Excel booleans (``TRUE``/``FALSE``);
- instants as ISO 8601 text with their offset, exactly as in CSV (``2025-03-03T09:00:00Z``), not
  Excel dates: an Excel date has no time zone and keeps milliseconds at best, so the instant
  would not read back as the same one;
- all other text as string cells, never formulas: text beginning with ``=`` is a string.

Control characters and CR are written as Office Open XML escapes (``_x000D_``, see
:func:`xml_text`), which Excel and python-calamine decode, so every text reads back exactly.
Excel holds no more than 32,767 characters in a cell and 1,048,576 rows in a sheet: a longer
text or more records are refused with a :class:`~pipeline_core.errors.ValidationError` naming
the row and column (export as CSV or JSON Lines instead).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Final

from pipeline_core._model import Record
from pipeline_core._optional import require
from pipeline_core.errors import MAX_PROBLEMS, Problem, RecordTypeError, ValidationError
from pipeline_core.storage.io._cells import (
    csv_columns,
    csv_row,
    fields_of,
    neutralise_cell,
)
from pipeline_core.storage.io._csv import header_columns, row_record
from pipeline_core.storage.io._labels import HeaderLabels, header_labels, label_columns
from pipeline_core.storage.io._shared import (
    ImportRejectedError,
    RowError,
    custom_columns,
    replaced_when_complete,
    table_for,
)

__all__ = [
    "MAX_CELL_CHARS",
    "MAX_SHEET_ROWS",
    "number_text",
    "read_xlsx",
    "write_xlsx",
    "xml_text",
]

XlsxTarget = str | Path | IO[bytes]
"""A path (``str`` or :class:`~pathlib.Path`) or an open binary file."""

MAX_CELL_CHARS: Final = 32_767
"""The most characters an Excel cell holds."""
MAX_SHEET_ROWS: Final = 1_048_576
"""The most rows an Excel sheet holds (the header is one)."""
_DIGITS: Final = 15  # the significant digits Excel keeps
# Characters XML cannot carry (or turns into another: CR), and text that looks like an escape:
# both written as Office Open XML escapes (_x000D_, and _x005F_ before a literal "_xHHHH_").
_ESCAPE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\r]|_(?=x[0-9A-Fa-f]{4}_)")


def xml_text(text: str) -> str:
    """``text`` as an Excel string cell holds it: control characters and CR (and every
    character of a text that is white space only, which XML readers drop) as ``_xHHHH_`` escapes, the ``_`` of a literal ``_xHHHH_`` as ``_x005F_`` (how Excel itself writes them;
    readers such as python-calamine and Excel decode them back)."""
    if text and not text.strip():
        # white space only: written without xml:space="preserve", so a reader drops its XML
        # white space; those characters are escaped
        return "".join(f"_x{ord(c):04X}_" if c in " \t\n\r" else c for c in _escape(text))
    return _escape(text)


def _escape(text: str) -> str:
    return _ESCAPE.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


_INT: Final = re.compile(r"-?(0|[1-9][0-9]*)\Z", re.ASCII)


def _exact_float(x: float) -> bool:
    return x == x and abs(x) != float("inf") and float(f"{x:.{_DIGITS}g}") == x


def number_text(value: int | float) -> str:
    """The CSV text of a workbook's number cell: an integer without a decimal point
    (``200000.0`` is ``"200000"``, how a workbook stores every number), else the shortest text
    that reads back as the same float (``"1200.5"``)."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    return str(value)


def _as_number(kind: str, text: str) -> int | float | None:
    """``text`` (a cell of a column of ``kind``) as the number Excel keeps exactly, or ``None``
    to write it as text."""
    if kind == "int":
        if _INT.match(text) and abs(int(text)) < 10**_DIGITS:
            return int(text)
        return None
    try:
        if kind == "amount":
            d = Decimal(text)
            f = float(d)
            return f if _exact_float(f) and Decimal(repr(f)) == d else None
        f = float(text)
    except (ValueError, InvalidOperation):
        return None
    return f if _exact_float(f) else None


def _column_kinds(kind: str, custom: list[str]) -> list[str]:
    out: list[str] = []
    for f in fields_of(table_for(kind).cls):
        if f.shape == "record":
            out += ["amount" if s.name == "amount" else s.scalar for s in f.sub]
        elif f.shape == "custom":
            out += ["custom"] * len(custom)
        elif f.shape == "scalar":
            out.append(f.scalar)
        else:
            out.append("str")
    return out


def _typed(kind: str, text: str, custom: Any) -> Any:
    if text == "":
        return None
    if kind == "bool" and text in ("true", "false"):
        return text == "true"
    if kind in ("int", "float", "amount"):
        number = _as_number(kind, text)
        return text if number is None else number
    if kind == "custom" and isinstance(custom, int | float) and not isinstance(custom, bool):
        number = _as_number("int" if isinstance(custom, int) else "float", text)
        return text if number is None else number
    return text


@contextlib.contextmanager
def _binary_target(dest: XlsxTarget) -> Iterator[str | IO[bytes]]:
    # A path is written under a temporary name and renamed into place when complete.
    if not isinstance(dest, str | Path):
        yield dest
        return
    with replaced_when_complete(Path(dest)) as tmp:
        yield tmp


def write_xlsx(
    kind: str,
    records: Iterable[Record],
    dest: XlsxTarget,
    *,
    custom_fields: Iterable[str] | None = None,
    headers: HeaderLabels = "fields",
    sheet: str | None = None,
    spreadsheet_safe: bool = False,
) -> int:
    """Write records as an Excel workbook of one sheet (named ``sheet``, default the kind);
    returns how many. Streamed through openpyxl's write-only mode (rows go to disk as they come:
    memory stays flat however many records). The layout and the typing of cells are in the
    module docs; ``headers`` as for :func:`write_csv`; ``custom_fields`` as for :func:`write_csv`
    (without it a one-shot iterator is read into a list). Text cells are string cells, never
    formulas, so ``spreadsheet_safe`` is not needed for Excel; given, it marks text cells as
    :func:`write_csv` does (for a file other programs will turn into CSV), and
    :func:`read_xlsx` with ``spreadsheet_safe=True`` removes the marks.

    Raises :class:`~pipeline_core.errors.ValidationError` listing every cell Excel cannot hold
    (row, column, value) and :class:`~pipeline_core.errors.MissingExtraError` without openpyxl
    (``pip install 'pipeline-core[ingest]'``); a path gets no file unless the export
    completes."""
    openpyxl: Any = require("openpyxl", "ingest", "writing Excel workbooks")
    cell_module: Any = require("openpyxl.cell", "ingest", "writing Excel workbooks")
    table = table_for(kind)
    labels = header_labels(headers)
    records, custom = custom_columns(records, custom_fields)
    columns = csv_columns(table.kind, custom)
    header = label_columns(columns, labels)
    column_kinds = _column_kinds(table.kind, custom)
    book = openpyxl.Workbook(write_only=True)
    ws = book.create_sheet(title=sheet or table.kind)
    problems: list[Problem] = []
    total = 0

    def text_cell(row: int, column: str, text: str) -> Any:
        nonlocal total
        if len(text) > MAX_CELL_CHARS:
            total += 1
            if len(problems) < MAX_PROBLEMS:
                why = f"{len(text):,} characters: an Excel cell holds {MAX_CELL_CHARS:,}"
                problems.append(Problem((row, column), why, text[:200], "xlsx_cell"))
            return None
        cell = cell_module.WriteOnlyCell(ws, value=xml_text(text))
        cell.data_type = "s"  # text, never a formula
        return cell

    try:
        ws.append([text_cell(1, c, h) for c, h in zip(columns, header, strict=True)])
        n = 0
        for r in records:
            if not isinstance(r, table.cls):
                raise RecordTypeError(
                    f"expected {table.cls.__name__} records, got {type(r).__name__}"
                )
            n += 1
            row = n + 1
            if row > MAX_SHEET_ROWS:
                raise ValidationError(
                    "xlsx export",
                    [
                        Problem(
                            (row,),
                            f"an Excel sheet holds {MAX_SHEET_ROWS:,} rows (the header is one): "
                            "export as CSV or JSON Lines",
                            n,
                            "xlsx_rows",
                        )
                    ],
                )
            customs = getattr(r, "custom", {})
            values: list[Any] = []
            for i, (column, text) in enumerate(zip(columns, csv_row(r, custom), strict=True)):
                kind_ = column_kinds[i]
                value = _typed(kind_, text, customs.get(column[7:]) if kind_ == "custom" else None)
                if isinstance(value, str):
                    value = text_cell(
                        row, column, neutralise_cell(value) if spreadsheet_safe else value
                    )
                values.append(value)
            ws.append(values)
        if problems:
            raise ValidationError("xlsx export", problems, total=total)
    except BaseException:
        # finish the sheet's temporary file into a throwaway buffer, which removes it
        with contextlib.suppress(Exception):
            book.save(io.BytesIO())
        raise
    with _binary_target(dest) as target:
        book.save(target)
    return n


def _cell_text(value: Any) -> str | None:
    """A workbook cell as the CSV text it stands for, or ``None`` for a date or time (which has
    no time zone, so it cannot be read as an instant)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, datetime | date | time | timedelta):
        return None
    return "" if value is None else str(value)


def read_xlsx(
    kind: str,
    source: str | Path | IO[bytes],
    *,
    sheet: str | int = 0,
    headers: HeaderLabels | None = None,
    spreadsheet_safe: bool = False,
) -> Iterator[tuple[int, Record | list[RowError]]]:
    """Parse one sheet of a workbook (``.xlsx``, ``.xls``, ``.ods``: whatever python-calamine
    reads) in the layout :func:`write_xlsx` writes: ``(row_number, record)`` or
    ``(row_number, [errors])``, row numbers as Excel shows them.

    Number cells are read as their text (:func:`number_text`), booleans as ``true``/``false``. A
    cell Excel holds as a date or time is a row error (``excel_datetime``): it has no time zone;
    write instants as ISO 8601 text with an offset. Header labels as for :func:`read_csv`. An
    unreadable workbook or a missing sheet raises :class:`ImportRejectedError`.
    ``spreadsheet_safe``: the workbook was written so (one leading ``'`` removed from text)."""
    calamine: Any = require("python_calamine", "ingest", "reading Excel workbooks")
    cls = table_for(kind).cls
    try:
        if isinstance(source, str | Path):
            book = calamine.CalamineWorkbook.from_path(str(source))
        else:
            book = calamine.CalamineWorkbook.from_filelike(source)
    except calamine.CalamineError as exc:
        raise ImportRejectedError(
            kind, [RowError(0, "<file>", None, f"not a readable workbook: {exc}", "workbook")]
        ) from None
    try:
        names: list[str] = list(book.sheet_names)
        if (isinstance(sheet, int) and not 0 <= sheet < len(names)) or (
            isinstance(sheet, str) and sheet not in names
        ):
            raise ImportRejectedError(
                kind,
                [RowError(0, "sheet", sheet, f"no such sheet; the workbook has {names}", "sheet")],
            )
        data = (
            book.get_sheet_by_index(sheet)
            if isinstance(sheet, int)
            else book.get_sheet_by_name(sheet)
        )
        first = (data.start or (0, 0))[0] + 1
        rows = enumerate(data.iter_rows(), start=first)
        header: list[str] | None = None
        columns: list[str] = []
        for number, cells in rows:
            texts = [_cell_text(v) for v in cells]
            if header is None:
                if not any(texts):
                    continue
                while texts and texts[-1] == "":
                    texts.pop()
                header = [
                    t if t is not None else str(v) for t, v in zip(texts, cells, strict=False)
                ]
                columns = header_columns(kind, header, headers)
                continue
            if not any(t != "" for t in texts):
                continue
            dated = [
                RowError(
                    number,
                    header[i] if i < len(header) else "<row>",
                    cells[i],
                    "an Excel date or time has no time zone: write the instant as ISO 8601 text "
                    "with its offset (2025-03-03T09:00:00+08:00)",
                    "excel_datetime",
                )
                for i, t in enumerate(texts)
                if t is None
            ]
            if dated:
                yield number, dated
                continue
            while len(texts) > len(columns) and texts[-1] == "":
                texts.pop()  # a sheet's used range can be wider than the header
            yield number, row_record(cls, number, columns, header, _strs(texts), spreadsheet_safe)
    finally:
        book.close()


def _strs(texts: list[str | None]) -> list[str]:
    return [t or "" for t in texts]
