"""Real data in: spreadsheets and CRM exports read, mapped to records, and synced into a store.

- :mod:`pipeline_core.ingest.readers`: :func:`read_rows` over CSV (any common encoding, declared
  or detected, streamed), Excel workbooks and pandas/polars frames;
- :mod:`pipeline_core.ingest.parsers`: money, instants, dates, lists, booleans and aliases read
  from cells, refusing what could be read two ways;
- :mod:`pipeline_core.ingest.mapping`: :class:`SheetMapping`, a mapping as data
  (:func:`load_mapping` for TOML, JSON, YAML);
- :mod:`pipeline_core.ingest.cells`: ``read_cell``, one cell read as its column's field value;
- :mod:`pipeline_core.ingest.apply`: :func:`map_rows`, rows to :class:`MappedRow` s;
- :mod:`pipeline_core.ingest.starter`: :func:`starter_mapping` from a file's headers;
- :mod:`pipeline_core.ingest.rows`: :class:`MappedRow`, what the mapping hands to the sync.
- :mod:`pipeline_core.ingest.sync`: :func:`sync`, add new rows, save changed ones as their next
  version, skip unchanged ones, report every row;
- :mod:`pipeline_core.ingest.report`: :class:`SyncReport` (the counts), the per-row entries
  (:class:`RowOutcome`) streamed to a CSV or JSON Lines file, :class:`SyncRejectedError`.

A made-up 30-row GBK export with Chinese headers and its mapping ship as package data in
``pipeline_core/ingest/samples/`` (``leads_gbk.csv``, ``leads_gbk.toml``).
"""

from pipeline_core.ingest.apply import MappedRows, map_rows
from pipeline_core.ingest.mapping import Column, Owners, SheetMapping, load_mapping, loads_mapping
from pipeline_core.ingest.parsers import ParseError
from pipeline_core.ingest.readers import RowSource, SourceError, read_rows
from pipeline_core.ingest.report import (
    RowOutcome,
    SyncRejectedError,
    SyncReport,
    SyncReportWriter,
    report_writer,
)
from pipeline_core.ingest.rows import MappedRow
from pipeline_core.ingest.starter import starter_mapping
from pipeline_core.ingest.sync import EXTERNAL_ID_PREFIX, SYNC_KINDS, sync

__all__ = [
    "EXTERNAL_ID_PREFIX",
    "SYNC_KINDS",
    "Column",
    "MappedRow",
    "MappedRows",
    "Owners",
    "ParseError",
    "RowOutcome",
    "RowSource",
    "SheetMapping",
    "SourceError",
    "SyncRejectedError",
    "SyncReport",
    "SyncReportWriter",
    "load_mapping",
    "loads_mapping",
    "map_rows",
    "read_rows",
    "report_writer",
    "starter_mapping",
    "sync",
]
