"""What every reader gives: :class:`RowSource` (rows of cells by header), :class:`CellError`
and :data:`ROW_CELL` for cells it could not read, :class:`SourceError`, and the header and row
checks the CSV, workbook and frame readers share (:func:`check_headers`, :func:`row_cells`,
:func:`ragged_row`)."""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import TracebackType
from typing import Any, Final, Literal, Self

from pipeline_core.errors import Problem, ValidationError

__all__ = [
    "ROW_CELL",
    "Cell",
    "CellError",
    "Headers",
    "RowSource",
    "SourceError",
    "SourceFormat",
    "check_headers",
    "ragged_row",
    "row_cells",
]

Cell = str | int | float | bool | date | datetime | time | timedelta | None | Any
"""One cell as a reader gives it: text from CSV; text, numbers, booleans, dates from a workbook;
whatever a data frame holds."""

SourceFormat = Literal["csv", "xlsx", "frame"]
"""What a :class:`RowSource` reads."""


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


class SourceError(ValidationError):
    """A source file cannot be read as rows: an encoding that does not decode it (``row`` names
    the row of the first bad byte), blank or duplicate headers, broken CSV, an unknown sheet.
    ``problems`` name the row and column (``(row, column)`` paths); ``row`` is the first bad row
    (``None`` when the whole file is at fault)."""

    def __init__(self, what: str, problems: list[Problem], *, row: int | None = None) -> None:
        self.row = row
        super().__init__(what, problems)


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


class Headers(typing.NamedTuple):
    """A checked header row: the column ``names`` and each duplicated header's 1-based columns."""

    names: tuple[str, ...]
    duplicates: dict[str, tuple[int, ...]]  # header -> its 1-based column numbers


def check_headers(headers: list[Any], row: int, what: str) -> Headers:
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
    return Headers(tuple(headers), duplicates)


def row_cells(
    head: Headers, values: typing.Sequence[Any], convert: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    """A row's cells by header; a duplicated header's cell is a :class:`CellError`."""
    if convert is None:
        cells: dict[str, Any] = dict(zip(head.names, values, strict=False))
    else:
        cells = {h: convert(v) for h, v in zip(head.names, values, strict=False)}
    for header, columns in head.duplicates.items():
        cells[header] = CellError(
            f"the header appears in {len(columns)} columns ({', '.join(map(str, columns))}): "
            "rename one in the file",
            "duplicate_header",
            tuple(values[c - 1] for c in columns if c <= len(values)),
        )
    return cells


def ragged_row(head: Headers, values: typing.Sequence[Any], short_ok: bool) -> CellError | None:
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
