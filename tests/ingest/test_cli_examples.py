"""The example mappings of the three public datasets load (the datasets themselves are not used)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_core.ingest import load_mapping

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "mappings"
EXPECTED = {
    "maven_crm_sales_pipeline.toml": ("opportunity", "opportunity_id"),
    "maven_crm_sales_teams.toml": ("user", None),
    "olist_marketing_qualified_leads.toml": ("lead", "mql_id"),
    "olist_closed_deals.toml": ("opportunity", "mql_id"),
    "x_education_leads.toml": ("lead", "Prospect ID"),
}


def test_every_example_mapping_is_listed() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.toml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_example_mapping_loads(name: str) -> None:
    mapping = load_mapping(EXAMPLES / name)
    assert (mapping.record, mapping.external_id) == EXPECTED[name]
