"""Stage facts decided by the move: the close instant, the event sequence, guards run once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core import facts
from pipeline_core.errors import TransitionError
from pipeline_core.records import Lead, Opportunity
from pipeline_core.stages import Check, Pipeline, Stage, Transition, TransitionRules, convert

T0 = datetime(2025, 6, 2, 8, 30, tzinfo=UTC)


def delivery_pipeline() -> Pipeline:
    """open: lead, offer; won: contracted, invoiced, collected; lost: dropped. Reopening allowed."""
    return Pipeline(
        "delivery",
        "Delivery",
        [
            Stage("lead", "Lead"),
            Stage("offer", "Offer", probability=0.4),
            Stage("contracted", "Contracted", kind="won"),
            Stage("invoiced", "Invoiced", kind="won"),
            Stage("collected", "Collected", kind="won"),
            Stage("dropped", "Dropped", kind="lost"),
        ],
        transitions=[
            Transition("contracted", "invoiced"),
            Transition("invoiced", "collected"),
            Transition("contracted", "dropped"),
        ],
        rules=TransitionRules(reopen=True),
    )


def deal(stage: str = "lead") -> Opportunity:
    return Opportunity(
        id="d-7", name="Harbour Co", created_at=T0, owner_id="li", stage=stage, stage_entered_at=T0
    )


def test_moves_between_won_stages_keep_the_first_close_instant() -> None:
    p = delivery_pipeline()
    d, _ = p.move(deal(), "offer", at=T0 + timedelta(days=1), by="li")
    d, _ = p.move(d, "contracted", at=T0 + timedelta(days=3), by="li")
    assert d.closed_at == T0 + timedelta(days=3)  # first entry into a closed stage
    d, _ = p.move(d, "invoiced", at=T0 + timedelta(days=10), by="li")
    d, _ = p.move(d, "collected", at=T0 + timedelta(days=40), by="li")
    # contracted -> invoiced -> collected are moves inside "won": still closed on day 3
    assert d.closed_at == T0 + timedelta(days=3)


def test_won_to_lost_keeps_the_close_and_a_reopen_clears_it() -> None:
    p = delivery_pipeline()
    d, _ = p.move(deal(), "offer", at=T0 + timedelta(days=1), by="li")
    d, _ = p.move(d, "contracted", at=T0 + timedelta(days=2), by="li")
    d, _ = p.move(d, "dropped", at=T0 + timedelta(days=5), by="li")
    assert d.closed_at == T0 + timedelta(days=2)
    d, _ = p.move(d, "offer", at=T0 + timedelta(days=6), by="li")  # reopened
    assert d.closed_at is None
    d, _ = p.move(d, "contracted", at=T0 + timedelta(days=9), by="li")
    assert d.closed_at == T0 + timedelta(days=9)  # the next close sets it again


def test_events_carry_the_version_they_produce_as_seq() -> None:
    p = delivery_pipeline()
    lead = Lead(id="l-1", created_at=T0, source="fair", owner_id="li", company="Harbour Co")
    conv = convert(lead, p, at=T0, by="li")
    opp, placed = conv.opportunity, conv.event
    assert (opp.version, placed.seq) == (1, 1)
    same = T0  # three moves at the very same instant: only seq tells their order
    opp, e2 = p.move(opp, "offer", at=same, by="li")
    opp, e3 = p.move(opp, "contracted", at=same, by="li")
    opp, e4 = p.move(opp, "invoiced", at=same, by="li")
    assert [e.seq for e in (placed, e2, e3, e4)] == [1, 2, 3, 4]
    assert opp.version == 4
    shuffled = [e4, placed, e3, e2]
    assert [e.to_stage for e in facts.sorted_events(shuffled)] == [
        "lead",
        "offer",
        "contracted",
        "invoiced",
    ]


def test_a_guard_runs_once_per_attempt_and_its_answer_is_reported() -> None:
    asked: list[str] = []

    def credit_ok(o: Opportunity) -> bool:
        asked.append(o.id)
        return len(asked) % 2 == 0  # says no, then yes, then no ... (a flaky service)

    def legal_ok(o: Opportunity) -> bool:
        raise ValueError("contract template not approved")

    p = Pipeline(
        "g",
        "Guarded",
        [
            Stage("lead", "Lead"),
            Stage("offer", "Offer"),
            Stage("won", "Won", kind="won"),
            Stage("lost", "Lost", kind="lost"),
        ],
        transitions=[
            Transition(
                "lead", "offer", (Check(credit_ok, "credit check"), Check(legal_ok, "legal"))
            )
        ],
    )
    with pytest.raises(TransitionError) as err:
        p.move(deal(), "offer", at=T0 + timedelta(hours=1), by="li")
    assert asked == ["d-7"]  # one attempt, one call
    assert err.value.unmet == (
        "credit check is not met",
        "legal: contract template not approved",
    )
    assert "credit check" in str(err.value) and "legal" in str(err.value)


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 3_000_000)),  # (which target, gap in µs)
        min_size=1,
        max_size=12,
    )
)
def test_machine_close_instant_and_seq_agree_with_an_oracle(steps: list[tuple[int, int]]) -> None:
    """Random walks over the pipeline, with sub-second and zero gaps: closed_at is the instant
    of the first entry into a closed stage since the last open stage (oracle: a replay by kind),
    and seq strictly increases, so facts.close_instant over the events agrees with the machine."""
    p = delivery_pipeline()
    kind = {"contracted": "won", "invoiced": "won", "collected": "won", "dropped": "lost"}
    d = deal()
    t = T0
    events = []
    expected_close = None
    for pick, gap in steps:
        options = sorted(p.targets(d.stage))
        if not options:
            break
        target = options[pick % len(options)]
        t = t + timedelta(microseconds=gap)
        was_open = kind.get(d.stage, "open") == "open"
        d, ev = p.move(d, target, at=t, by="li")
        events.append(ev)
        if kind.get(target, "open") == "open":
            expected_close = None
        elif was_open:
            expected_close = t
    assert d.closed_at == expected_close
    assert facts.close_instant(events, p) == expected_close
    assert [e.seq for e in events] == list(range(2, len(events) + 2))
