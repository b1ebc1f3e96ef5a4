"""Real data in: spreadsheets and CRM exports read, mapped to records, and synced into a store.

- :mod:`pipeline_core.ingest.rows`: :class:`MappedRow`, what the mapping hands to the sync.
"""

from pipeline_core.ingest.rows import MappedRow

__all__ = ["MappedRow"]
