"""Reading a workbook sheet (xlsx, xlsm, xlsb, xls, ods) through ``python-calamine`` as a
:class:`~pipeline_core.ingest.rowsource.RowSource`, with the scan for formulas saved without a
computed value (:func:`uncomputed_formulas`)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

from pipeline_core._optional import require
from pipeline_core.errors import Problem
from pipeline_core.ingest.rowsource import (
    ROW_CELL,
    CellError,
    RowSource,
    SourceError,
    check_headers,
    ragged_row,
    row_cells,
)

__all__ = ["WORKBOOK_SUFFIXES", "read_workbook", "uncomputed_formulas"]

WORKBOOK_SUFFIXES: Final = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})
"""File suffixes read as workbooks."""


def read_workbook(source: Path | IO[bytes], sheet: str | int | None, name: str) -> RowSource:
    """Sheet ``sheet`` (a name or 0-based index; default the first) of the workbook ``source``
    as rows (see :func:`pipeline_core.ingest.readers.read_rows`). Raises :class:`SourceError`
    (unreadable workbook, unknown sheet, empty sheet, bad headers)."""
    calamine: Any = require("python_calamine", "ingest", "reading Excel workbooks")
    if not isinstance(source, Path):
        source = io.BytesIO(source.read())  # read twice: cells, then formulas
    try:
        if isinstance(source, Path):
            book = calamine.CalamineWorkbook.from_path(str(source))
        else:
            book = calamine.CalamineWorkbook.from_filelike(source)
    except calamine.CalamineError as exc:
        raise SourceError(
            name, [Problem(("<file>",), f"not a readable workbook: {exc}", None, "workbook")]
        ) from None
    names: list[str] = list(book.sheet_names)
    if sheet is None:
        sheet = 0
    if (isinstance(sheet, int) and not 0 <= sheet < len(names)) or (
        isinstance(sheet, str) and sheet not in names
    ):
        book.close()
        raise SourceError(
            name,
            [Problem(("sheet",), f"no such sheet; the workbook has {names}", sheet, "sheet")],
        )
    index = sheet if isinstance(sheet, int) else names.index(sheet)
    data = book.get_sheet_by_index(index)
    if isinstance(source, io.BytesIO):
        source.seek(0)
    uncomputed = uncomputed_formulas(source, index)
    first_column = (data.start or (0, 0))[1] + 1  # iter_rows starts at the first used column
    rows = enumerate(data.iter_rows(), start=1)
    for number, cells in rows:  # noqa: B007 - the header's row number is used below
        if any(c != "" for c in cells):
            break
    else:
        book.close()
        raise SourceError(name, [Problem((1, "<row>"), "the sheet is empty", None, "empty")], row=1)
    head = check_headers(list(cells), number, name)

    def body() -> Iterator[tuple[int, dict[str, Any]]]:
        for row, values in rows:
            if not any(v != "" for v in values) and not any(
                (row, first_column + i) in uncomputed for i in range(len(values))
            ):
                continue
            cells = row_cells(head, values, _cell)
            for i, header in enumerate(head.names):
                formula = uncomputed.get((row, first_column + i))
                if formula is not None and header not in head.duplicates:
                    cells[header] = CellError(
                        "formula without a computed value (the workbook was saved by a "
                        "program that does not calculate): open and save it in Excel, or "
                        "export the values",
                        "formula_without_value",
                        formula,
                    )
            problem = ragged_row(head, values, short_ok=True)
            if problem is not None:
                cells[ROW_CELL] = problem
            yield row, cells

    return RowSource(
        headers=head.names,
        duplicates=head.duplicates,
        rows=body(),
        format="xlsx",
        name=name,
        close=book.close,
    )


_SHEET_NS: Final = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS: Final = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def uncomputed_formulas(source: Path | IO[bytes], index: int) -> dict[tuple[int, int], str]:
    """``{(row, column): "=formula"}`` (1-based) of the cells of sheet ``index`` of an
    xlsx/xlsm workbook that hold a formula and no cached value (no ``<v>``, or an empty one
    that is not a text result, as openpyxl writes); ``{}`` for other formats."""
    import xml.etree.ElementTree as ET

    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError):
        return {}
    with archive:
        try:
            book = ET.fromstring(archive.read("xl/workbook.xml"))
            rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        except (KeyError, ET.ParseError):
            return {}
        sheets = book.findall(f"{_SHEET_NS}sheets/{_SHEET_NS}sheet")
        if index >= len(sheets):
            return {}
        rid = sheets[index].get(f"{_REL_NS}id")
        target = next((r.get("Target", "") for r in rels if r.get("Id") == rid), "")
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        found: dict[tuple[int, int], str] = {}
        try:
            with archive.open(part) as xml:
                for _, element in ET.iterparse(xml):
                    if element.tag != f"{_SHEET_NS}c":
                        continue
                    formula = element.find(f"{_SHEET_NS}f")
                    value = element.find(f"{_SHEET_NS}v")
                    # no <v>, or an empty one that is not a text result (t="str")
                    empty = value is None or (not value.text and element.get("t") != "str")
                    if formula is not None and empty:
                        found[_cell_position(element.get("r", ""))] = f"={formula.text or ''}"
                    element.clear()
        except (KeyError, ET.ParseError, ValueError):
            return {}
        return found


def _cell_position(ref: str) -> tuple[int, int]:
    """``"C7"`` as ``(7, 3)``."""
    letters = ref.rstrip("0123456789")
    column = 0
    for letter in letters.upper():
        column = column * 26 + ord(letter) - ord("A") + 1
    return int(ref[len(letters) :]), column


def _cell(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a workbook stores every number as a float: 200000.0 was typed 200000
    return value
