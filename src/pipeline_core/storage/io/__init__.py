"""Import and export: CSV (spreadsheet-friendly) and JSON Lines, for every record type.

Start in a spreadsheet, migrate later with nothing lost (``domain.md`` §7).

**JSON Lines**: one record per line, exactly its ``to_dict()`` JSON.

**CSV** (UTF-8, header row, one record per row), flat columns named after the fields:

- plain fields: the field name (``id``, ``name``, ``created_at`` as ISO 8601 with offset, enums by
  value, booleans ``true``/``false``, amounts as decimal strings); an empty cell is "no value"
  (``None``) for optional fields and the empty string otherwise. The one case that needs a marker:
  an *empty string* in an optional text field is written as ``""`` (two double quotes);
- nested values get dotted columns: ``budget.amount``, ``budget.currency``,
  ``next_step.action``, ``next_step.due_at`` (all empty = no value);
- lists and sets (``tags``, ``pain_points``, ``checks``) are ``;``-joined (``vip;q1``), with ``\\;``
  for a literal semicolon and ``\\\\`` for a backslash; a list holding an empty string is written as a
  JSON array (``["", "x"]``);
- custom fields get one column each: ``custom.<name>``. An empty cell means the record does not
  have that field. Text is written as is; numbers, ``true``/``false`` and ``null`` are JSON, and
  text that would read back as something else (``"42"``, ``"true"``, the empty string) is written as
  a JSON string (``"\\"42\\""``);
- a journal entry's ``payload`` is one JSON cell.

Row numbers in errors are the spreadsheet's: the header is row 1, the first record row 2; for JSON
Lines they are line numbers.

An import validates every row. By default nothing is written if any row is bad: the import raises
:class:`ImportRejectedError` listing every bad row (row, field, value, message). With
``skip_invalid=True`` the good rows are written and the bad ones returned in the
:class:`ImportReport`. All rows are written in one transaction, so an import that is interrupted
(even by killing the process) leaves the store as it was.

The package: :mod:`~pipeline_core.storage.io._shared` (sources, row errors, reports),
:mod:`~pipeline_core.storage.io._cells` (the CSV cell layout), one module per file format
(:mod:`~pipeline_core.storage.io._csv`, :mod:`~pipeline_core.storage.io._jsonl`) and
:mod:`~pipeline_core.storage.io._store` (import into and export from a store). A new format is a
new module with a reader and a writer, exported here.
"""

from __future__ import annotations

from pipeline_core.storage.io._cells import (
    SPREADSHEET_TRIGGERS,
    csv_columns,
    neutralise_cell,
    restore_cell,
)
from pipeline_core.storage.io._csv import read_csv, write_csv
from pipeline_core.storage.io._jsonl import read_jsonl, write_jsonl
from pipeline_core.storage.io._labels import HEADER_LANGUAGES, LABELS_ZH, HeaderLabels
from pipeline_core.storage.io._shared import ImportRejectedError, ImportReport, RowError, kinds
from pipeline_core.storage.io._store import export_records, import_records
from pipeline_core.storage.io._xlsx import read_xlsx, write_xlsx

__all__ = [
    "HEADER_LANGUAGES",
    "LABELS_ZH",
    "SPREADSHEET_TRIGGERS",
    "HeaderLabels",
    "ImportRejectedError",
    "ImportReport",
    "RowError",
    "csv_columns",
    "export_records",
    "import_records",
    "kinds",
    "neutralise_cell",
    "read_csv",
    "read_jsonl",
    "read_xlsx",
    "restore_cell",
    "write_csv",
    "write_jsonl",
    "write_xlsx",
]
