"""Per-rep scorecard over a period (records).

For each owner (``owner_id`` of the opportunity):

- ``won`` / ``lost``: deals closed won / lost in ``[start, end)``; ``win_rate = won / (won + lost)``.
- ``signed``: Σ amount of the deals won in the period (one currency).
- ``new_customers``: accounts whose **first** won deal ever closed in the period, credited to the
  owner of that deal.
- ``collected``: Σ of ``collections[opportunity_id]`` (money received, given by you: the library
  holds no invoices) over the deals won in the period; ``collection_rate = collected / signed``.
- ``laggard``: ``signed`` below ``laggard_share`` (default 0.5) × the median ``signed`` of all reps
  in the table, so laggards are visible at a glance.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pipeline_core.facts import deal_status
from pipeline_core.metrics._common import CONVERT_FIRST, check_currencies, ratio
from pipeline_core.metrics.funnel import StagesArg
from pipeline_core.metrics.inputs import as_records, check_period, epoch_seconds, stage_order
from pipeline_core.metrics.results import MetricTable
from pipeline_core.records import Opportunity

__all__ = ["scorecard"]

_HOW = CONVERT_FIRST


def scorecard(
    opportunities: Iterable[Opportunity],
    *,
    stages: StagesArg,
    start: datetime,
    end: datetime,
    collections: Mapping[str, Decimal | int | float] | None = None,
    laggard_share: float = 0.5,
) -> MetricTable:
    """The per-rep scorecard (see the module docstring)."""
    order = stage_order(stages)
    s, e = check_period(start, end)
    opps = as_records(opportunities, Opportunity, "opportunities")
    paid = collections or {}
    acc: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"won": 0, "lost": 0, "signed": 0.0, "new": 0, "collected": 0.0}
    )
    first_win: dict[str, tuple[datetime, str, str, int]] = {}
    currencies: list[str | None] = []
    for o in opps:
        if o.closed_at is None:
            continue
        c = epoch_seconds(o.closed_at, "closed_at")
        status = deal_status(o, order)  # by the stage's kind (pipeline_core.facts)
        if status == "won" and o.account_id is not None:
            cur = first_win.get(o.account_id)  # the first win at full precision, not the second
            if cur is None or (o.closed_at, o.id) < (cur[0], cur[1]):
                first_win[o.account_id] = (o.closed_at, o.id, o.owner_id, c)
        if not s <= c < e:
            continue
        cell = acc[o.owner_id]
        if status == "won":
            cell["won"] += 1
            if o.expected_amount is not None:
                cell["signed"] += float(o.expected_amount.amount)
                currencies.append(o.expected_amount.currency)
            cell["collected"] += float(paid.get(o.id, 0))
        elif status == "lost":
            cell["lost"] += 1
    for _at, _id, owner, c in first_win.values():
        if s <= c < e:
            acc[owner]["new"] += 1
    currency = check_currencies(currencies, "opportunities", how=_HOW)
    median = statistics.median([v["signed"] for v in acc.values()]) if acc else 0.0
    rows = tuple(
        (
            owner,
            v["won"],
            v["lost"],
            ratio(v["won"], v["won"] + v["lost"]),
            v["new"],
            v["signed"],
            v["collected"],
            ratio(v["collected"], v["signed"]),
            v["signed"] < laggard_share * median,
        )
        for owner, v in sorted(acc.items())
    )
    return MetricTable(
        metric="scorecard",
        kind="period",
        columns=(
            "owner_id",
            "won",
            "lost",
            "win_rate",
            "new_customers",
            "signed",
            "collected",
            "collection_rate",
            "laggard",
        ),
        rows=rows,
        group_by=("owner_id",),
        params={"start": start, "end": end, "currency": currency, "laggard_share": laggard_share},
    )
