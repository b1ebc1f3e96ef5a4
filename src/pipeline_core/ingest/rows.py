"""The row contract between reading+mapping a sheet and syncing it into a store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from pipeline_core.errors import Problem

__all__ = ["MappedRow"]


@attrs.frozen
class MappedRow:
    """One data row of a source file after mapping.

    ``row``: the row number a person sees in the file (the header is row 1, the first data row 2;
    for a data frame, the 0-based frame index + 2); ``data``: the record's fields as plain values
    under the library's field names (``None`` when the row was rejected while mapping);
    ``problems``: what is wrong with the row (each :class:`~pipeline_core.errors.Problem` names the
    source column in its path, the value and the reason); ``key``: the value of the mapping's
    external-id column, when it declares one (the sync matches stored records by it).
    """

    row: int
    data: Mapping[str, Any] | None
    problems: tuple[Problem, ...] = ()
    key: str | None = None

    @property
    def ok(self) -> bool:
        """True when the row mapped without problems."""
        return self.data is not None and not self.problems
