"""Review of the shared facts in the team layer (issue 14): inputs a newcomer tries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline_core.errors import CurrencyMismatchError
from pipeline_core.metrics.segments import customer_facts
from pipeline_core.records import Money, Opportunity

T = datetime(2025, 5, 6, 10, tzinfo=UTC)


def _deal(id: str, stage: str, amount: Money, **kw: object) -> Opportunity:
    return Opportunity(id=id, name=id, created_at=T, owner_id="rep", stage=stage,
                       stage_entered_at=T, expected_amount=amount, **kw)  # fmt: skip


def test_customer_facts_without_stages_or_rates_names_every_problem() -> None:
    # A won deal priced in EUR that names no pipeline, summed in CNY without rates: two things
    # are unknown (its status and its value in CNY). The error is the currency error (the
    # caller summed in CNY), and it also names the stages problem: both are listed at once.
    eur = _deal("o-eur", "won", Money.of("2000", "EUR"), closed_at=T + timedelta(days=1))
    with pytest.raises(CurrencyMismatchError) as err:
        customer_facts(as_of=T + timedelta(days=2), opportunities=[eur], currency="CNY")
    assert set(err.value.currencies) == {"CNY", "EUR"}
    fields = {p.path[0] for p in err.value.problems}
    assert fields == {"opportunities", "stages"}


def test_branches_written_in_english_are_related_not_the_same_customer() -> None:
    from pipeline_core.identity import company_similarity, parse_company

    group = "Guangzhou Acme Electric Equipment Co., Ltd."
    shanghai, beijing = f"{group} Shanghai Branch", f"{group} Beijing Branch"
    # like 大庆油田分公司 / 长庆油田分公司: two branches of one group are two customers, and a
    # branch is not its group (the names differ only in the city: a plain ratio is above 90)
    assert company_similarity(shanghai, beijing) == 0
    assert company_similarity(shanghai, group) == 0
    assert (
        company_similarity(shanghai, "Guangzhou ACME Electric Equipment Co Ltd - Shanghai Branch")
        == 100
    )
    name = parse_company("Acme Trading Co., Ltd. (Shanghai Representative Office)")
    assert name is not None and name.branch == "shanghai representative office"
    # a name that merely ends in such a word, with no legal form before it, is left whole
    assert parse_company("Home Office Supplies Branch") == parse_company(
        "home office supplies branch"
    )
    assert parse_company("Home Office Supplies Branch").branch is None  # type: ignore[union-attr]
