"""Records read a non-text "no value" (NaN, NaT, NA) in an optional field as ``None``; text is
kept as written."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ValidationError
from pipeline_core.records import Activity, Lead, Opportunity

MISSING = [float("nan"), np.float64("nan"), Decimal("NaN"), pd.NA, pd.NaT]
BASE = {"id": "lead-1", "created_at": "2025-05-06T09:00:00+08:00", "source": "website"}


@given(
    st.sampled_from(sorted(Lead.__pc_optional__)),
    st.sampled_from(MISSING),
)
def test_a_missing_optional_field_is_none(field: str, blank: Any) -> None:
    lead = Lead.from_dict({**BASE, field: blank})
    assert getattr(lead, field) is None
    assert lead == Lead.from_dict({**BASE, field: None})


def test_a_pandas_row_with_blank_cells_becomes_a_record() -> None:
    frame = pd.DataFrame(
        {
            "id": ["lead-1", "lead-2"],
            "created_at": ["2025-05-06T09:00:00+08:00"] * 2,
            "source": ["website", "event"],
            "industry": ["energy", None],  # None in an object column stays None
            "company_size": [120.0, float("nan")],  # a float column: NaN for the blank cell
            "phone": [float("nan"), "13800138000"],  # an object column with a blank cell
        }
    )
    rows = frame.to_dict("records")
    leads = [
        Lead.from_dict({k: (int(v) if k == "company_size" and v == v else v) for k, v in r.items()})
        for r in rows
    ]
    assert [x.industry for x in leads] == ["energy", None]
    assert [x.company_size for x in leads] == [120, None]
    assert [x.phone for x in leads] == [None, "13800138000"]


def test_text_is_kept_as_written() -> None:
    # a blank text is a value the field keeps or refuses, never silently dropped here
    assert Lead.from_dict({**BASE, "company": " "}).company == " "


def test_the_constructor_reads_missing_the_same_way() -> None:
    at = datetime(2025, 5, 6, tzinfo=UTC)
    opp = Opportunity(
        id="o",
        name="A",
        created_at=at,
        owner_id="u",
        stage="s",
        stage_entered_at=at,
        lost_reason=float("nan"),  # type: ignore[arg-type]
    )
    assert opp.lost_reason is None


def test_a_required_field_is_still_refused() -> None:
    with pytest.raises(ValidationError) as err:
        Lead.from_dict({**BASE, "source": float("nan")})
    assert err.value.fields == ("source",)
    with pytest.raises(ValidationError):
        Activity.from_dict({"id": "a", "kind": "call", "at": pd.NaT, "owner_id": "u"})
