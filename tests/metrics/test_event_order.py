"""Event order in the metrics: (instant at full precision, seq), never a floored second or an id.

The oracle below knows the order in which each history was made (it builds it), and computes the
snapshot and the time-in-stage figures from that order alone; the metrics get the events shuffled,
with ids whose order says nothing, and must agree, on records and on polars frames.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core import metrics as m
from pipeline_core.metrics.inputs import event_columns
from pipeline_core.records import Lead, Opportunity, StageEvent
from pipeline_core.stages import convert, templates

T0 = datetime(2025, 4, 7, 10, 0, 0, 250_000, tzinfo=UTC)
OPEN = ("first_contact", "needs_confirmed", "proposal_quote", "contract_negotiation")


def test_two_moves_within_one_second_keep_their_order() -> None:
    p = templates.get("small_team")
    lead = Lead(id="l-9", created_at=T0, source="referral", needs="ERP", owner_id="zoe")
    opp, placed, _ = convert(lead, p, at=T0, by="zoe")
    # 10:00:00.250 placed at first_contact, 10:00:00.650 moved on: both floor to 10:00:00
    opp, moved = p.move(opp, "needs_confirmed", at=T0 + timedelta(milliseconds=400), by="zoe")
    for events in ([placed, moved], [moved, placed]):
        rows = m.snapshot([opp], events, stages=p, as_of=T0 + timedelta(minutes=5), value=False)
        assert {r["stage"]: r["count"] for r in rows.records()}["needs_confirmed"] == 1
        assert sum(r["count"] for r in rows.records()) == 1
        tis = {r["stage"]: r for r in m.time_in_stage(events, stages=p).records()}
        # one finished stay in first_contact (0 whole seconds), one open stay in needs_confirmed
        assert (tis["first_contact"]["n"], tis["first_contact"]["open"]) == (1, 0)
        assert (tis["needs_confirmed"]["n"], tis["needs_confirmed"]["open"]) == (0, 1)


def test_a_snapshot_cuts_at_the_instant_not_at_its_second() -> None:
    pytest.importorskip("polars")
    import polars as pl

    p = templates.get("small_team")
    lead = Lead(id="l-3", created_at=T0, source="referral", needs="ERP", owner_id="zoe")
    opp, placed, _ = convert(lead, p, at=T0, by="zoe")  # 10:00:00.250
    opp, moved = p.move(opp, "needs_confirmed", at=T0 + timedelta(milliseconds=400), by="zoe")
    between = T0 + timedelta(milliseconds=200)  # 10:00:00.450: placed, not yet moved
    frames = (pl.DataFrame({"id": [opp.id]}), pl.DataFrame(event_columns([placed, moved])))
    for ops, evs in (([opp], [placed, moved]), frames):
        rows = m.snapshot(ops, evs, stages=p, as_of=between, value=False).records()
        assert [r["stage"] for r in rows if r["count"]] == ["first_contact"]
        tis = {r["stage"]: r for r in m.time_in_stage(evs, stages=p, as_of=between).records()}
        assert (tis["first_contact"]["n"], tis["first_contact"]["open"]) == (0, 1)


def _histories(draw: Any) -> tuple[list[StageEvent], list[list[tuple[str, datetime]]]]:
    """Random histories over the open stages: each move after a gap of 0 µs (same instant),
    a few hundred ms, or whole seconds; ids are random, so they carry no order."""
    n_deals = draw(st.integers(1, 4))
    events: list[StageEvent] = []
    truth: list[list[tuple[str, datetime]]] = []
    for d in range(n_deals):
        t = T0 + timedelta(microseconds=draw(st.integers(0, 999_999)))
        stage = OPEN[0]
        path = [(stage, t)]
        moves = draw(st.lists(st.integers(0, 3), max_size=6))
        for target in moves:
            if OPEN[target] == stage:
                continue
            gap = draw(st.sampled_from([0, 1, 399_000, 600_000, 1_000_000, 86_400_000_000]))
            t = t + timedelta(microseconds=gap)
            path.append((OPEN[target], t))
            stage = OPEN[target]
        truth.append(path)
        prev = None
        for seq, (to, at) in enumerate(path, start=1):
            events.append(
                StageEvent(
                    id=f"e{draw(st.integers(0, 10**9)):010d}-{d}-{seq}",
                    opportunity_id=f"o{d}",
                    from_stage=prev,
                    to_stage=to,
                    at=at,
                    by="u",
                    seq=seq,
                )
            )
            prev = to
    return events, truth


def _epoch(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() // 1)


def _oracle(
    truth: list[list[tuple[str, datetime]]], now: datetime
) -> tuple[Counter[str], dict[str, Any]]:
    """The stage of each deal at ``now`` (its last step at or before the instant now, in the order
    made) and
    the finished stays per stage in whole seconds (floored instants subtracted, as documented)."""
    stage_now: Counter[str] = Counter()
    stays: dict[str, list[int]] = defaultdict(list)
    opens: Counter[str] = Counter()
    for path in truth:
        seen = [(s, t) for s, t in path if t <= now]  # at or before the instant, exactly
        if seen:
            stage_now[seen[-1][0]] += 1
        for (s, t), (_s2, t2) in pairwise(path):
            stays[s].append(_epoch(t2) - _epoch(t))
        opens[path[-1][0]] += 1
    return stage_now, {"stays": stays, "open": opens}


@settings(max_examples=120, deadline=None)
@given(st.data(), st.randoms(use_true_random=False))
def test_snapshot_and_time_in_stage_follow_the_order_made(data: Any, rnd: random.Random) -> None:
    pytest.importorskip("polars")
    import polars as pl

    events, truth = _histories(data.draw)
    rnd.shuffle(events)
    opps = [
        Opportunity(
            id=f"o{d}",
            name="x",
            created_at=T0,
            owner_id="u",
            stage=path[-1][0],
            stage_entered_at=path[-1][1],
        )
        for d, path in enumerate(truth)
    ]
    last = max(t for path in truth for _, t in path)
    span = (last - T0) // timedelta(microseconds=1)
    now = T0 + timedelta(microseconds=data.draw(st.integers(0, span + 1_000_000)))
    expected_now, expected = _oracle(truth, now)
    order = m.stage_order(list(OPEN), won="won", lost="lost")
    frame = pl.DataFrame(event_columns(events))
    ofr = pl.DataFrame({"id": [o.id for o in opps]})
    for evs, ops in ((events, opps), (frame, ofr)):
        snap = m.snapshot(ops, evs, stages=order, as_of=now, value=False).records()
        assert {r["stage"]: r["count"] for r in snap if r["count"]} == dict(expected_now)
        tis = {r["stage"]: r for r in m.time_in_stage(evs, stages=order).records()}
        for stage in OPEN:
            stays = expected["stays"].get(stage, [])
            row = tis.get(stage, {"n": 0, "open": 0, "mean_days": None})
            assert row["n"] == len(stays)
            assert row["open"] == expected["open"].get(stage, 0)
            if stays:
                assert row["mean_days"] == pytest.approx(sum(stays) / len(stays) / 86_400)
