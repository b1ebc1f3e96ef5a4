"""Shared facts in the team layer: customer facts by stage kind and in one currency, phone and
company identity, and a round-robin rotation that survives a new Router per request."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from team_support import T0, at, lead

from pipeline_core.assignment import Router, RouterState, RoutingPolicy
from pipeline_core.errors import ConfigError, CurrencyMismatchError, ValidationError
from pipeline_core.facts import MERGED_TAG
from pipeline_core.identity import DedupIndex, normalise_company, normalise_phone, parse_company
from pipeline_core.metrics.segments import CustomerFacts, SegmentPolicy, customer_facts
from pipeline_core.money import ExchangeRates
from pipeline_core.records import Money, Opportunity
from pipeline_core.stages import Pipeline, Stage, templates

# --------------------------------------------------------------------------- customer facts

BOARD = Pipeline(
    "board",
    "Board",
    [
        Stage("talk", "Talk", "洽谈"),
        Stage("signed", "Signed", "签约", kind="won"),
        Stage("paid", "Paid", "回款", kind="won"),
        Stage("dropped", "Dropped", "放弃", kind="lost"),
    ],
)


def deal(
    oid: str, account: str, stage: str, amount: str, currency: str = "CNY", **kw: object
) -> Opportunity:
    return Opportunity(
        id=oid,
        name=f"deal {oid}",
        created_at=T0,
        owner_id="amy",
        stage=stage,
        stage_entered_at=T0,
        account_id=account,
        expected_amount=Money.of(amount, currency),
        **kw,  # type: ignore[arg-type]
    )


def test_won_and_lost_follow_the_stage_kind_not_the_reasons() -> None:
    closed = at(24)
    deals = [
        # dropped without a reason: lost, not 80,000 of revenue
        deal("d1", "hangzhou", "dropped", "80000", closed_at=closed),
        # paid (a won stage) while an old lost_reason from a first round is still on the record
        deal("d2", "suzhou", "paid", "45000", closed_at=closed, lost_reason="budget frozen (2024)"),
        # a won_reason on a deal still being talked about is a note, not a win
        deal("d3", "suzhou", "talk", "10000", won_reason="verbal yes"),
    ]
    facts = customer_facts(as_of=at(48), opportunities=deals, stages=BOARD)
    assert facts["hangzhou"].won_amount == 0 and facts["hangzhou"].open_amount == 0
    assert facts["suzhou"].won_amount == Decimal(45000)
    assert facts["suzhou"].open_amount == Decimal(10000)


def test_a_deal_closed_after_the_as_of_instant_is_still_open_then() -> None:
    # signed at hour 48, facts asked as of hour 24: later events are ignored, so the 60,000 is
    # open pipeline then (won 0, open 60,000); as of hour 72 it is won (won 60,000, open 0)
    won_later = deal("d", "ningbo", "signed", "60000", closed_at=at(48))
    before = customer_facts(as_of=at(24), opportunities=[won_later], stages=BOARD)["ningbo"]
    assert (before.won_amount, before.open_amount) == (0, Decimal(60000))
    after = customer_facts(as_of=at(72), opportunities=[won_later], stages=BOARD)["ningbo"]
    assert (after.won_amount, after.open_amount) == (Decimal(60000), 0)


def test_a_merged_duplicate_counts_in_neither_amount() -> None:
    survivor = deal("s", "wuxi", "talk", "30000")
    duplicate = deal("x", "wuxi", "talk", "30000", tags=frozenset({MERGED_TAG}))
    facts = customer_facts(as_of=at(1), opportunities=[survivor, duplicate], stages=BOARD)
    assert facts["wuxi"].open_amount == Decimal(30000)  # once, not 60,000


def test_without_a_pipeline_stages_of_another_template_are_refused() -> None:
    with pytest.raises(ValidationError) as err:
        customer_facts(as_of=at(1), opportunities=[deal("d", "a", "signed", "1")])
    assert err.value.fields == ("stages",)


def test_other_currencies_are_converted_at_the_close_or_refused() -> None:
    rates = ExchangeRates.from_dict(
        {
            "rates": [
                {"base": "USD", "quote": "CNY", "effective": "2025-01-01", "rate": "7.00"},
                {"base": "USD", "quote": "CNY", "effective": "2025-03-05", "rate": "7.50"},
            ]
        }
    )
    won_usd = deal("u1", "boston", "won", "2000", "USD", closed_at=at(24))  # closed 4 March
    open_usd = deal("u2", "boston", "proposal_quote", "100", "USD")
    small_team = templates.get("small_team")
    with pytest.raises(CurrencyMismatchError) as err:
        customer_facts(as_of=at(72), opportunities=[won_usd], stages=small_team, currency="CNY")
    assert set(err.value.currencies) == {"CNY", "USD"} and "rates=" in str(err.value)
    facts = customer_facts(
        as_of=at(72), opportunities=[won_usd, open_usd], stages=small_team, rates=rates
    )
    # the win at its close (4 March, rate 7.00): 2000 × 7.00 = 14,000.00 CNY;
    # the open deal at the evaluation instant (6 March, rate 7.50): 100 × 7.50 = 750.00 CNY
    assert facts["boston"].won_amount == Decimal("14000.00")
    assert facts["boston"].open_amount == Decimal("750.00")
    assert facts["boston"].currency == "CNY"


def test_a_policy_refuses_facts_in_another_currency() -> None:
    usd_facts = CustomerFacts("c", won_amount=Decimal(200_000), currency="USD")
    with pytest.raises(CurrencyMismatchError):
        SegmentPolicy.default().primary(usd_facts, at(1))


# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize("raw", ["84664163", "8466 4163", "12345", "1380013800", "14012345678"])
def test_numbers_that_are_not_valid_full_numbers_are_none(raw: str) -> None:
    # a local number without its area code, a short one, a mobile one digit short, an unassigned
    # mobile range (140…): possible lengths perhaps, but no valid number
    assert normalise_phone(raw) is None


def test_local_numbers_of_two_cities_are_not_one_customer() -> None:
    index = DedupIndex()
    index.add("nanjing", phone="84664163")
    assert index.find(phone="84664163") == []
    index.add("nanjing-full", phone="025-8466 4163")
    assert [m.existing_id for m in index.find(phone="+86 25 8466 4163")] == ["nanjing-full"]
    assert index.find(phone="0755-8466 4163") == []  # Shenzhen, same local digits


# --------------------------------------------------------------------------- companies


def test_two_branches_of_one_group_are_related_not_the_same() -> None:
    index = DedupIndex()
    index.add("branch-1", company="华东某某电力集团有限公司苏州供电分公司")
    index.add("head", company="华东某某电力集团有限公司")
    assert index.find(company="华东某某电力集团有限公司无锡供电分公司") == []
    related = index.related("华东某某电力集团有限公司无锡供电分公司")
    assert {m.existing_id for m in related} == {"branch-1", "head"}
    # the same branch written again is the same customer
    assert [m.existing_id for m in index.find(company="华东某某电力集团苏州供电分公司")] == [
        "branch-1"
    ]


def test_bank_branches_and_offices() -> None:
    assert parse_company("招商银行杭州分行") == parse_company("招商银行 杭州分行")
    assert normalise_company("招商银行杭州分行") != normalise_company("招商银行宁波分行")
    assert parse_company("某某咨询有限公司上海办事处").branch == "上海办事处"  # type: ignore[union-attr]


def test_a_region_in_brackets_or_in_front_is_the_same_company() -> None:
    index = DedupIndex()
    index.add("bj", company="某某软件（北京）有限公司")
    for written in ("北京某某软件有限公司", "北京市某某软件", "某某软件有限公司", "某某软件(北京)"):
        assert [m.existing_id for m in index.find(company=written)] == ["bj"], written
    assert index.find(company="某某软件（上海）有限公司") == []  # another region: another one
    assert normalise_company("上海银行") == "上海银行"  # too little left: the region is the name


@given(st.text(alphabet="北京上海某科技分公司()（）银行有限集团 ab|", max_size=30))
def test_reading_a_key_back_gives_the_same_name(raw: str) -> None:
    parsed = parse_company(raw)
    if parsed is not None:
        assert parse_company(parsed.key) == parsed


# --------------------------------------------------------------------------- router state

THREE = RoutingPolicy.from_dict(
    {
        "reps": [{"id": "ann"}, {"id": "ben"}, {"id": "cho"}],
        "rules": [{"name": "web", "reps": ["ann", "ben", "cho"]}],
    }
)


def test_a_saved_state_continues_the_rotation() -> None:
    got: Counter[str] = Counter()
    state: RouterState | None = None
    for i in range(9):  # nine requests, a fresh Router each, the state saved in between
        router = Router(THREE, state=state)
        got[router.route(lead(f"l{i}"), at=at(i)).owner_id or "-"] += 1
        state = RouterState.from_dict(router.state.to_dict())  # as a host stores it (JSON)
    assert got == {"ann": 3, "ben": 3, "cho": 3}


def test_the_rotation_is_derived_from_recent_assignments() -> None:
    # ben was assigned last (at 2 h), so the next lead goes to cho, then ann
    recent = {"ann": [at(1)], "ben": [at(0), at(2)]}
    first = Router(THREE, recent=recent).route(lead("a"), at=at(3))
    assert first.owner_id == "cho"
    recent2 = {"ann": [at(1)], "ben": [at(0), at(2)], "cho": [at(3)]}
    assert Router(THREE, recent=recent2).route(lead("b"), at=at(4)).owner_id == "ann"


def test_bad_states_name_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        RouterState.from_dict({"last": {"web": ""}, "cursor": 3})
    assert set(err.value.fields) == {"last.web", "cursor"}
    # a state for reps the policy no longer has is ignored, not an error
    assert (
        Router(THREE, state={"last": {"web": "zed"}}).route(lead("a"), at=at(0)).owner_id == "ann"
    )


@given(
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=0, max_value=25),
    st.sampled_from(["state", "recent"]),
)
def test_fresh_routers_share_leads_evenly(reps: int, leads: int, carry: str) -> None:
    ids = [f"r{i}" for i in range(reps)]
    policy = RoutingPolicy.from_dict(
        {"reps": [{"id": r} for r in ids], "rules": [{"name": "all", "reps": ids}]}
    )
    got: Counter[str] = Counter()
    recent: dict[str, list[datetime]] = {r: [] for r in ids}
    state: RouterState | None = None
    for i in range(leads):
        when = T0 + timedelta(minutes=i)
        router = Router(policy, state=state) if carry == "state" else Router(policy, recent=recent)
        owner = router.route(lead(f"l{i}"), at=when).owner_id
        assert owner is not None
        got[owner] += 1
        recent[owner].append(when)
        state = router.state
    counts = [got[r] for r in ids]
    assert max(counts) - min(counts) <= 1  # round robin: nobody gets two more than another
    assert sum(counts) == leads


def test_datetimes_in_recent_must_be_aware() -> None:
    with pytest.raises(ValidationError):
        Router(THREE, recent={"ann": [datetime(2025, 1, 1)]})


# --------------------------------------------------------------------------- definitions


def test_policies_built_in_code_are_validated_like_plain_data() -> None:
    from pipeline_core.assignment import PoolPolicy, RepCapacity, RoutingRule, pool_reason
    from pipeline_core.metrics.segments import SegmentRule

    with pytest.raises(ConfigError) as err:
        RepCapacity(id="ann", weight=0)
    assert err.value.fields == ("weight",)
    with pytest.raises(ConfigError) as err:
        RoutingRule(name="web", reps=("ann",), when={"colour": frozenset({"red"})})
    assert err.value.fields == ("colour",)
    with pytest.raises(ConfigError) as err:
        RoutingPolicy(reps=(RepCapacity(id="ann"),), rules=(RoutingRule("web", ("bob",)),))
    assert err.value.fields == ("rules[0].reps[0]",)
    with pytest.raises(ConfigError) as err:
        SegmentRule(name="big", min_recent_contacts=-1)
    assert err.value.fields == ("min_recent_contacts",)
    with pytest.raises(ConfigError) as err:
        SegmentPolicy(segments=(SegmentRule("big"), SegmentRule("big")))
    assert err.value.fields == ("segments[1].name",)
    with pytest.raises(ConfigError) as err:
        SegmentPolicy(segments=(), currency="XYZ")
    assert err.value.fields == ("currency",)
    with pytest.raises(ConfigError) as err:
        PoolPolicy(claims_per_day=-1)
    assert err.value.fields == ("claims_per_day",)
    # the pool reads the stage kind too: dropped (lost) with a nurture reason goes back
    nurture = PoolPolicy(nurture_lost_reasons=frozenset({"timing"}))
    dropped = deal("p1", "a", "dropped", "1", closed_at=at(1), lost_reason="timing")
    paid = deal("p2", "a", "paid", "1", closed_at=at(1), lost_reason="timing")
    assert pool_reason(dropped, as_of=at(2), policy=nurture, stages=BOARD) is not None
    assert pool_reason(paid, as_of=at(2), policy=nurture, stages=BOARD) is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["talk", "signed", "paid", "dropped"]),
            st.integers(min_value=0, max_value=10**6),
            st.booleans(),  # merged duplicate
            st.sampled_from([None, "price", "timing"]),  # a lost_reason note, whatever the stage
        ),
        max_size=12,
    )
)
def test_customer_amounts_add_up_by_stage_kind(
    rows: list[tuple[str, int, bool, str | None]],
) -> None:
    deals = [
        deal(
            f"o{i}",
            "acme",
            stage,
            str(amount),
            tags=frozenset({MERGED_TAG}) if merged else frozenset(),
            lost_reason=reason,
            closed_at=None if stage == "talk" else at(1),
        )
        for i, (stage, amount, merged, reason) in enumerate(rows)
    ]
    facts = customer_facts(as_of=at(2), opportunities=deals, stages=BOARD).get("acme")
    won = sum(a for s, a, m, _ in rows if not m and s in ("signed", "paid"))
    still_open = sum(a for s, a, m, _ in rows if not m and s == "talk")
    assert (facts.won_amount if facts else 0) == won
    assert (facts.open_amount if facts else 0) == still_open


def test_without_stages_each_deal_is_read_against_the_template_it_names() -> None:
    # small_team: "won" is a won stage, "lost" a lost one. Two deals name that template, one names
    # none. By hand: acme's won deal 30,000 counts as won revenue, its lost deal 50,000 in neither;
    # the deal naming no pipeline cannot be read at all (never against another pipeline's stages).
    named = [
        deal("n1", "acme", "won", "30000", pipeline="small_team", closed_at=at(24)),
        deal("n2", "acme", "lost", "50000", pipeline="small_team", closed_at=at(24)),
    ]
    facts = customer_facts(as_of=at(48), opportunities=named)
    assert (facts["acme"].won_amount, facts["acme"].open_amount) == (Decimal(30000), Decimal(0))
    with pytest.raises(ValidationError) as err:
        customer_facts(as_of=at(48), opportunities=[*named, deal("n3", "acme", "won", "1")])
    assert err.value.fields == ("stages",)


def test_the_pool_and_the_sla_read_a_named_template_the_same_way() -> None:
    import warnings

    from pipeline_core.assignment import PoolPolicy, pool_reason
    from pipeline_core.sla import state_from_records

    # a deal in small_team's lost stage whose lost_reason is worth nurturing; and a won one
    lost = deal(
        "p1", "acme", "lost", "100", pipeline="small_team", closed_at=at(24), lost_reason="budget"
    )
    won = deal(
        "p2", "acme", "won", "100", pipeline="small_team", closed_at=at(24), lost_reason="budget"
    )
    policy = PoolPolicy(nurture_lost_reasons=["budget"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated fallback: the named template decides
        assert pool_reason(lost, policy=policy, as_of=at(48)) is not None
        assert pool_reason(won, policy=policy, as_of=at(48)) is None
    assert state_from_records(won).won_at == at(24)
    assert state_from_records(lost).won_at is None
