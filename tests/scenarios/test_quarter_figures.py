"""The East team's quarter (``quarter.py``): grades, customer facts, segments and funnel figures,
worked out by hand from ``domain.md`` and the documented rules (docs/scoring.md, docs/metrics.md,
docs/team.md, docs/concepts.md "Shared facts" and "Money"), on every store.

The stages are the ``small_team`` template's: open first_contact (rank 0), needs_confirmed (1),
proposal_quote (2), contract_negotiation (3); won (after every open stage); lost (rank -1).
The rates (``quarter.RATES_DATA``): 1 USD = 7.20 CNY from 1 Nov 2024, 7.10 from 1 Jan 2025,
7.25 from 8 Mar 2025; an instant converts at its UTC date.

After the quarter has been replayed, :func:`_merge_duplicate` adds D7, a duplicate of D6 (the
same customer, Hu Charging, entered again by Bo on Thu 20 Mar 10:00, 180,000 CNY) and merges it
into D6 (the earlier, so the survivor) at 15:00 the same day. D7 is never in a replay, so the
SLA expectations of ``test_quarter.py`` do not see it; every figure below must leave it out.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl
import pytest
import quarter  # tests/scenarios/quarter.py (see conftest.py)
from quarter import sh

from pipeline_core import facts
from pipeline_core import metrics as m
from pipeline_core.assignment.service import apply_merge
from pipeline_core.errors import CurrencyMismatchError
from pipeline_core.identity import plan_merge
from pipeline_core.ids import SequentialIds
from pipeline_core.metrics.segments import SegmentPolicy, customer_facts
from pipeline_core.money import ExchangeRates
from pipeline_core.records import Lead, Money
from pipeline_core.scoring import BANT
from pipeline_core.storage.frames import opportunities_frame, stage_events_frame

RATES = ExchangeRates.from_dict(quarter.RATES_DATA)
Q1 = {"start": sh(1, 1), "end": sh(4, 1)}
AT = sh(3, 31, 23, 59)  # the quarter's last minute (15:59 UTC, 31 Mar: rate 7.25)
PIPE = quarter.PIPELINE


def _merge_duplicate(store: Any) -> None:
    d6 = store.opportunities.get("D6")
    d7 = quarter._deal("D7", "bo", sh(3, 20, 10), account_id="acc-hu")
    store.opportunities.add(d7)
    plan = plan_merge([d6, store.opportunities.get("D7")], at=sh(3, 20, 15), by="max",
                      ids=SequentialIds(), reason="same customer")  # fmt: skip
    assert plan.survivor.id == "D6" and [r.id for r in plan.merged] == ["D7"]
    apply_merge(store, plan)


@pytest.fixture
def played(store: Any) -> Any:
    """The quarter replayed into ``store``, then the duplicate D7 merged into D6."""
    quarter.replay(store)
    _merge_duplicate(store)
    return store


# --------------------------------------------------------------------------- BANT grades

# BANT.default() (docs/scoring.md): budget (CNY) >= 500,000 -> 25, 100,000 <= b < 500,000 -> 20,
# 30,000 <= b < 100,000 -> 12, < 30,000 -> 5; authority decision_maker 25, influencer 15, user 8,
# none 0; need strong 15, medium 9, weak 3; intent high 10, medium 6, low 2; timeline
# within_1_month 25, 1_3_months 18, 3_6_months 10, over_6_months 4, no_plan 0; missing -> 0.
# Grades: A 80 <= s <= 100, B 50 <= s < 80, C s < 50.
EXPECTED_BANT: dict[str, tuple[Decimal, str]] = {
    # L1: 80,000 -> 12; influencer 15; strong 15; medium 6; 1_3_months 18 = 66 -> B
    "L1": (Decimal(66), "B"),
    # L2: budget unknown 0; user 8; medium 9; low 2; over_6_months 4 = 23 -> C
    "L2": (Decimal(23), "C"),
    # L3: 30,000.00 is the band's inclusive low end -> 12; influencer 15; medium 9; medium 6;
    # 3_6_months 10 = 52 -> B
    "L3": (Decimal(52), "B"),
    # L4: 29,999.99 < 30,000 -> 5; none 0; weak 3; intent unknown 0; no_plan 0 = 8 -> C
    "L4": (Decimal(8), "C"),
    # L5 after 4 Mar: 500,000 is the top band's inclusive low end -> 25; influencer 15; strong 15;
    # medium 6; within_1_month 25 = 86 -> A (the grade the team gave it on 4 Mar)
    "L5": (Decimal(86), "A"),
    # L6 at the quarter's end: 14,000 USD x 7.25 = 101,500.00 CNY -> 20; decision_maker 25;
    # strong 15; high 10; 1_3_months 18 = 88 -> A
    "L6": (Decimal(88), "A"),
}


def _in_cny(lead: Lead, at: Any) -> Lead:
    """The lead with its budget converted to CNY at the evaluation instant (docs: a budget
    converts at the evaluation instant)."""
    if lead.budget is None or lead.budget.currency == "CNY":
        return lead
    return lead.evolve(budget=RATES.convert(lead.budget, "CNY", on=at))


def test_each_lead_has_its_hand_worked_bant_score_and_grade(played: Any) -> None:
    model = BANT.default()
    got = {}
    for lead in played.leads.all():
        score = model.score(_in_cny(lead, AT))
        got[lead.id] = (score.value, score.grade.name)
        assert model.score(_in_cny(lead, AT)).grade.name == score.grade.name  # the fast path agrees
    assert got == EXPECTED_BANT


def test_the_regrade_and_the_dollar_budget_as_of_their_dates() -> None:
    model = BANT.default()
    leads = {p.id: p for _, what, p in quarter.TIMELINE if what == "lead"}
    # L5 when it came in (3 Mar): timeline 3_6_months 10 instead of 25 -> 25 + 15 + 15 + 6 + 10
    # = 71 -> B; the team's regrade to A on 4 Mar follows the new timeline (86, above).
    assert model.score(leads["L5"]).value == 71 and model.score(leads["L5"]).grade.name == "B"
    # L6 when it came in: Fri 7 Mar 09:00 EST = 14:00 UTC, 7 Mar -> 7.10 (the 7.25 row starts on
    # 8 Mar): 14,000 x 7.10 = 99,400.00 CNY < 100,000 -> 12; 12 + 25 + 15 + 10 + 18 = 80: the
    # bottom of A, exactly.
    l6 = _in_cny(leads["L6"], leads["L6"].created_at)
    assert l6.budget == Money.of("99400.00", "CNY")
    assert model.score(l6).value == 80 and model.score(l6).grade.name == "A"
    # The dollars are never read as yuan (14,000 would be the 5-point band)
    with pytest.raises(CurrencyMismatchError) as err:
        model.score(leads["L6"])
    assert set(err.value.currencies) == {"CNY", "USD"}


# --------------------------------------------------------------------------- customer facts


def test_customer_facts_and_segments_at_the_quarter_end(played: Any) -> None:
    got = customer_facts(
        as_of=AT, activities=list(played.activities.all()),
        opportunities=list(played.opportunities.all()), stages=PIPE, currency="CNY", rates=RATES,
    )  # fmt: skip
    amounts = {c: (f.won_amount, f.open_amount) for c, f in got.items()}
    # acc-hu: D1 won 180,000; D6 open 180,000; D7 merged into D6: in neither (not 360,000 open)
    assert amounts["acc-hu"] == (Decimal("180000"), Decimal("180000"))
    # acc-ocean: D2 won Fri 29 Nov 2024 10:00 Shanghai = 02:00 UTC 29 Nov -> the 7.20 row:
    # 25,000 USD x 7.20 = 180,000.00 CNY, at the close date (not 7.25 of the quarter's end)
    assert amounts["acc-ocean"] == (Decimal("180000.00"), Decimal(0))
    # acc-lin: D3 lost (its won_reason is a stale note) -> nothing won; D4 open 180,000
    assert amounts["acc-lin"] == (Decimal(0), Decimal("180000"))
    # D5 has no account (its own id): open 25,000 USD at the evaluation instant, 31 Mar (UTC
    # date) -> 7.25: 181,250.00 CNY
    assert amounts["D5"] == (Decimal(0), Decimal("181250.00"))
    assert "D7" not in got
    # leads are customers through their activities, with no money
    assert all(amounts[lead] == (0, 0) for lead in ("L1", "L2", "L3", "L4", "L5", "L6"))
    assert all(f.currency == "CNY" for f in got.values())

    # contacts: window = 31 Mar 23:59 - 90 days = Wed 1 Jan 23:59
    hu, lin, ocean, d5 = got["acc-hu"], got["acc-lin"], got["acc-ocean"], got["D5"]
    # acc-hu: D1 (7, 10, 15, 17, 21 Jan) + D6 (13, 15, 17, 27 Jan) = 9, last Mon 27 Jan 10:00
    assert (hu.recent_contacts, hu.last_contact_at) == (9, sh(1, 27, 10))
    # acc-lin: D3 (17, 18, 24 Feb) + D4 (6, 10, 14 Mar) = 6, last Fri 14 Mar 10:00
    assert (lin.recent_contacts, lin.last_contact_at) == (6, sh(3, 14, 10))
    # acc-ocean: the November 2024 contacts are older than 90 days; the survey call of 3 Mar: 1
    assert (ocean.recent_contacts, ocean.last_contact_at) == (1, sh(3, 3, 10))
    # D5: Ken's 4, 5, 6 Mar (EST) and 12 Mar (EDT) contacts = 4, last 12 Mar 09:00 New York
    assert (d5.recent_contacts, d5.last_contact_at) == (4, quarter.ny(3, 12, 9))

    # Segments (SegmentPolicy.default(): high_value won or open >= 100,000; potential contacted
    # in the last 30 days (since 1 Mar 23:59) and grade A/B or >= 3 contacts in 90 days; dormant
    # no contact for >= 90 days)
    seg = SegmentPolicy.default()
    # acc-hu: 180,000 won -> high_value; last contact 27 Jan, 63 days ago: not potential
    assert set(seg.evaluate(hu, AT)) == {"high_value"}
    # acc-lin: open 180,000 -> high_value; contacted 14 Mar with 6 contacts -> potential
    assert set(seg.evaluate(lin, AT)) == {"high_value", "potential"}
    assert seg.primary(lin, AT) == "high_value"
    # acc-ocean: high_value; contacted 3 Mar (within 30 days) but 1 contact, no grade: no more
    assert set(seg.evaluate(ocean, AT)) == {"high_value"}
    # D5: 181,250 open -> high_value; 4 contacts, the last on 12 Mar -> potential
    assert set(seg.evaluate(d5, AT)) == {"high_value", "potential"}


def test_customer_facts_refuse_the_dollars_without_rates(played: Any) -> None:
    with pytest.raises(CurrencyMismatchError) as err:
        customer_facts(as_of=AT, opportunities=list(played.opportunities.all()), stages=PIPE,
                       currency="CNY")  # fmt: skip
    assert set(err.value.currencies) == {"CNY", "USD"}
    assert "rates" in str(err.value)  # the option of customer_facts that takes them


# --------------------------------------------------------------------------- funnel, win rate

# Q1 cohort (created 1 Jan <= t < 1 Apr, Shanghai): D1, D3, D4, D5, D6 = 5 (D2 was created in
# November 2024; D7 is a merged duplicate). Furthest rank: D1 won (4); D3 needs_confirmed (1)
# then lost (-1, keeps 1); D4 needs_confirmed (1); D5 proposal_quote (2); D6 needs_confirmed (1).
EXPECTED_REACHED = [
    ("first_contact", 5),  # creation reaches the first step
    ("needs_confirmed", 5),  # every one got there
    ("proposal_quote", 2),  # D1, D5
    ("contract_negotiation", 1),  # D1
    ("won", 1),  # D1
]
# conversion: 5/5 = 1, 2/5 = 0.4, 1/2 = 0.5, 1/1 = 1 -> bottleneck needs_confirmed -> proposal_quote
EXPECTED_RATES = [1.0, 0.4, 0.5, 1.0]
# snapshot win rate: closed 1 Jan <= closed_at < 1 Apr: D1 won (24 Jan), D3 lost (3 Mar) -> 1/2;
# D2 closed in 2024, D7's merge close is not a loss.
# stages at the quarter's end: needs_confirmed D4, D6; proposal_quote D5; won D1, D2; lost D3
EXPECTED_SNAPSHOT = {
    "first_contact": 0, "needs_confirmed": 2, "proposal_quote": 1, "contract_negotiation": 0,
    "won": 2, "lost": 1,
}  # fmt: skip


def _check_figures(opps: Any, events: Any) -> None:
    funnel = m.cohort_funnel(opps, events, stages=PIPE, value=False, **Q1)
    assert [(r["stage"], r["reached"]) for r in funnel.records()] == EXPECTED_REACHED
    conv = funnel.conversion()
    assert [r["rate"] for r in conv.records()] == pytest.approx(EXPECTED_RATES)
    neck = conv.bottleneck()
    assert (neck["from_stage"], neck["to_stage"]) == ("needs_confirmed", "proposal_quote")
    rate = m.win_rate(opps, stages=PIPE, kind="snapshot", value=False, **Q1).records()
    assert [(r["n"], r["won"], r["lost"], r["rate"]) for r in rate] == [(2, 1, 1, 0.5)]
    cohort = m.win_rate(opps, events, stages=PIPE, kind="cohort", value=False, **Q1).records()
    assert [r["rate"] for r in cohort] == [pytest.approx(1 / 5)]  # D1 of the 5
    snap = m.snapshot(opps, events, stages=PIPE, as_of=AT, value=False)
    assert {r["stage"]: r["count"] for r in snap.records()} == EXPECTED_SNAPSHOT


def test_the_quarter_funnel_and_win_rates_on_records(played: Any) -> None:
    opps = list(played.opportunities.all())
    events = list(played.stage_events.all())
    assert facts.deal_status(played.opportunities.get("D7"), PIPE) == "merged"
    _check_figures(opps, events)


def test_the_quarter_funnel_and_win_rates_on_the_stores_frames(played: Any) -> None:
    opps = opportunities_frame(played, backend="polars")
    events = stage_events_frame(played, backend="polars")
    assert isinstance(opps, pl.DataFrame)
    _check_figures(opps, events)
    _check_figures(opportunities_frame(played, backend="pandas"),
                   stage_events_frame(played, backend="pandas"))  # fmt: skip
    # the store's arrow tables, as they are and as DuckDB relations
    oa, ea = opportunities_frame(played), stage_events_frame(played)
    _check_figures(oa, ea)
    con = duckdb.connect()
    _check_figures(con.sql("select * from oa"), con.sql("select * from ea"))


def test_the_funnel_value_refuses_the_dollars_and_says_what_to_do(played: Any) -> None:
    # D5's 25,000 USD meets the yuan of D1, D3, D4, D6 in the reached values
    with pytest.raises(CurrencyMismatchError) as err:
        m.cohort_funnel(list(played.opportunities.all()), list(played.stage_events.all()),
                        stages=PIPE, **Q1)  # fmt: skip
    assert set(err.value.currencies) == {"CNY", "USD"}
    assert "value=False" in str(err.value)  # an option cohort_funnel has
    # the snapshot win rate by value: only D1 and D3 closed in Q1, both 180,000 CNY -> 0.5
    rate = m.win_rate(list(played.opportunities.all()), stages=PIPE, kind="snapshot", **Q1)
    assert [(r["won_value"], r["rate_value"]) for r in rate.records()] == [(180000.0, 0.5)]


def test_horizon_keeps_only_what_happened_within_it(played: Any) -> None:
    # With a 10-day horizon: D1 (created 6 Jan) reached needs_confirmed on 10 Jan (4 d) and
    # proposal_quote on 16 Jan (exactly 10 d: at <= created + horizon counts) but not
    # contract_negotiation (14 d) or won (18 d); D3 (12 Feb) needs_confirmed 19 Feb (7 d);
    # D4 (3 Mar) 11 Mar (8 d); D5 (3 Mar EST) needs 5 Mar, proposal 7 Mar (4 d); D6 (13 Jan)
    # needs 16 Jan (3 d).
    funnel = m.cohort_funnel(list(played.opportunities.all()), list(played.stage_events.all()),
                             stages=PIPE, value=False, horizon=timedelta(days=10), **Q1)  # fmt: skip
    assert [r["reached"] for r in funnel.records()] == [5, 5, 2, 0, 0]
