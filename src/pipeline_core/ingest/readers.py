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
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal, Self

from pipeline_core._optional import require
from pipeline_core.errors import Problem, RecordTypeError, ValidationError

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

Cell = str | int | float | bool | date | datetime | time | timedelta | None | Any
"""One cell as a reader gives it: text from CSV; text, numbers, booleans, dates from a workbook;
whatever a data frame holds."""

SourceFormat = Literal["csv", "xlsx", "frame"]
"""What a :class:`RowSource` reads."""

DETECT_BYTES: Final = 64 * 1024
"""How much of a CSV file the encoding is detected from (64 KiB)."""

_CHUNK: Final = 64 * 1024
_WORKBOOK_SUFFIXES: Final = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
CANDIDATE_ENCODINGS: Final = ("gb18030", "big5", "shift_jis", "euc_kr", "cp1252", "latin_1")
"""The encodings detection chooses from when a file is neither UTF-8 nor marked by a byte-order
mark: the common ones of CRM exports. Any other encoding is read when declared."""


@dataclass(frozen=True, slots=True)
class CellError:
    """A cell the reader could not read, given in place of its value: ``reason`` (a sentence),
    ``code`` (``"formula_without_value"``, ``"duplicate_header"``, ``"ragged_row"``) and ``raw``
    (what the file holds: the formula, the row's cells). :func:`~pipeline_core.ingest.map_rows`
    turns it into a problem of its row naming the column when the mapping reads that column;
    under :data:`ROW_CELL` it is a problem of the whole row."""

    reason: str
    code: str
    raw: Any = None


ROW_CELL: Final = ""
"""The key of a row's cells under which a :class:`CellError` about the whole row is given (a
ragged row). No header can be ``""``: blank headers are refused."""

_SUPERSETS: Final = {"gbk": "gb18030", "gb2312": "gb18030", "ascii": "utf-8"}


class SourceError(ValidationError):
    """A source file cannot be read as rows: an encoding that does not decode it (``row`` names
    the row of the first bad byte), blank or duplicate headers, broken CSV, an unknown sheet.
    ``problems`` name the row and column (``(row, column)`` paths); ``row`` is the first bad row
    (``None`` when the whole file is at fault)."""

    def __init__(self, what: str, problems: list[Problem], *, row: int | None = None) -> None:
        self.row = row
        super().__init__(what, problems)


def detect_encoding(sample: bytes) -> tuple[str, bool]:
    """The encoding of a file that begins with ``sample``: ``(codec name, detected)``.

    A byte-order mark decides (``utf-8-sig``, ``utf-16``, ``utf-32``); else text that is strict
    UTF-8 is ``utf-8`` (an incomplete character at the very end of the sample is allowed); else
    the one encoding among :data:`CANDIDATE_ENCODINGS` that ``charset-normalizer`` finds
    plausible, with GBK and GB2312 reported as ``gb18030`` (their superset) and cp1252 preferred
    to latin-1. ``detected`` is always ``True``.

    Nothing is guessed: when several candidates read the sample plausibly as *different* text
    (a short GBK file with ASCII headers reads as cp1252, EUC-KR and Big5 too), a
    :class:`SourceError` (code ``encoding_ambiguous``) names them and asks for the encoding to be
    declared. Raises :class:`SourceError` (code ``encoding``) when nothing decodes the sample."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name, True
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, final=False)
        return "utf-8", True
    except UnicodeDecodeError:
        pass
    normalizer: Any = require("charset_normalizer", "ingest", "detecting a CSV file's encoding")
    matches = list(normalizer.from_bytes(sample, cp_isolation=list(CANDIDATE_ENCODINGS)))
    if not matches:
        raise SourceError(
            "a CSV file",
            [
                Problem(
                    ("<file>",),
                    "no known text encoding decodes it: declare the encoding",
                    sample[:16],
                    "encoding",
                )
            ],
        )
    readings: dict[str, str] = {}  # codec -> the text it reads; first = charset-normalizer's best
    for match in matches:
        name = codecs.lookup(match.encoding).name
        readings.setdefault(_SUPERSETS.get(name, name), str(match))
    if "cp1252" in readings:
        # latin-1 reads 0x80-0x9F as control characters no export writes: cp1252 is meant
        readings.pop("iso8859-1", None)
    best = next(iter(readings))
    rivals = [name for name, text in readings.items() if text != readings[best]]
    if rivals:
        raise SourceError(
            "a CSV file",
            [
                Problem(
                    ("encoding",),
                    "the encoding cannot be told for sure: "
                    f"{', '.join([best, *rivals])} each read the file as different text; "
                    'declare the encoding (e.g. encoding = "gb18030")',
                    sample[:16],
                    "encoding_ambiguous",
                )
            ],
        )
    return best, True


class RowSource:
    """Rows of a CSV file, a workbook sheet or a data frame: iterate for ``(row_number, cells)``.

    ``headers``: the column names in order; ``encoding``: the codec a CSV file is decoded with
    (declared or detected, e.g. ``"gb18030"``; ``None`` for workbooks, frames and text streams);
    ``detected``: whether ``encoding`` was detected rather than declared; ``format``: ``"csv"``,
    ``"xlsx"`` or ``"frame"``; ``name``: the file name or ``"<frame>"``; ``duplicates``: each
    header that appears more than once, with its 1-based column numbers (its cells are
    :class:`CellError`; a mapping that reads it is refused). A context manager that closes the
    file; iterate it once."""

    def __init__(
        self,
        *,
        headers: tuple[str, ...],
        rows: Iterator[tuple[int, dict[str, Any]]],
        format: SourceFormat,
        name: str,
        encoding: str | None = None,
        detected: bool = False,
        close: Callable[[], None] | None = None,
        duplicates: dict[str, tuple[int, ...]] | None = None,
    ) -> None:
        self.headers = headers
        self.duplicates: dict[str, tuple[int, ...]] = dict(duplicates or {})
        self.format: SourceFormat = format
        self.name = name
        self.encoding = encoding
        self.detected = detected
        self._rows = rows
        self._close = close

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return self._rows

    def close(self) -> None:
        """Close the underlying file (idempotent)."""
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"RowSource({self.name!r}, format={self.format!r}, encoding={self.encoding!r}, "
            f"{len(self.headers)} columns)"
        )


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
        kind = format or ("xlsx" if path.suffix.lower() in _WORKBOOK_SUFFIXES else "csv")
        if kind == "xlsx":
            return _workbook(path, sheet, str(path))
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
            return _workbook(stream, sheet, name)
        return _csv(stream, encoding, delimiter or ",", name, None)
    return _frame(source)


# --------------------------------------------------------------------------- headers


class _Headers(typing.NamedTuple):
    names: tuple[str, ...]
    duplicates: dict[str, tuple[int, ...]]  # header -> its 1-based column numbers


def _check_headers(headers: list[Any], row: int, what: str) -> _Headers:
    """The header row without its trailing blank cells; a blank header before the last one or a
    header that is not text is a :class:`SourceError`; duplicates are listed, not refused."""
    headers = list(headers)
    while headers and (
        headers[-1] is None or (isinstance(headers[-1], str) and not headers[-1].strip())
    ):
        headers.pop()
    problems: list[Problem] = []
    columns: dict[str, list[int]] = {}
    for i, header in enumerate(headers, start=1):
        if not isinstance(header, str):
            problems.append(
                Problem((row, f"column {i}"), "a header is text", header, "header_type")
            )
        elif not header.strip():
            problems.append(Problem((row, f"column {i}"), "blank header", header, "blank_header"))
        else:
            columns.setdefault(header, []).append(i)
    if problems:
        raise SourceError(what, problems, row=row)
    duplicates = {h: tuple(cols) for h, cols in columns.items() if len(cols) > 1}
    return _Headers(tuple(headers), duplicates)


def _cells(
    head: _Headers, values: typing.Sequence[Any], convert: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    """A row's cells by header; a duplicated header's cell is a :class:`CellError`."""
    cells: dict[str, Any] = {}
    for header, value in zip(head.names, values, strict=False):
        cells[header] = value if convert is None else convert(value)
    for header, columns in head.duplicates.items():
        cells[header] = CellError(
            f"the header appears in {len(columns)} columns ({', '.join(map(str, columns))}): "
            "rename one in the file",
            "duplicate_header",
            tuple(values[c - 1] for c in columns if c <= len(values)),
        )
    return cells


def _ragged(head: _Headers, values: typing.Sequence[Any], short_ok: bool) -> CellError | None:
    """A :class:`CellError` when a row has text right of the last header, or (unless
    ``short_ok``) fewer cells than the header; trailing empty cells are ignored."""
    n = len(values)
    while n > len(head.names) and values[n - 1] in ("", None):
        n -= 1
    if n == len(head.names) or (n < len(head.names) and short_ok):
        return None
    if n > len(head.names):
        reason = (
            f"{n} cells but the header has {len(head.names)} columns: text right of the last header"
        )
    else:
        reason = f"{n} cells but the header has {len(head.names)} columns"
    return CellError(reason, "ragged_row", tuple(values[:n]))


# --------------------------------------------------------------------------- CSV


class _Undecodable(Exception):
    def __init__(self, offset: int, bad: bytes, reason: str) -> None:
        self.offset, self.bad, self.reason = offset, bad, reason


def _decoded_lines(f: IO[bytes], encoding: str, head: bytes) -> Iterator[str]:
    """Lines of ``f`` (after ``head``, its first bytes, already read) decoded incrementally.
    Every line decoded before a bad byte is yielded; then :class:`_Undecodable` is raised."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    pending = ""
    offset = 0
    chunk = head
    while True:
        final = not chunk
        try:
            text = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            # Hand over the complete lines before the bad byte first; ``exc.object`` is the
            # decoder's carried-over bytes followed by this chunk.
            data = bytes(exc.object)
            carried = len(data) - len(chunk)
            pending += data[: exc.start].decode(encoding, "replace")
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line + "\n"
            raise _Undecodable(
                offset - carried + exc.start, data[exc.start : exc.start + 8], exc.reason
            ) from None
        offset += len(chunk)
        pending += text
        if "\n" in pending:
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line + "\n"
        if final:
            if pending:
                yield pending
            return
        chunk = f.read(_CHUNK)


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
    lines = _decoded_lines(f, encoding, head)
    rows = _csv_rows(lines, delimiter, name, encoding)
    header = typing.cast(_Headers, next(rows))
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


def _csv_text(f: IO[str], delimiter: str, name: str) -> RowSource:
    rows = _csv_rows(iter(f), delimiter, name, None)
    head = typing.cast(_Headers, next(rows))
    return RowSource(
        headers=head.names,
        duplicates=head.duplicates,
        rows=rows,  # type: ignore[arg-type]
        format="csv",
        name=name,
    )


def _csv_rows(
    lines: Iterator[str], delimiter: str, name: str, encoding: str | None
) -> Iterator[_Headers | tuple[int, dict[str, Any]]]:
    """First the header (a :class:`_Headers`), then ``(row, cells)`` for every data row; a
    ragged row has a :class:`CellError` under :data:`ROW_CELL`."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    number = 1

    def undecodable(exc: _Undecodable) -> SourceError:
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
    except _Undecodable as exc:
        raise undecodable(exc) from None
    except csv.Error as exc:
        raise broken(exc) from None
    if header is None:
        raise SourceError(name, [Problem((1, "<row>"), "the file is empty", None, "empty")], row=1)
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    head = _check_headers(header, 1, name)
    yield head
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except _Undecodable as exc:
            raise undecodable(exc) from None
        except csv.Error as exc:
            raise broken(exc) from None
        if not any(cells):
            continue
        row = _cells(head, cells)
        problem = _ragged(head, cells, short_ok=False)
        if problem is not None:
            row[ROW_CELL] = problem
        yield number, row


# --------------------------------------------------------------------------- workbooks


def _workbook(source: Path | IO[bytes], sheet: str | int | None, name: str) -> RowSource:
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
    uncomputed = _uncomputed_formulas(source, index)
    first_column = (data.start or (0, 0))[1] + 1  # iter_rows starts at the first used column
    rows = enumerate(data.iter_rows(), start=1)
    for number, cells in rows:  # noqa: B007 - the header's row number is used below
        if any(c != "" for c in cells):
            break
    else:
        book.close()
        raise SourceError(name, [Problem((1, "<row>"), "the sheet is empty", None, "empty")], row=1)
    head = _check_headers(list(cells), number, name)

    def body() -> Iterator[tuple[int, dict[str, Any]]]:
        for row, values in rows:
            if not any(v != "" for v in values) and not any(
                (row, first_column + i) in uncomputed for i in range(len(values))
            ):
                continue
            cells = _cells(head, values, _cell)
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
            problem = _ragged(head, values, short_ok=True)
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


def _uncomputed_formulas(source: Path | IO[bytes], index: int) -> dict[tuple[int, int], str]:
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


# --------------------------------------------------------------------------- frames


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
    head = _check_headers(list(df.columns), 1, "a data frame")

    def body() -> Iterator[tuple[int, dict[str, Any]]]:
        for i, row in enumerate(df.iter_rows(named=True)):
            yield i + 2, {k: _scalar(v) for k, v in row.items()}

    return RowSource(headers=head.names, rows=body(), format="frame", name="<frame>")
