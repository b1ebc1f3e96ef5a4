"""Response time, SLA attainment and omission, follow-up volume and reply rate, on records or
frames.

Response time (lead entry → first touch)
    For leads created in ``[start, end)``: first touch = the earliest activity with
    ``lead_id`` = the lead and ``at ≥ created_at``. ``answered`` leads have one at or before
    ``as_of``; percentiles (p50, p90; linear interpolation) of their response time in hours.
    ``breached`` = answered later than ``target``, plus unanswered leads already older than
    ``target`` at ``as_of`` (still waiting counts: Zendesk's rule); unanswered leads younger than
    ``target`` are ``pending`` and excluded. ``breach_rate = breached / (n − pending)``,
    ``attainment = 1 − breach_rate``.

SLA attainment (from :class:`~pipeline_core.records.SlaOutcome`)
    ``attainment = met / n``; ``omission_rate = omitted / n`` where omitted = not met and never
    finished (``finished_at`` is ``None``: the record closed before the target was reached).

Follow-ups per rep per week
    activities with ``at`` in ``[start, end)`` per ``owner_id`` ÷ (period length in days / 7).

Reply (customer feedback) rate
    share of activities in the period with ``replied`` true, per owner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pipeline_core._optional import require
from pipeline_core.metrics._common import group_sort_key, quantile_linear, ratio, zero
from pipeline_core.metrics.inputs import (
    as_records,
    check_period,
    epoch_seconds,
    is_frame,
    positive_seconds,
)
from pipeline_core.metrics.results import MetricTable
from pipeline_core.records import Activity, Lead, SlaOutcome

__all__ = ["followups_per_rep_week", "reply_rate", "response_time", "sla_attainment"]


def _attr(obj: Any, name: str) -> Any:
    if hasattr(obj, name):
        return getattr(obj, name)
    custom = getattr(obj, "custom", {})
    return custom.get(name)


def response_time(
    leads: Any,
    activities: Any,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    target: timedelta = timedelta(hours=2),
    by: Sequence[str] = (),
) -> MetricTable:
    """Lead response time percentiles and breach rate against ``target`` (default the 2 h KPI).

    Records (``Lead``, ``Activity``) or frames: leads with ``id``, ``created_at`` (+ ``by``
    columns), activities with ``lead_id``, ``at``."""
    s, e = check_period(start, end)
    t = epoch_seconds(as_of, "as_of")
    tgt = positive_seconds(target, "target")
    by = tuple(by)
    if is_frame(leads) or is_frame(activities):
        rows = _response_frames(leads, activities, s, e, t, tgt, by)
    else:
        rows = _response_records(leads, activities, s, e, t, tgt, by)
    return MetricTable(
        metric="response_time",
        kind="cohort",
        columns=(
            *by,
            "n",
            "answered",
            "pending",
            "breached",
            "p50_hours",
            "p90_hours",
            "breach_rate",
            "attainment",
        ),
        rows=tuple(rows),
        group_by=by,
        params={"start": start, "end": end, "as_of": as_of, "target": target},
    )


def _response_row(
    key: tuple[Any, ...],
    n: int,
    answered: int,
    pending: int,
    breached: int,
    p50: float | None,
    p90: float | None,
) -> tuple[Any, ...]:
    rate = ratio(breached, n - pending)
    return (
        *key,
        n,
        answered,
        pending,
        breached,
        None if p50 is None else p50 / 3600,
        None if p90 is None else p90 / 3600,
        rate,
        None if rate is None else 1 - rate,
    )


def _response_frames(
    leads: Any, activities: Any, s: int, e: int, t: int, tgt: int, by: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    from pipeline_core.metrics._frames import collect_rows, prepare

    ld = prepare(
        leads, what="leads", required=("id", "created_at", *by), time_columns=("created_at",)
    )
    act = prepare(activities, what="activities", required=("lead_id", "at"), time_columns=("at",))
    cohort = ld.filter((nw.col("created_at") >= s) & (nw.col("created_at") < e)).select(
        "id", "created_at", *by
    )
    touches = (
        act.select("lead_id", "at")
        .join(
            cohort.select(nw.col("id").alias("_lid"), nw.col("created_at").alias("_c")),
            left_on="lead_id",
            right_on="_lid",
            how="inner",
        )
        .filter((nw.col("at") >= nw.col("_c")) & (nw.col("at") <= t))
        .group_by("lead_id")
        .agg(nw.col("at").min().alias("_first"))
    )
    c = cohort.join(touches, left_on="id", right_on="lead_id", how="left")
    answered = ~nw.col("_first").is_null()
    c = c.with_columns(
        _wait=nw.col("_first") - nw.col("created_at"),
        _ans=answered.cast(nw.Int64),
        _pend=(~answered & ((t - nw.col("created_at")) <= tgt)).cast(nw.Int64),
        _br=nw.when(answered)
        .then((nw.col("_first") - nw.col("created_at")) > tgt)
        .otherwise((t - nw.col("created_at")) > tgt)
        .cast(nw.Int64),
    )
    aggs = [
        nw.len().alias("_n"),
        nw.col("_ans").sum().alias("_a"),
        nw.col("_pend").sum().alias("_p"),
        nw.col("_br").sum().alias("_b"),
        nw.col("_wait").quantile(0.5, "linear").alias("_q50"),
        nw.col("_wait").quantile(0.9, "linear").alias("_q90"),
    ]
    out = []
    for r in collect_rows(c.group_by(*by).agg(*aggs) if by else c.select(*aggs)):
        n = int(zero(r["_n"]))
        if not n:
            continue
        a = int(zero(r["_a"]))
        q50 = None if a == 0 or r["_q50"] is None else float(r["_q50"])
        q90 = None if a == 0 or r["_q90"] is None else float(r["_q90"])
        out.append(
            _response_row(
                tuple(r[b] for b in by), n, a, int(zero(r["_p"])), int(zero(r["_b"])), q50, q90
            )
        )
    return sorted(out, key=lambda row: group_sort_key(row[: len(by)]))


def _response_records(
    leads: Iterable[Lead],
    activities: Iterable[Activity],
    s: int,
    e: int,
    t: int,
    tgt: int,
    by: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    first: dict[str, int] = {}
    lead_list = [
        ld for ld in as_records(leads, Lead, "leads") if s <= epoch_seconds(ld.created_at) < e
    ]
    created = {ld.id: epoch_seconds(ld.created_at) for ld in lead_list}
    for act in as_records(activities, Activity, "activities"):
        if act.lead_id is None or act.lead_id not in created:
            continue
        a = epoch_seconds(act.at)
        if created[act.lead_id] <= a <= t:
            first[act.lead_id] = min(a, first.get(act.lead_id, a))
    groups: dict[tuple[Any, ...], list[Lead]] = defaultdict(list)
    for ld in lead_list:
        groups[tuple(_attr(ld, b) for b in by)].append(ld)
    rows = []
    for key in sorted(groups, key=group_sort_key):
        waits: list[int] = []
        breached = pending = 0
        for ld in groups[key]:
            c = created[ld.id]
            if ld.id in first:
                waits.append(first[ld.id] - c)
                breached += first[ld.id] - c > tgt
            elif t - c > tgt:
                breached += 1
            else:
                pending += 1
        waits.sort()
        rows.append(
            _response_row(
                key,
                len(groups[key]),
                len(waits),
                pending,
                breached,
                quantile_linear(waits, 0.5),
                quantile_linear(waits, 0.9),
            )
        )
    return rows


def _group_counts(
    frame: Any,
    what: str,
    by: tuple[str, ...],
    required: tuple[str, ...],
    flags: dict[str, Any],
    time_filter: tuple[str, int, int] | None = None,
) -> dict[tuple[Any, ...], list[int]]:
    """Frames: per group, the row count and the sums of 0/1 ``flags`` (name → boolean expr)."""
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    from pipeline_core.metrics._frames import collect_rows, prepare

    times = (time_filter[0],) if time_filter else ()
    df = prepare(frame, what=what, required=(*required, *by), time_columns=times)
    if time_filter:
        col, s, e = time_filter
        df = df.filter((nw.col(col) >= s) & (nw.col(col) < e))
    df = df.with_columns(**{f"_{k}": v.fill_null(False).cast(nw.Int64) for k, v in flags.items()})
    aggs = [nw.len().alias("_n"), *[nw.col(f"_{k}").sum().alias(f"_{k}") for k in flags]]
    out: dict[tuple[Any, ...], list[int]] = {}
    for r in collect_rows(df.group_by(*by).agg(*aggs) if by else df.select(*aggs)):
        if zero(r["_n"]):
            out[tuple(r[b] for b in by)] = [int(r["_n"]), *[int(zero(r[f"_{k}"])) for k in flags]]
    return out


def sla_attainment(outcomes: Any, *, by: Sequence[str] = ("rule",)) -> MetricTable:
    """SLA attainment and omission rate per group of outcomes (default per rule). Records
    (``SlaOutcome``) or a frame with ``met`` (bool), ``finished_at`` and the ``by`` columns."""
    by = tuple(by)
    acc: dict[tuple[Any, ...], list[int]]
    if is_frame(outcomes):
        require("narwhals.stable.v2", "frames")
        import narwhals.stable.v2 as nw

        acc = _group_counts(
            outcomes,
            "SLA outcomes",
            by,
            ("met", "finished_at"),
            {
                "met": nw.col("met"),
                "omitted": ~nw.col("met").fill_null(False) & nw.col("finished_at").is_null(),
            },
        )
    else:
        acc = defaultdict(lambda: [0, 0, 0])
        for o in as_records(outcomes, SlaOutcome, "SLA outcomes"):
            cell = acc[tuple(_attr(o, b) for b in by)]
            cell[0] += 1
            cell[1] += o.met
            cell[2] += (not o.met) and o.finished_at is None
    rows = tuple(
        (*k, n, met, n - met, omitted, ratio(met, n), ratio(omitted, n))
        for k in sorted(acc, key=group_sort_key)
        for n, met, omitted in [acc[k]]
    )
    return MetricTable(
        metric="sla_attainment",
        kind="period",
        columns=(*by, "n", "met", "breached", "omitted", "attainment", "omission_rate"),
        rows=rows,
        group_by=by,
    )


def _activity_counts(activities: Any, s: int, e: int) -> dict[str, list[int]]:
    """Per owner: [activities, replied] with ``at`` in [s, e), on records or a frame."""
    if is_frame(activities):
        require("narwhals.stable.v2", "frames")
        import narwhals.stable.v2 as nw

        counts = _group_counts(
            activities,
            "activities",
            ("owner_id",),
            ("at", "replied"),
            {"replied": nw.col("replied")},
            ("at", s, e),
        )
        return {k[0]: v for k, v in counts.items()}
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a in _period_activities(activities, s, e):
        acc[a.owner_id][0] += 1
        acc[a.owner_id][1] += a.replied
    return dict(acc)


def _period_activities(activities: Iterable[Activity], s: int, e: int) -> list[Activity]:
    return [
        a for a in as_records(activities, Activity, "activities") if s <= epoch_seconds(a.at) < e
    ]


def followups_per_rep_week(activities: Any, *, start: datetime, end: datetime) -> MetricTable:
    """Follow-up activities per owner per week over ``[start, end)`` (records or a frame with
    ``owner_id``, ``at``, ``replied``)."""
    s, e = check_period(start, end)
    weeks = (e - s) / (7 * 86_400)
    counts = _activity_counts(activities, s, e)
    rows = tuple((k, counts[k][0], counts[k][0] / weeks) for k in sorted(counts))
    return MetricTable(
        metric="followups_per_rep_week",
        kind="period",
        columns=("owner_id", "activities", "per_week"),
        rows=rows,
        group_by=("owner_id",),
        params={"start": start, "end": end},
    )


def reply_rate(activities: Any, *, start: datetime, end: datetime) -> MetricTable:
    """Share of activities the customer replied to, per owner, over ``[start, end)`` (records or a
    frame with ``owner_id``, ``at``, ``replied``)."""
    s, e = check_period(start, end)
    acc = _activity_counts(activities, s, e)
    rows = tuple((k, acc[k][0], acc[k][1], acc[k][1] / acc[k][0]) for k in sorted(acc))
    return MetricTable(
        metric="reply_rate",
        kind="period",
        columns=("owner_id", "activities", "replied", "rate"),
        rows=rows,
        group_by=("owner_id",),
        params={"start": start, "end": end},
    )
