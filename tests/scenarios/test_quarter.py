"""The East team's quarter (``quarter.py``) replayed day by day on every store: every reminder,
breach and escalation, and every deal's outcome, as worked out by hand."""

from __future__ import annotations

from collections import Counter
from typing import Any

import quarter  # tests/scenarios/quarter.py (see conftest.py)


def test_the_quarter_reports_exactly_the_hand_worked_items(store: Any) -> None:
    result = quarter.replay(store)
    got = result.expected_form()
    missing = sorted(set(quarter.EXPECTED_ITEMS) - set(got))
    extra = sorted(set(got) - set(quarter.EXPECTED_ITEMS))
    assert not missing and not extra, f"missing {missing}\nextra {extra}"
    # each item exactly once
    assert len(got) == len(quarter.EXPECTED_ITEMS)
    assert not [k for k, n in Counter(i.id for i in result.items).items() if n > 1]
    assert not any(i.unrouted for i in result.items)


def test_the_quarter_ends_with_the_hand_worked_deal_outcomes(store: Any) -> None:
    quarter.replay(store)
    assert quarter.deal_outcomes(store) == quarter.EXPECTED_STATUS


def test_the_replayed_states_agree_with_the_engine_and_the_batch(store: Any) -> None:
    result = quarter.replay(store)
    engine = quarter.team_engine()
    end = quarter.LAST_DAY.replace(hour=23, minute=59)
    states = list(result.states.values())
    one_by_one = sorted(i.id for s in states for i in engine.evaluate(s, end))
    assert sorted(i.id for i in engine.evaluate_batch(states, end)) == one_by_one
