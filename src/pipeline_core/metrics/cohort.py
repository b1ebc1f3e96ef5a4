"""Customer cohorts after signing: repurchase and churn rates (records).

A *customer* is an account with at least one won opportunity (stage won, ``closed_at`` set,
``account_id`` set). Wins are dated by ``closed_at``.

Repurchase rate (cohort)
    Of the accounts whose **first** win closed in ``[start, end)``, the share with another win
    closing within ``window`` after that first win (``0 < later − first ≤ window``).
    Accounts whose window is not over at ``as_of`` are excluded (``pending``) so young customers
    do not pull the rate down.

Churn rate (period)
    Active at ``start`` = customers with a win in ``[start − lookback, start)``. Churned = active
    customers with no win in ``[start, end)``. ``churn_rate = churned / active``. (A renewal or
    repurchase is a won opportunity; pick ``lookback`` = the renewal cycle, default 365 days.)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from pipeline_core.facts import is_won_stage
from pipeline_core.metrics._common import ratio
from pipeline_core.metrics.funnel import StagesArg
from pipeline_core.metrics.inputs import (
    as_records,
    check_period,
    epoch_seconds,
    positive_seconds,
    stage_order,
)
from pipeline_core.metrics.results import MetricTable
from pipeline_core.records import Opportunity

__all__ = ["churn_rate", "repurchase_rate"]


def _wins(opportunities: Iterable[Opportunity], stages: StagesArg) -> dict[str, list[int]]:
    order = stage_order(stages)
    out: dict[str, list[int]] = defaultdict(list)
    for o in as_records(opportunities, Opportunity, "opportunities"):
        if is_won_stage(o.stage, order) and o.closed_at is not None and o.account_id is not None:
            out[o.account_id].append(epoch_seconds(o.closed_at, "closed_at"))
    for v in out.values():
        v.sort()
    return out


def repurchase_rate(
    opportunities: Iterable[Opportunity],
    *,
    stages: StagesArg,
    start: datetime,
    end: datetime,
    window: timedelta,
    as_of: datetime,
) -> MetricTable:
    """Repurchase rate of the customers first won in ``[start, end)`` (see the module docstring)."""
    s, e = check_period(start, end)
    w = positive_seconds(window, "window")
    t = epoch_seconds(as_of, "as_of")
    n = repurchased = pending = 0
    for wins in _wins(opportunities, stages).values():
        first = wins[0]
        if not s <= first < e:
            continue
        again = any(0 < x - first <= w for x in wins[1:])
        if not again and first + w > t:
            pending += 1
            continue
        n += 1
        repurchased += again
    return MetricTable(
        metric="repurchase_rate",
        kind="cohort",
        columns=("customers", "repurchased", "pending", "rate"),
        rows=((n, repurchased, pending, ratio(repurchased, n)),),
        params={"start": start, "end": end, "window": window, "as_of": as_of},
    )


def churn_rate(
    opportunities: Iterable[Opportunity],
    *,
    stages: StagesArg,
    start: datetime,
    end: datetime,
    lookback: timedelta = timedelta(days=365),
) -> MetricTable:
    """Churn over ``[start, end)`` of the customers active at ``start`` (see the module docstring)."""
    s, e = check_period(start, end)
    lb = positive_seconds(lookback, "lookback")
    active = churned = 0
    for wins in _wins(opportunities, stages).values():
        if not any(s - lb <= x < s for x in wins):
            continue
        active += 1
        churned += not any(s <= x < e for x in wins)
    return MetricTable(
        metric="churn_rate",
        kind="period",
        columns=("active", "churned", "rate"),
        rows=((active, churned, ratio(churned, active)),),
        params={"start": start, "end": end, "lookback": lookback},
    )
