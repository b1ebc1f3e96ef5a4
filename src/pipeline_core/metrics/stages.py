"""Time in stage and stage aging ("rotting"), rebuilt from stage events.

Time in stage
    Per opportunity, events are ordered by ``(at, id)``. A *stay* in stage ``s`` starts at an
    event with ``to_stage = s`` and ends at the opportunity's next event; its duration is
    ``next.at − at`` in whole seconds (epoch seconds, floored). The last stay of an opportunity has
    no end: it is *open* (counted in ``open``, excluded from the quantiles: completed stays only).
    With ``as_of``, events after it are ignored. Reported for open stages only: ``n`` (completed
    stays), ``median_days``, ``p90_days`` (linear-interpolation quantiles, type 7, exact on every
    engine), ``mean_days``, ``open``.
    Events must chain: an event's ``from_stage`` must equal the previous event's ``to_stage`` (the
    first event of an opportunity may have any ``from_stage``); otherwise the history is out of
    order and :class:`ValidationError` (``out_of_order``) is raised.

Rotting
    An opportunity is *rotting* at ``as_of`` when its current stage (last event at or before
    ``as_of``) is open, has a limit, and ``as_of − entered_at > limit``. The clock starts at the
    stage entry (the last stage event); limits per stage come from ``limits`` or the pipeline's
    ``rotting_days``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pipeline_core._optional import require
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.facts import event_order
from pipeline_core.metrics._common import group_sort_key, missing_at_error, quantile_linear, zero
from pipeline_core.metrics.funnel import StagesArg
from pipeline_core.metrics.inputs import (
    StageOrder,
    as_records,
    epoch_micros,
    epoch_seconds,
    group_keys,
    is_frame,
    stage_order,
    unknown_stages_error,
)
from pipeline_core.metrics.results import MetricTable, TimeInStageResult
from pipeline_core.records import Opportunity, StageEvent

__all__ = ["rotting", "time_in_stage"]

_DAY = 86_400.0


def _out_of_order_error(count: int, example: str | None = None) -> ValidationError:
    where = f" (e.g. opportunity {example})" if example else ""
    return ValidationError(
        "stage events",
        [
            Problem(
                ("from_stage",),
                f"{count} stage events do not chain: from_stage differs from the previous event's "
                f"to_stage when ordered by (at, id){where}; the history is out of order or incomplete",
                count,
                "out_of_order",
            )
        ],
    )


def _qname(q: float) -> str:
    return "median_days" if q == 0.5 else f"p{round(q * 100):d}_days"


def time_in_stage(
    events: Any,
    *,
    stages: StagesArg,
    opportunities: Any = None,
    as_of: datetime | None = None,
    by: Sequence[str] = (),
    quantiles: Sequence[float] = (0.5, 0.9),
) -> TimeInStageResult:
    """Time spent in each open stage (completed stays), with the number of stays still open.

    ``by`` groups by opportunity columns and then needs ``opportunities``.
    """
    order = stage_order(stages)
    t = None if as_of is None else epoch_micros(as_of, "as_of")  # a cut-off: full precision
    by = tuple(by)
    qs = tuple(quantiles)
    for q in qs:
        if not 0 <= q <= 1:
            raise ValidationError("quantiles", [Problem(("quantiles",), "must be in [0, 1]", q)])
    if by and opportunities is None:
        raise ValidationError(
            "opportunities",
            [
                Problem(
                    ("opportunities",),
                    "grouping by opportunity columns needs opportunities",
                    None,
                    "missing",
                    True,
                )
            ],
        )
    if is_frame(events):
        raw = _tis_frames(events, opportunities, order, t, by, qs)
    else:
        raw = _tis_records(events, opportunities, order, t, by, qs)
    rows: list[tuple[Any, ...]] = []
    for key in sorted(raw, key=group_sort_key) or ([()] if not by else []):
        per = raw.get(key, {})
        for sid in order.open_ids:
            n, qvals, mean, n_open = per.get(sid, (0, [None] * len(qs), None, 0))
            rows.append(
                (
                    *key,
                    sid,
                    n,
                    *[None if v is None else v / _DAY for v in qvals],
                    None if mean is None else mean / _DAY,
                    n_open,
                )
            )
    return TimeInStageResult.of(
        "time_in_stage",
        "snapshot" if as_of is not None else "history",
        by,
        ("stage", "n", *[_qname(q) for q in qs], "mean_days", "open"),
        rows,
        {"as_of": as_of, "quantiles": list(qs)},
    )


_TisRaw = dict[tuple[Any, ...], dict[str, tuple[int, list[float | None], float | None, int]]]


def _tis_records(
    events: Iterable[StageEvent],
    opportunities: Iterable[Opportunity] | None,
    order: StageOrder,
    t: int | None,
    by: tuple[str, ...],
    qs: tuple[float, ...],
) -> _TisRaw:
    evs = as_records(events, StageEvent, "stage events")
    opps = (
        {o.id: o for o in as_records(opportunities, Opportunity, "opportunities")}
        if opportunities is not None
        else {}
    )
    known = set(order.all_ids)
    unknown = {
        e.to_stage
        for e in evs
        if e.to_stage not in known and (t is None or epoch_micros(e.at) <= t)
    }
    if unknown:
        raise unknown_stages_error(unknown, order)
    per_opp: dict[str, list[tuple[int, tuple[datetime, int], str, StageEvent]]] = defaultdict(list)
    for ev in evs:
        if t is None or epoch_micros(ev.at) <= t:
            a = epoch_seconds(ev.at)
            per_opp[ev.opportunity_id].append((a, event_order(ev), ev.id, ev))
    stays: dict[tuple[Any, ...], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    opens: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    breaks = 0
    example = None
    for oid, items in per_opp.items():
        if by:
            if oid not in opps:
                continue
            keys = group_keys(opps[oid], by)
        else:
            keys = [()]
        items.sort(key=lambda x: (x[1], x[2]))  # facts.event_order, then id
        for i, (a, _order, _id, ev) in enumerate(items):
            if i > 0 and ev.from_stage != items[i - 1][3].to_stage:
                breaks += 1
                example = example or oid
            for key in keys:
                if i + 1 < len(items):
                    stays[key][ev.to_stage].append(items[i + 1][0] - a)
                else:
                    opens[key][ev.to_stage] += 1
    if breaks:
        raise _out_of_order_error(breaks, example)
    raw: _TisRaw = {}
    for key in set(stays) | set(opens):
        out = {}
        for sid in order.all_ids:
            values = sorted(stays[key].get(sid, []))
            n_open = opens[key].get(sid, 0)
            if not values and not n_open:
                continue
            mean = sum(values) / len(values) if values else None
            out[sid] = (len(values), [quantile_linear(values, q) for q in qs], mean, n_open)
        raw[key] = out
    return raw


def _tis_frames(
    events: Any,
    opportunities: Any,
    order: StageOrder,
    t: int | None,
    by: tuple[str, ...],
    qs: tuple[float, ...],
) -> _TisRaw:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    from pipeline_core.metrics._frames import EXACT_AT, ORDER, SEQ, collect_rows, prepare

    ev = prepare(
        events,
        what="stage events",
        required=("id", "opportunity_id", "from_stage", "to_stage", "at"),
        time_columns=("at",),
    )
    ev = ev.select("id", "opportunity_id", "from_stage", "to_stage", "at", EXACT_AT, SEQ)
    if t is not None:
        ev = ev.filter((nw.col(EXACT_AT) <= t) | nw.col("at").is_null())
    ev = ev.with_columns(
        _next=nw.col("at").shift(-1).over("opportunity_id", order_by=list(ORDER)),
        _prev=nw.col("to_stage").shift(1).over("opportunity_id", order_by=list(ORDER)),
    )
    ev = ev.with_columns(
        _d=nw.col("_next") - nw.col("at"),
        _open=nw.col("_next").is_null().cast(nw.Int64),
        _brk=nw.when(nw.col("_prev").is_null())
        .then(nw.lit(0))
        .when(nw.col("from_stage").is_null())
        .then(nw.lit(1))
        .when(nw.col("from_stage") != nw.col("_prev"))
        .then(nw.lit(1))
        .otherwise(nw.lit(0)),
        _nat=nw.col("at").is_null().cast(nw.Int64),
        _done=(~nw.col("_next").is_null()).cast(nw.Int64),
    )
    if by:
        opp = prepare(opportunities, what="opportunities", required=("id", *by))
        ev = ev.join(
            opp.select("id", *by).rename({"id": "_oid"}),
            left_on="opportunity_id",
            right_on="_oid",
            how="inner",
        )
    aggs = [
        nw.col("_done").sum().alias("_n"),
        *[nw.col("_d").quantile(q, "linear").alias(f"_q{i}") for i, q in enumerate(qs)],
        nw.col("_d").mean().alias("_mean"),
        nw.col("_open").sum().alias("_open"),
        nw.col("_brk").sum().alias("_brk"),
        nw.col("_nat").sum().alias("_nat"),
    ]
    rows = collect_rows(ev.group_by(*by, "to_stage").agg(*aggs))
    nat = sum(int(zero(r["_nat"])) for r in rows)
    if nat:
        raise missing_at_error(nat)
    known = set(order.all_ids)
    unknown = {r["to_stage"] for r in rows if r["to_stage"] not in known}
    if unknown:
        raise unknown_stages_error(unknown, order)
    breaks = sum(int(zero(r["_brk"])) for r in rows)
    if breaks:
        raise _out_of_order_error(breaks)
    raw: _TisRaw = defaultdict(dict)
    for r in rows:
        key = tuple(r[b] for b in by)
        n = int(zero(r["_n"]))
        qvals = [
            None if n == 0 or r[f"_q{i}"] is None else float(r[f"_q{i}"]) for i in range(len(qs))
        ]
        mean = None if n == 0 or r["_mean"] is None else float(r["_mean"])
        raw[key][r["to_stage"]] = (n, qvals, mean, int(zero(r["_open"])))
    return dict(raw)


# --------------------------------------------------------------------------- rotting


def _limits(
    stages: StagesArg, limits: Mapping[str, timedelta] | None, order: StageOrder
) -> dict[str, int]:
    out: dict[str, int] = {}
    if limits is None:
        stage_fn = getattr(stages, "stage", None)
        if callable(stage_fn):
            for sid in order.open_ids:
                days = getattr(stage_fn(sid), "rotting_days", None)
                if days is not None:
                    out[sid] = int(days) * 86_400
        return out
    problems = []
    for sid, limit in limits.items():
        if sid not in order.open_ids:
            problems.append(
                Problem(("limits", sid), "not an open stage of the pipeline", sid, "unknown_stage")
            )
        elif not isinstance(limit, timedelta) or limit <= timedelta(0):
            problems.append(
                Problem(("limits", sid), "expected a positive timedelta", limit, "positive")
            )
        else:
            out[sid] = limit // timedelta(seconds=1)
    if problems:
        raise ValidationError("limits", problems)
    return out


def rotting(
    opportunities: Any,
    events: Any,
    *,
    stages: StagesArg,
    as_of: datetime,
    limits: Mapping[str, timedelta] | None = None,
    by: Sequence[str] = (),
) -> MetricTable:
    """Per open stage (and group): ``open`` deals in it at ``as_of``, ``rotting`` (in it longer than
    the stage's limit, counted from stage entry), and ``share`` = rotting / open. Stages without a
    limit report ``rotting`` as ``None``."""
    order = stage_order(stages)
    lim = _limits(stages, limits, order)
    snap = _current_stays(
        opportunities,
        events,
        order,
        epoch_seconds(as_of, "as_of"),
        tuple(by),
        lim,
        epoch_micros(as_of, "as_of"),
    )
    rows: list[tuple[Any, ...]] = []
    for key in sorted(snap, key=group_sort_key):
        for sid in order.open_ids:
            n_open, n_rot = snap[key].get(sid, (0, 0))
            rot = n_rot if sid in lim else None
            share = None if rot is None or not n_open else rot / n_open
            rows.append((*key, sid, n_open, rot, share))
    return MetricTable(
        metric="rotting",
        kind="snapshot",
        columns=(*by, "stage", "open", "rotting", "share"),
        rows=tuple(rows),
        group_by=tuple(by),
        params={"as_of": as_of, "limits_days": {k: v / _DAY for k, v in lim.items()}},
    )


def _current_stays(
    opportunities: Any,
    events: Any,
    order: StageOrder,
    t: int,
    by: tuple[str, ...],
    lim: dict[str, int],
    cut_us: int,
) -> dict[tuple[Any, ...], dict[str, tuple[int, int]]]:
    """Per group and open stage: deals in it at ``cut_us`` (the instant ``as_of`` at full
    precision) and how many stayed longer than the limit (``t``: ``as_of`` in epoch seconds)."""
    out: dict[tuple[Any, ...], dict[str, tuple[int, int]]] = defaultdict(dict)
    if is_frame(events) or is_frame(opportunities):
        require("narwhals.stable.v2", "frames")
        import narwhals.stable.v2 as nw

        from pipeline_core.metrics._frames import collect_rows, last_event, prepare

        ev = prepare(
            events,
            what="stage events",
            required=("id", "opportunity_id", "to_stage", "at"),
            time_columns=("at",),
        )
        opp = prepare(opportunities, what="opportunities", required=("id", *by))
        nat = collect_rows(ev.select(nw.col("at").null_count().alias("n")))[0]["n"]
        if nat:
            raise missing_at_error(int(nat))
        last = last_event(ev, cut_us).select("id", "opportunity_id", "to_stage", "at")
        last = last.join(
            opp.select("id", *by).rename({"id": "_oid"}),
            left_on="opportunity_id",
            right_on="_oid",
            how="inner",
        )
        rot: Any = nw.lit(False)
        for sid, sec in lim.items():
            rot = rot | ((nw.col("to_stage") == nw.lit(sid)) & ((t - nw.col("at")) > sec))
        last = last.with_columns(_rot=rot.fill_null(False).cast(nw.Int64))
        rows = collect_rows(
            last.group_by(*by, "to_stage").agg(
                nw.len().alias("_n"), nw.col("_rot").sum().alias("_r")
            )
        )
        known = set(order.all_ids)
        unknown = {r["to_stage"] for r in rows if r["to_stage"] not in known}
        if unknown:
            raise unknown_stages_error(unknown, order)
        for r in rows:
            if r["to_stage"] in order.open_ids:
                out[tuple(r[b] for b in by)][r["to_stage"]] = (int(r["_n"]), int(zero(r["_r"])))
        return dict(out)
    opps = {o.id: o for o in as_records(opportunities, Opportunity, "opportunities")}
    last_ev: dict[str, tuple[tuple[datetime, int], str, int, str]] = {}
    for ev in as_records(events, StageEvent, "stage events"):
        if epoch_micros(ev.at) > cut_us or ev.opportunity_id not in opps:
            continue
        a = epoch_seconds(ev.at)
        cur = last_ev.get(ev.opportunity_id)
        key = event_order(ev)
        if cur is None or (key, ev.id) > (cur[0], cur[1]):
            last_ev[ev.opportunity_id] = (key, ev.id, a, ev.to_stage)
    known = set(order.all_ids)
    unknown = {s for _, _, _, s in last_ev.values() if s not in known}
    if unknown:
        raise unknown_stages_error(unknown, order)
    for oid, (_k, _i, a, sid) in last_ev.items():
        if sid not in order.open_ids:
            continue
        rot = 1 if sid in lim and t - a > lim[sid] else 0
        for key in group_keys(opps[oid], by):
            n_open, n_rot = out[key].get(sid, (0, 0))
            out[key][sid] = (n_open + 1, n_rot + rot)
    return dict(out)
