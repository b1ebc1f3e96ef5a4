"""Cohort funnel and stage snapshot, on records or any narwhals-supported frame.

Cohort funnel (``kind="cohort"``)
    cohort = opportunities with ``start ≤ created_at < end``. An opportunity's *furthest rank* is
    ``max(0, max rank of its stage events with at ≤ created_at + horizon)`` (every event when
    ``horizon`` is ``None``); creating it reaches the first step (rank 0); lost stages rank −1, so a
    lost deal keeps the furthest stage it got to. ``reached(k)`` = cohort members with furthest rank ≥ k.
    ``share = reached(k) / cohort``; ``conversion = reached(k) / reached(k−1)``;
    ``value(k)`` = Σ amount over those that reached k (missing amounts count 0; one currency only).

Snapshot at ``at`` (``kind="snapshot"``)
    each opportunity's stage is the ``to_stage`` of its last event with ``event.at ≤ at`` (latest
    ``at``; ties broken by the largest event ``id``); count and Σ amount per stage. Opportunities
    without an event at or before ``at`` did not exist yet and are not counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pipeline_core._deprecation import renamed_params
from pipeline_core._optional import require
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.facts import event_order
from pipeline_core.metrics._common import (
    CONVERT_FIRST_OR_COUNTS,
    check_currencies,
    group_sort_key,
    missing_at_error,
    ratio,
    zero,
)
from pipeline_core.metrics.inputs import (
    StageKindsLike,
    StageOrder,
    as_records,
    check_period,
    epoch_micros,
    epoch_seconds,
    group_keys,
    is_frame,
    money_float,
    positive_seconds,
    stage_order,
    unknown_stages_error,
)
from pipeline_core.metrics.results import FunnelResult, SnapshotResult
from pipeline_core.records import Opportunity, StageEvent

__all__ = ["cohort_funnel", "snapshot"]

_HOW = CONVERT_FIRST_OR_COUNTS

StagesArg = StageKindsLike | Sequence[str] | StageOrder


def _missing_created_error(count: int) -> ValidationError:
    return ValidationError(
        "opportunities",
        [
            Problem(
                ("created_at",), f"{count} opportunities have no created_at", None, "missing", True
            )
        ],
    )


def cohort_funnel(
    opportunities: Any,
    events: Any,
    *,
    stages: StagesArg,
    start: datetime,
    end: datetime,
    horizon: timedelta | None = None,
    by: Sequence[str] = (),
    value: bool = True,
) -> FunnelResult:
    """The cohort funnel of opportunities created in ``[start, end)``: for each step (open stages in
    order, then won), how many reached it or further within ``horizon`` of their creation.

    ``opportunities``/``events``: iterables of records, or frames in the flat layout
    (:mod:`pipeline_core.metrics.inputs`). ``by``: opportunity columns to group by (``source``,
    ``owner_id``, ``team_id``, any extra column or custom field). ``value``: also sum ``amount``.

    Raises :class:`ValidationError` for an unknown stage, an event or opportunity without a
    timestamp, mixed currencies (with ``value=True``), or missing columns.
    """
    order = stage_order(stages)
    s, e = check_period(start, end)
    h = None if horizon is None else positive_seconds(horizon, "horizon")
    by = tuple(by)
    if is_frame(opportunities) or is_frame(events):
        raw, currency = _funnel_frames(opportunities, events, order, s, e, h, by, value)
    else:
        raw, currency = _funnel_records(opportunities, events, order, s, e, h, by, value)
    rows: list[tuple[Any, ...]] = []
    for key in sorted(raw, key=group_sort_key):
        cohort, reached, values = raw[key]
        prev: int | None = None
        for k, step in enumerate(order.steps):
            row: tuple[Any, ...] = (
                *key,
                step,
                k,
                cohort,
                reached[k],
                ratio(reached[k], cohort),
                None if prev is None else ratio(reached[k], prev),
            )
            if value:
                row = (*row, float(values[k]))
            rows.append(row)
            prev = reached[k]
    columns = ("stage", "rank", "cohort", "reached", "share", "conversion", *_value_column(value))
    params = {"start": start, "end": end, "horizon": horizon, "currency": currency}
    return FunnelResult.of("cohort_funnel", "cohort", by, columns, rows, params)


def _value_column(value: bool) -> tuple[str, ...]:
    """The ``value`` column of a table that sums the deals' amounts (none for counts only)."""
    return ("value",) if value else ()


_Raw = dict[tuple[Any, ...], tuple[int, list[int], list[float]]]


def _funnel_records(
    opportunities: Iterable[Opportunity],
    events: Iterable[StageEvent],
    order: StageOrder,
    s: int,
    e: int,
    h: int | None,
    by: tuple[str, ...],
    value: bool,
) -> tuple[_Raw, str | None]:
    opps = as_records(opportunities, Opportunity, "opportunities")
    evs = as_records(events, StageEvent, "stage events")
    ranks = order.ranks()
    cohort: dict[str, tuple[Opportunity, int]] = {}
    for o in opps:
        c = epoch_seconds(o.created_at, "created_at")
        if s <= c < e:
            cohort[o.id] = (o, c)
    furthest = dict.fromkeys(cohort, 0)
    unknown: set[str] = set()
    for ev in evs:
        member = cohort.get(ev.opportunity_id)
        if member is None:
            continue
        rank = ranks.get(ev.to_stage)
        if rank is None:
            unknown.add(ev.to_stage)
            continue
        if h is not None and epoch_seconds(ev.at) > member[1] + h:
            continue
        if rank > furthest[ev.opportunity_id]:
            furthest[ev.opportunity_id] = rank
    if unknown:
        raise unknown_stages_error(unknown, order)
    n = len(order.steps)
    raw: _Raw = {}
    currencies: list[str | None] = []
    for oid, (o, _c) in cohort.items():
        f = furthest[oid]
        amount = money_float(o.expected_amount.amount) if o.expected_amount else None
        if value and o.expected_amount is not None:
            currencies.append(o.expected_amount.currency)
        for key in group_keys(o, by):
            entry = raw.setdefault(key, (0, [0] * n, [0.0] * n))
            reached, values = entry[1], entry[2]
            for k in range(f + 1):
                reached[k] += 1
                if amount is not None:
                    values[k] += amount
            raw[key] = (entry[0] + 1, reached, values)
    currency = check_currencies(currencies, "opportunities", how=_HOW) if value else None
    return raw, currency


def _funnel_frames(
    opportunities: Any,
    events: Any,
    order: StageOrder,
    s: int,
    e: int,
    h: int | None,
    by: tuple[str, ...],
    value: bool,
) -> tuple[_Raw, str | None]:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    from pipeline_core.metrics._frames import (
        collect_rows,
        prepare_events,
        prepare_opportunities,
        rank_expr,
        value_columns,
    )

    value_cols = value_columns(value)
    opp = prepare_opportunities(
        opportunities,
        columns=("id", "created_at"),
        by=by,
        value=value,
        time_columns=("created_at",),
    )
    ev = prepare_events(events, ("opportunity_id", "to_stage", "at"))
    nulls = collect_rows(opp.select(nw.col("created_at").null_count().alias("n")))[0]["n"]
    if nulls:
        raise _missing_created_error(int(nulls))
    cohort = opp.filter((nw.col("created_at") >= s) & (nw.col("created_at") < e)).select(
        "id", "created_at", *dict.fromkeys((*by, *value_cols))
    )
    j = ev.select("opportunity_id", "to_stage", "at").join(
        cohort.select(nw.col("id").alias("_oid"), nw.col("created_at").alias("_created")),
        left_on="opportunity_id",
        right_on="_oid",
        how="inner",
    )
    rank = rank_expr("to_stage", order)
    j = j.with_columns(
        _rank=rank,
        _unknown=rank.is_null().cast(nw.Int64),
        _nat=nw.col("at").is_null().cast(nw.Int64),
    )
    if h is not None:
        j = j.with_columns(
            _rank=nw.when(nw.col("at") <= nw.col("_created") + h)
            .then(nw.col("_rank"))
            .otherwise(nw.lit(None))
        )
    per = j.group_by("opportunity_id").agg(
        nw.col("_rank").max().alias("_furthest"),
        nw.col("_unknown").sum().alias("_unk"),
        nw.col("_nat").sum().alias("_nat"),
    )
    c = cohort.join(per, left_on="id", right_on="opportunity_id", how="left")
    f = nw.col("_furthest").fill_null(0)
    c = c.with_columns(
        _f=nw.when(f > 0).then(f).otherwise(nw.lit(0)),
        _unk=nw.col("_unk").fill_null(0),
        _nat=nw.col("_nat").fill_null(0),
    )
    n = len(order.steps)
    cols = [(nw.col("_f") >= k).cast(nw.Int64).alias(f"_r{k}") for k in range(1, n)]
    if value:
        amount = nw.col("amount").cast(nw.Float64)
        cols += [
            nw.when(nw.col("_f") >= k).then(amount).otherwise(nw.lit(0.0)).alias(f"_v{k}")
            for k in range(n)
        ]
    c = c.with_columns(cols)
    aggs = [
        nw.len().alias("_cohort"),
        *[nw.col(f"_r{k}").sum() for k in range(1, n)],
        nw.col("_unk").sum(),
        nw.col("_nat").sum(),
    ]
    if value:
        aggs += [nw.col(f"_v{k}").sum() for k in range(n)]
        aggs += [nw.col("currency").min().alias("_cmin"), nw.col("currency").max().alias("_cmax")]
    out = c.group_by(*by).agg(*aggs) if by else c.select(*aggs)
    rows = collect_rows(out)
    if any(zero(r["_unk"]) for r in rows):
        _raise_unknown(ev, order)
    nat = sum(int(zero(r["_nat"])) for r in rows)
    if nat:
        raise missing_at_error(nat)
    currency = None
    if value:
        currency = check_currencies(
            [x for r in rows if r["_cohort"] for x in (r["_cmin"], r["_cmax"])],
            "opportunities",
            how=_HOW,
        )
    raw: _Raw = {}
    for r in rows:
        cohort_n = int(zero(r["_cohort"]))
        if not cohort_n:
            continue
        key = tuple(r[b] for b in by)
        reached = [cohort_n] + [int(zero(r[f"_r{k}"])) for k in range(1, n)]
        values = [float(zero(r[f"_v{k}"])) for k in range(n)] if value else [0.0] * n
        raw[key] = (cohort_n, reached, values)
    return raw, currency


def _raise_unknown(ev: Any, order: StageOrder) -> None:
    """Error path only: list the unknown stage ids (a small distinct query)."""
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    from pipeline_core.metrics._frames import collect_rows

    known = list(order.all_ids)
    bad = ev.filter(~nw.col("to_stage").is_in(known).fill_null(False)).select("to_stage").unique()
    raise unknown_stages_error([r["to_stage"] for r in collect_rows(bad)], order)


# --------------------------------------------------------------------------- snapshot


@renamed_params(at="as_of")
def snapshot(
    opportunities: Any,
    events: Any,
    *,
    stages: StagesArg,
    as_of: datetime,
    by: Sequence[str] = (),
    value: bool = True,
) -> SnapshotResult:
    """Count (and Σ amount) per stage at the evaluation instant ``as_of`` (``at=`` is its old
    name), rebuilt from stage events: each opportunity is in the ``to_stage`` of its last event at
    or before ``as_of``. Every stage of the
    pipeline gets a row (zero when empty), open stages first, then won, then lost.
    """
    order = stage_order(stages)
    t = epoch_micros(as_of, "as_of")  # events at or before the instant itself, not its second
    by = tuple(by)
    if is_frame(opportunities) or is_frame(events):
        raw, currency = _snapshot_frames(opportunities, events, order, t, by, value)
    else:
        raw, currency = _snapshot_records(opportunities, events, order, t, by, value)
    rows: list[tuple[Any, ...]] = []
    for key in sorted(raw, key=group_sort_key):
        per = raw[key]
        for sid in order.all_ids:
            n, v = per.get(sid, (0, 0.0))
            row: tuple[Any, ...] = (*key, sid, n)
            rows.append((*row, float(v)) if value else row)
    columns = ("stage", "count", *_value_column(value))
    params = {"as_of": as_of, "currency": currency}
    return SnapshotResult.of("snapshot", "snapshot", by, columns, rows, params)


_SnapRaw = dict[tuple[Any, ...], dict[str, tuple[int, float]]]


def _snapshot_records(
    opportunities: Iterable[Opportunity],
    events: Iterable[StageEvent],
    order: StageOrder,
    t: int,
    by: tuple[str, ...],
    value: bool,
) -> tuple[_SnapRaw, str | None]:
    opps = {o.id: o for o in as_records(opportunities, Opportunity, "opportunities")}
    last: dict[str, tuple[tuple[datetime, int], str, str]] = {}
    for ev in as_records(events, StageEvent, "stage events"):
        if ev.opportunity_id not in opps:
            continue
        if epoch_micros(ev.at) > t:
            continue
        cur = last.get(ev.opportunity_id)
        key = event_order(ev)  # full precision, then seq; the id only for equal keys
        if cur is None or (key, ev.id) > (cur[0], cur[1]):
            last[ev.opportunity_id] = (key, ev.id, ev.to_stage)
    known = set(order.all_ids)
    unknown = {st for _, _, st in last.values() if st not in known}
    if unknown:
        raise unknown_stages_error(unknown, order)
    raw: _SnapRaw = defaultdict(dict)
    currencies: list[str | None] = []
    for oid, (_a, _i, stage) in last.items():
        o = opps[oid]
        amount = 0.0
        if o.expected_amount is not None:
            amount = float(o.expected_amount.amount)
            currencies.append(o.expected_amount.currency)
        for key in group_keys(o, by):
            per = raw[key]
            n, v = per.get(stage, (0, 0.0))
            per[stage] = (n + 1, v + amount)
    currency = check_currencies(currencies, "opportunities", how=_HOW) if value else None
    return dict(raw), currency


def _snapshot_frames(
    opportunities: Any,
    events: Any,
    order: StageOrder,
    t: int,
    by: tuple[str, ...],
    value: bool,
) -> tuple[_SnapRaw, str | None]:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    from pipeline_core.metrics._frames import (
        collect_rows,
        last_event,
        prepare_events,
        prepare_opportunities,
        value_columns,
    )

    value_cols = value_columns(value)
    opp = prepare_opportunities(opportunities, columns=("id",), by=by, value=value)
    ev = prepare_events(events, ("id", "opportunity_id", "to_stage", "at"))
    nat = collect_rows(ev.select(nw.col("at").null_count().alias("n")))[0]["n"]
    if nat:
        raise missing_at_error(int(nat))
    last = last_event(ev, t).select("id", "opportunity_id", "to_stage", "at")
    j = last.select("opportunity_id", "to_stage").join(
        opp.select("id", *dict.fromkeys((*by, *value_cols))),
        left_on="opportunity_id",
        right_on="id",
        how="inner",
    )
    aggs = [nw.len().alias("_n")]
    if value:
        j = j.with_columns(_amount=nw.col("amount").cast(nw.Float64).fill_null(0.0))
        aggs += [
            nw.col("_amount").sum().alias("_v"),
            nw.col("currency").min().alias("_cmin"),
            nw.col("currency").max().alias("_cmax"),
        ]
    rows = collect_rows(j.group_by(*by, "to_stage").agg(*aggs))
    known = set(order.all_ids)
    unknown = {r["to_stage"] for r in rows if r["to_stage"] not in known}
    if unknown:
        raise unknown_stages_error(unknown, order)
    currency = None
    if value:
        currency = check_currencies(
            [x for r in rows for x in (r["_cmin"], r["_cmax"])], "opportunities", how=_HOW
        )
    raw: _SnapRaw = defaultdict(dict)
    for r in rows:
        key = tuple(r[b] for b in by)
        raw[key][r["to_stage"]] = (int(r["_n"]), float(zero(r.get("_v"))))
    return dict(raw), currency
