"""Stage-to-stage conversion with the bottleneck, win rates (cohort and snapshot), lead conversion.

Stage conversion (cohort)
    From the cohort funnel: for consecutive steps k → k+1, ``rate = reached(k+1) / reached(k)``
    (those who got to k and went on to k+1 or further). The bottleneck is the step with the lowest
    rate among steps someone entered (the earliest on ties).

Win rate, cohort (``kind="cohort"``)
    ``won / n``: of the opportunities created in ``[start, end)``, the share that reached a won
    stage within ``horizon`` of creation. By value: Σ amount won / Σ amount created.

Win rate, snapshot (``kind="snapshot"``)
    ``won / (won + lost)`` among opportunities whose ``closed_at`` is in ``[start, end)`` and whose
    ``stage`` is won or lost. By value: Σ amount won / Σ amount closed. Open deals are excluded.

Lead conversion (cohort)
    Of the leads created in ``[start, end)``, the share with an opportunity (``lead_id`` = the lead's
    id) created at or before ``lead.created_at + horizon`` (any time when ``horizon`` is ``None``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pipeline_core._optional import require
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.facts import is_closed_stage, is_won_stage
from pipeline_core.metrics import inputs
from pipeline_core.metrics._common import (
    CONVERT_FIRST_OR_COUNTS,
    check_currencies,
    group_sort_key,
    grouped_rows,
    ratio,
    zero,
)
from pipeline_core.metrics.funnel import StagesArg, cohort_funnel
from pipeline_core.metrics.results import ConversionResult, FunnelResult, MetricTable, WinRateResult
from pipeline_core.records import Lead, Opportunity

__all__ = ["lead_conversion", "stage_conversion", "win_rate"]

_HOW = CONVERT_FIRST_OR_COUNTS


def stage_conversion(
    opportunities: Any,
    events: Any,
    *,
    stages: StagesArg,
    start: datetime,
    end: datetime,
    horizon: timedelta | None = None,
    by: Sequence[str] = (),
) -> ConversionResult:
    """Stage-to-stage conversion of the cohort created in ``[start, end)``; ``.bottleneck()`` names
    the weakest step."""
    return _cohort(opportunities, events, stages, start, end, horizon, by, False).conversion()


def win_rate(
    opportunities: Any,
    events: Any = None,
    *,
    stages: StagesArg,
    start: datetime,
    end: datetime,
    kind: Literal["cohort", "snapshot"] = "snapshot",
    horizon: timedelta | None = None,
    by: Sequence[str] = (),
    value: bool = True,
) -> WinRateResult:
    """Win rate by count (``rate``) and by value (``rate_value``), labelled cohort or snapshot (see
    the module docstring). ``kind="cohort"`` needs the stage ``events``."""
    if kind == "cohort":
        if events is None:
            raise ValidationError(
                "events",
                [
                    Problem(
                        ("events",), "a cohort win rate needs stage events", None, "missing", True
                    )
                ],
            )
        return _cohort(opportunities, events, stages, start, end, horizon, by, value).win_rate()
    if kind != "snapshot":
        raise ValidationError("kind", [Problem(("kind",), "expected 'cohort' or 'snapshot'", kind)])
    order = inputs.stage_order(stages)
    s, e = inputs.check_period(start, end)
    by = tuple(by)
    if inputs.is_frame(opportunities):
        raw, currency = _snapshot_frames(opportunities, order, s, e, by, value)
    else:
        raw, currency = _snapshot_records(opportunities, order, s, e, by, value)
    rows = []
    for key in sorted(raw, key=group_sort_key):
        won, lost, vw, vl = raw[key]
        row: tuple[Any, ...] = (*key, won + lost, won, lost, ratio(won, won + lost))
        if value:
            row = (*row, vw + vl, vw, ratio(vw, vw + vl))
        rows.append(row)
    value_columns = ("value", "won_value", "rate_value") if value else ()
    columns = ("n", "won", "lost", "rate", *value_columns)
    params = {"start": start, "end": end, "currency": currency}
    return WinRateResult.of("win_rate", "snapshot", by, columns, rows, params)


def _cohort(
    opportunities: Any,
    events: Any,
    stages: StagesArg,
    start: datetime,
    end: datetime,
    horizon: timedelta | None,
    by: Sequence[str],
    value: bool,
) -> FunnelResult:
    """The cohort funnel that stage conversion and the cohort win rate are read from."""
    return cohort_funnel(
        opportunities,
        events,
        stages=stages,
        start=start,
        end=end,
        horizon=horizon,
        by=by,
        value=value,
    )


_WinRaw = dict[tuple[Any, ...], tuple[int, int, float, float]]


def _inconsistent(count: int) -> ValidationError:
    return ValidationError(
        "opportunities",
        [
            Problem(
                ("stage",),
                f"{count} opportunities have closed_at set but an open stage, or a won/lost stage "
                "without closed_at",
                count,
                "inconsistent_close",
            )
        ],
    )


def _snapshot_records(
    opportunities: Iterable[Opportunity],
    order: inputs.StageOrder,
    s: int,
    e: int,
    by: tuple[str, ...],
    value: bool,
) -> tuple[_WinRaw, str | None]:
    opps = inputs.as_records(opportunities, Opportunity, "opportunities")
    known = set(order.all_ids)
    unknown = {o.stage for o in opps if o.stage not in known}
    if unknown:
        raise inputs.unknown_stages_error(unknown, order)
    bad = sum(1 for o in opps if (o.closed_at is None) == is_closed_stage(o.stage, order))
    if bad:
        raise _inconsistent(bad)
    acc: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])
    currencies: list[str | None] = []
    for o in opps:
        if o.closed_at is None or not s <= inputs.epoch_seconds(o.closed_at, "closed_at") < e:
            continue
        amount = 0.0
        if o.expected_amount is not None:
            amount = float(o.expected_amount.amount)
            currencies.append(o.expected_amount.currency)
        for key in inputs.group_keys(o, by):
            cell = acc[key]
            if is_won_stage(o.stage, order):
                cell[0] += 1
                cell[2] += amount
            else:
                cell[1] += 1
                cell[3] += amount
    currency = check_currencies(currencies, "opportunities", how=_HOW) if value else None
    return {k: (int(v[0]), int(v[1]), v[2], v[3]) for k, v in acc.items()}, currency


def _snapshot_frames(
    opportunities: Any, order: inputs.StageOrder, s: int, e: int, by: tuple[str, ...], value: bool
) -> tuple[_WinRaw, str | None]:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    from pipeline_core.metrics._frames import collect_rows, prepare_opportunities, stage_in

    opp = prepare_opportunities(
        opportunities,
        columns=("id", "stage", "closed_at"),
        by=by,
        value=value,
        time_columns=("closed_at",),
    )
    is_won = stage_in("stage", order.won_ids)
    is_closed = stage_in("stage", (*order.won_ids, *order.lost_ids))
    has_close = ~nw.col("closed_at").is_null()
    in_period = has_close & (nw.col("closed_at") >= s) & (nw.col("closed_at") < e)
    opp = opp.with_columns(
        _won=(in_period & is_won & is_closed).cast(nw.Int64),
        _lost=(in_period & ~is_won & is_closed).cast(nw.Int64),
        _bad=(has_close != is_closed).cast(nw.Int64),
        _unk=(~stage_in("stage", order.all_ids)).cast(nw.Int64),
    )
    aggs = [
        nw.col("_won").sum(),
        nw.col("_lost").sum(),
        nw.col("_bad").sum(),
        nw.col("_unk").sum(),
    ]
    if value:
        amount = nw.col("amount").cast(nw.Float64).fill_null(0.0)
        opp = opp.with_columns(
            _vw=nw.when(nw.col("_won") == 1).then(amount).otherwise(nw.lit(0.0)),
            _vl=nw.when(nw.col("_lost") == 1).then(amount).otherwise(nw.lit(0.0)),
            _cur=nw.when(in_period & is_closed).then(nw.col("currency")).otherwise(nw.lit(None)),
        )
        aggs += [
            nw.col("_vw").sum(),
            nw.col("_vl").sum(),
            nw.col("_cur").min().alias("_cmin"),
            nw.col("_cur").max().alias("_cmax"),
        ]
    rows = collect_rows(opp.group_by(*by).agg(*aggs) if by else opp.select(*aggs))
    if any(zero(r["_unk"]) for r in rows):
        bad = collect_rows(opp.filter(nw.col("_unk") == 1).select("stage").unique())
        raise inputs.unknown_stages_error([r["stage"] for r in bad], order)
    n_bad = sum(int(zero(r["_bad"])) for r in rows)
    if n_bad:
        raise _inconsistent(n_bad)
    currency = None
    if value:
        currency = check_currencies(
            [x for r in rows for x in (r["_cmin"], r["_cmax"])], "opportunities", how=_HOW
        )
    raw: _WinRaw = {}
    for r in rows:
        won, lost = int(zero(r["_won"])), int(zero(r["_lost"]))
        if won + lost == 0:
            continue
        vw = float(zero(r.get("_vw"))) if value else 0.0
        vl = float(zero(r.get("_vl"))) if value else 0.0
        raw[tuple(r[b] for b in by)] = (won, lost, vw, vl)
    return raw, currency


# --------------------------------------------------------------------------- leads


def lead_conversion(
    leads: Any,
    opportunities: Any,
    *,
    start: datetime,
    end: datetime,
    horizon: timedelta | None = None,
    by: Sequence[str] = (),
) -> MetricTable:
    """Lead → opportunity conversion of the leads created in ``[start, end)`` (cohort); ``by``
    groups by lead columns (``source``, ``owner_id`` ...)."""
    s, e = inputs.check_period(start, end)
    h = None if horizon is None else inputs.positive_seconds(horizon, "horizon")
    by = tuple(by)
    counts: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    if inputs.is_frame(leads) or inputs.is_frame(opportunities):
        require("narwhals.stable.v2", "frames")
        import narwhals.stable.v2 as nw

        from pipeline_core.metrics._frames import collect_rows, prepare

        ld = prepare(
            leads, what="leads", required=("id", "created_at", *by), time_columns=("created_at",)
        )
        op = prepare(
            opportunities,
            what="opportunities",
            required=("lead_id", "created_at"),
            time_columns=("created_at",),
        )
        first = (
            op.filter(~nw.col("lead_id").is_null())
            .group_by("lead_id")
            .agg(nw.col("created_at").min().alias("_opp_at"))
        )
        c = ld.filter((nw.col("created_at") >= s) & (nw.col("created_at") < e)).select(
            "id", "created_at", *by
        )
        c = c.join(first, left_on="id", right_on="lead_id", how="left")
        conv = ~nw.col("_opp_at").is_null()
        if h is not None:
            conv = conv & (nw.col("_opp_at") <= nw.col("created_at") + h)
        c = c.with_columns(_c=conv.fill_null(False).cast(nw.Int64))
        aggs = [nw.len().alias("_n"), nw.col("_c").sum().alias("_k")]
        for r in collect_rows(c.group_by(*by).agg(*aggs) if by else c.select(*aggs)):
            if zero(r["_n"]):
                counts[tuple(r[b] for b in by)] = [int(r["_n"]), int(zero(r["_k"]))]
    else:
        opp_at: dict[str, int] = {}
        for o in inputs.as_records(opportunities, Opportunity, "opportunities"):
            if o.lead_id is not None:
                c0 = inputs.epoch_seconds(o.created_at)
                opp_at[o.lead_id] = min(c0, opp_at.get(o.lead_id, c0))
        for lead in inputs.as_records(leads, Lead, "leads"):
            c0 = inputs.epoch_seconds(lead.created_at, "created_at")
            if not s <= c0 < e:
                continue
            key = tuple(getattr(lead, b) if hasattr(lead, b) else lead.custom.get(b) for b in by)
            cell = counts[key]
            cell[0] += 1
            at = opp_at.get(lead.id)
            if at is not None and (h is None or at <= c0 + h):
                cell[1] += 1
    rows = grouped_rows(counts, lambda k, c: (*k, c[0], c[1], ratio(c[1], c[0])))
    params = {"start": start, "end": end, "horizon": horizon}
    return MetricTable.of(
        "lead_conversion", "cohort", by, ("leads", "converted", "rate"), rows, params
    )
