"""The mapper's fast constructor of a problem-free row builds what the attrs constructor does."""

from __future__ import annotations

import attrs

from pipeline_core.ingest.apply import _mapped_row
from pipeline_core.ingest.rows import MappedRow


def test_fast_built_row_equals_the_constructed_one_field_by_field() -> None:
    data = {"id": "XS-1", "company": "北京某某科技有限公司"}
    fast = _mapped_row(7, data, "XS-1", frozenset({"source"}))
    slow = MappedRow(7, data, (), "XS-1", frozenset({"source"}))
    assert type(fast) is MappedRow
    assert fast == slow
    for field in attrs.fields(MappedRow):
        assert getattr(fast, field.name) == getattr(slow, field.name)
    assert fast.ok and fast.problems == ()
    try:
        fast.row = 8  # type: ignore[misc]
    except attrs.exceptions.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a fast-built row must stay frozen")
