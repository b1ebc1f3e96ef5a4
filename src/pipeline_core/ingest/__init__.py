"""Real data in: spreadsheets and CRM exports read, mapped to records, and synced into a store.

- :mod:`pipeline_core.ingest.rows`: :class:`MappedRow`, what the mapping hands to the sync.
- :mod:`pipeline_core.ingest.sync`: :func:`sync`, add new rows, save changed ones as their next
  version, skip unchanged ones, report every row.
- :mod:`pipeline_core.ingest.report`: :class:`SyncReport` (the counts), the per-row entries
  (:class:`RowOutcome`) streamed to a CSV or JSON Lines file, :class:`SyncRejectedError`.
"""

from pipeline_core.ingest.report import (
    RowOutcome,
    SyncRejectedError,
    SyncReport,
    SyncReportWriter,
    report_writer,
)
from pipeline_core.ingest.rows import MappedRow
from pipeline_core.ingest.sync import EXTERNAL_ID_PREFIX, SYNC_KINDS, sync

__all__ = [
    "EXTERNAL_ID_PREFIX",
    "SYNC_KINDS",
    "MappedRow",
    "RowOutcome",
    "SyncRejectedError",
    "SyncReport",
    "SyncReportWriter",
    "report_writer",
    "sync",
]
