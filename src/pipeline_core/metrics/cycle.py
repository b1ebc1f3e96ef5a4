"""Sales cycle with censoring: Kaplan–Meier and Aalen–Johansen in plain Python.

Sales cycle
    For each opportunity created at or before ``as_of``: start = ``created_at``; if its ``stage`` is
    won or lost and ``closed_at ≤ as_of`` it *closed* at ``closed_at`` (cause won or lost),
    otherwise it is *censored* at ``as_of`` (still open; a deal closed after ``as_of`` was open
    then). Durations are whole ``resolution`` units, floored: ``(end − start) // resolution``.

    - ``km_pXX_days``: Kaplan–Meier quantile of time to close (any cause), open deals censored:
      the smallest observed time t with S(t) ≤ 1 − q; ``None`` when the curve never gets there.
      ``km_median_days`` is q = 0.5.
    - ``naive_mean_days`` / ``naive_median_days``: mean and median over closed deals only, ignoring
      the open ones (biased short: the long deals are still open). Shown side by side on purpose.
    - ``p_won_by``: with ``won_by=``, the Aalen–Johansen cumulative incidence of a win by then
      (lost is a competing outcome, not censoring).

Estimators (ties: events happen before censoring at the same time)
    n_i = number with duration ≥ t_i; S(t) = Π_{t_i ≤ t} (1 − d_i / n_i);
    CIF_won(t) = Σ_{t_i ≤ t} S(t_i−) · d_won,i / n_i. With no lost deals, CIF_won = 1 − S.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from pipeline_core._optional import require
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.facts import is_closed_stage, is_won_stage
from pipeline_core.metrics._common import group_sort_key, zero
from pipeline_core.metrics.funnel import StagesArg
from pipeline_core.metrics.inputs import (
    StageOrder,
    as_records,
    epoch_seconds,
    group_keys,
    is_frame,
    positive_seconds,
    stage_order,
    unknown_stages_error,
)
from pipeline_core.metrics.results import CycleResult
from pipeline_core.records import Opportunity

__all__ = ["SurvivalCurve", "aalen_johansen", "kaplan_meier", "sales_cycle"]

_EPS = 1e-12
CENSORED = 0
WON = 1
LOST = 2


def _step_at(times: tuple[float, ...], values: tuple[float, ...], t: float, before: float) -> float:
    """The value of a right-continuous step function at ``t``: the value of the last step time
    ``<= t``, ``before`` until the first."""
    out = before
    for ti, vi in zip(times, values, strict=True):
        if ti > t:
            break
        out = vi
    return out


@attrs.frozen
class SurvivalCurve:
    """Kaplan–Meier / Aalen–Johansen steps at each distinct observed time.

    ``times`` ascending; ``at_risk[i]``, ``events[i]`` (any cause), ``survival[i]`` = S(times[i]);
    ``incidence[i]`` = cumulative incidence of cause 1 (won) at times[i].
    """

    times: tuple[float, ...]
    at_risk: tuple[int, ...]
    events: tuple[int, ...]
    survival: tuple[float, ...]
    incidence: tuple[float, ...]

    def survival_at(self, t: float) -> float:
        """S(t): 1 before the first event time."""
        return _step_at(self.times, self.survival, t, 1.0)

    def incidence_at(self, t: float) -> float:
        """Cumulative incidence of cause 1 at t (0 before the first event time)."""
        return _step_at(self.times, self.incidence, t, 0.0)

    def quantile(self, q: float) -> float | None:
        """Smallest observed time with S(t) ≤ 1 − q (``None`` if never reached)."""
        target = 1.0 - q
        for ti, si in zip(self.times, self.survival, strict=True):
            if si <= target + _EPS:
                return ti
        return None

    def median(self) -> float | None:
        """The Kaplan–Meier median: smallest time with S(t) ≤ 0.5."""
        return self.quantile(0.5)


def _curve(table: Iterable[tuple[float, int, int, int]]) -> SurvivalCurve:
    """From ``(time, n_cause1, n_cause2, n_censored)`` rows (any order, repeats summed)."""
    agg: dict[float, list[int]] = defaultdict(lambda: [0, 0, 0])
    for t, a, b, c in table:
        cell = agg[t]
        cell[0] += a
        cell[1] += b
        cell[2] += c
    n = sum(sum(v) for v in agg.values())
    times, risk, evs, surv, inc = [], [], [], [], []
    s, cif = 1.0, 0.0
    for t in sorted(agg):
        a, b, c = agg[t]
        d = a + b
        if d:
            cif += s * a / n
            s *= 1.0 - d / n
            times.append(t)
            risk.append(n)
            evs.append(d)
            surv.append(s)
            inc.append(cif)
        n -= d + c
    return SurvivalCurve(tuple(times), tuple(risk), tuple(evs), tuple(surv), tuple(inc))


def kaplan_meier(durations: Sequence[float], observed: Sequence[bool]) -> SurvivalCurve:
    """Kaplan–Meier curve of ``durations``; ``observed[i]`` False means censored at durations[i]."""
    if len(durations) != len(observed):
        raise ValidationError(
            "observed", [Problem(("observed",), "must match durations in length", len(observed))]
        )
    return _curve(
        (float(t), int(bool(o)), 0, int(not o)) for t, o in zip(durations, observed, strict=True)
    )


def aalen_johansen(durations: Sequence[float], causes: Sequence[int]) -> SurvivalCurve:
    """Aalen–Johansen cumulative incidence of cause 1 with competing cause 2; 0 = censored.

    ``survival`` is the all-cause Kaplan–Meier curve; ``incidence`` the cause-1 incidence.
    """
    if len(durations) != len(causes):
        raise ValidationError(
            "causes", [Problem(("causes",), "must match durations in length", len(causes))]
        )
    bad = sorted({c for c in causes if c not in (0, 1, 2)})
    if bad:
        raise ValidationError(
            "causes", [Problem(("causes",), "causes are 0 (censored), 1 or 2", bad)]
        )
    return _curve(
        (float(t), int(c == 1), int(c == 2), int(c == 0))
        for t, c in zip(durations, causes, strict=True)
    )


def _weighted_quantile(counts: dict[int, int], q: float) -> float | None:
    """Type-7 quantile of values given as {value: count}."""
    n = sum(counts.values())
    if n == 0:
        return None
    h = (n - 1) * q
    lo = int(h)
    values = sorted(counts)

    def nth(i: int) -> int:
        acc = 0
        for v in values:
            acc += counts[v]
            if i < acc:
                return v
        return values[-1]

    a = nth(lo)
    b = nth(min(lo + 1, n - 1))
    return a + (h - lo) * (b - a)


def _qname(q: float) -> str:
    return "km_median_days" if q == 0.5 else f"km_p{round(q * 100):d}_days"


def sales_cycle(
    opportunities: Any,
    *,
    stages: StagesArg,
    as_of: datetime,
    by: Sequence[str] = (),
    resolution: timedelta = timedelta(hours=1),
    quantiles: Sequence[float] = (0.25, 0.5, 0.75, 0.9),
    won_by: timedelta | None = None,
) -> CycleResult:
    """Sales cycle (creation → close) per group: Kaplan–Meier quantiles with open deals censored at
    ``as_of``, next to the naive closed-only mean and median, and optionally P(won by ``won_by``)
    by Aalen–Johansen. Needs ``id``, ``created_at``, ``stage``, ``closed_at`` columns for frames.

    Raises :class:`ValidationError` for a won/lost deal without ``closed_at``, ``closed_at`` before
    ``created_at``, an unknown stage, or a missing ``created_at``.
    """
    order = stage_order(stages)
    t = epoch_seconds(as_of, "as_of")
    res = positive_seconds(resolution, "resolution")
    by = tuple(by)
    if is_frame(opportunities):
        table = _cycle_frames(opportunities, order, t, res, by)
    else:
        table = _cycle_records(opportunities, order, t, res, by)
    day_units = 86_400 / res
    qs = tuple(quantiles)
    rows: list[tuple[Any, ...]] = []
    curves: dict[tuple[Any, ...], tuple[tuple[float, float, float], ...]] = {}
    for key in sorted(table, key=group_sort_key):
        cells = table[key]
        curve = _curve((float(u), c[WON], c[LOST], c[CENSORED]) for u, c in cells.items())
        won = sum(c[WON] for c in cells.values())
        lost = sum(c[LOST] for c in cells.values())
        cens = sum(c[CENSORED] for c in cells.values())
        closed = {u: c[WON] + c[LOST] for u, c in cells.items() if c[WON] + c[LOST]}
        n_closed = won + lost
        naive_mean = sum(u * k for u, k in closed.items()) / n_closed if n_closed else None
        naive_median = _weighted_quantile(closed, 0.5)
        kmq = [curve.quantile(q) for q in qs]
        row: tuple[Any, ...] = (
            *key,
            won + lost + cens,
            won,
            lost,
            cens,
            *[None if v is None else v / day_units for v in kmq],
            None if naive_mean is None else naive_mean / day_units,
            None if naive_median is None else naive_median / day_units,
        )
        if won_by is not None:
            row = (*row, curve.incidence_at(won_by / resolution))
        rows.append(row)
        curves[key] = tuple(
            (ti / day_units, si, ci)
            for ti, si, ci in zip(curve.times, curve.survival, curve.incidence, strict=True)
        )
    columns: tuple[str, ...] = (
        "n",
        "won",
        "lost",
        "censored",
        *[_qname(q) for q in qs],
        "naive_mean_days",
        "naive_median_days",
    )
    if won_by is not None:
        columns = (*columns, "p_won_by")
    params = {"as_of": as_of, "resolution": resolution, "won_by": won_by}
    return CycleResult.of(
        "sales_cycle",
        "cohort",
        by,
        columns,
        rows,
        params,
        curves=curves,
    )


_Table = dict[tuple[Any, ...], dict[int, list[int]]]


def _bad_close(problems: list[Problem]) -> ValidationError:
    return ValidationError("opportunities", problems)


def _cycle_records(
    opportunities: Iterable[Opportunity], order: StageOrder, t: int, res: int, by: tuple[str, ...]
) -> _Table:
    opps = as_records(opportunities, Opportunity, "opportunities")
    known = set(order.all_ids)
    unknown = {o.stage for o in opps if o.stage not in known}
    if unknown:
        raise unknown_stages_error(unknown, order)
    missing = [o.id for o in opps if is_closed_stage(o.stage, order) and o.closed_at is None]
    if missing:
        raise _bad_close(
            [
                Problem(
                    ("closed_at",),
                    f"{len(missing)} won/lost opportunities have no closed_at (e.g. {missing[0]})",
                    None,
                    "missing",
                    True,
                )
            ]
        )
    table: _Table = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for o in opps:
        c = epoch_seconds(o.created_at, "created_at")
        if c > t:
            continue
        cause = CENSORED
        end = t
        if o.closed_at is not None and is_closed_stage(o.stage, order):
            closed = epoch_seconds(o.closed_at, "closed_at")
            if closed <= t:
                cause = WON if is_won_stage(o.stage, order) else LOST
                end = closed
        for key in group_keys(o, by):
            table[key][(end - c) // res][cause] += 1
    return table


def _cycle_frames(
    opportunities: Any, order: StageOrder, t: int, res: int, by: tuple[str, ...]
) -> _Table:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    from pipeline_core.metrics._frames import collect_rows, prepare, stage_in

    opp = prepare(
        opportunities,
        what="opportunities",
        required=("id", "created_at", "stage", "closed_at", *by),
        time_columns=("created_at", "closed_at"),
    )
    is_won = stage_in("stage", order.won_ids)
    is_lost = stage_in("stage", order.lost_ids)
    closed = (is_won | is_lost) & ~nw.col("closed_at").is_null() & (nw.col("closed_at") <= t)
    opp = opp.with_columns(
        _cause=nw.when(closed & is_won)
        .then(nw.lit(WON))
        .when(closed & is_lost)
        .then(nw.lit(LOST))
        .otherwise(nw.lit(CENSORED)),
        _end=nw.when(closed).then(nw.col("closed_at")).otherwise(nw.lit(t)),
        _known=stage_in("stage", order.all_ids).cast(nw.Int64),
        _noclose=((is_won | is_lost) & nw.col("closed_at").is_null()).cast(nw.Int64),
        _nocreate=nw.col("created_at").is_null().cast(nw.Int64),
    )
    opp = opp.with_columns(_units=(nw.col("_end") - nw.col("created_at")) // res)
    checks = collect_rows(
        opp.select(
            (1 - nw.col("_known")).sum().alias("unknown"),
            nw.col("_noclose").sum().alias("noclose"),
            nw.col("_nocreate").sum().alias("nocreate"),
            ((nw.col("_units") < 0) & (nw.col("_cause") != CENSORED))
            .cast(nw.Int64)
            .sum()
            .alias("before"),
        )
    )[0]
    problems = []
    if zero(checks["unknown"]):
        bad = collect_rows(opp.filter(nw.col("_known") == 0).select("stage").unique())
        raise unknown_stages_error([r["stage"] for r in bad], order)
    if zero(checks["noclose"]):
        problems.append(
            Problem(
                ("closed_at",),
                f"{checks['noclose']} won/lost opportunities have no closed_at",
                None,
                "missing",
                True,
            )
        )
    if zero(checks["nocreate"]):
        problems.append(
            Problem(
                ("created_at",),
                f"{checks['nocreate']} opportunities have no created_at",
                None,
                "missing",
                True,
            )
        )
    if zero(checks["before"]):
        problems.append(
            Problem(
                ("closed_at",),
                f"{checks['before']} opportunities closed before created_at",
                None,
                "before_created",
            )
        )
    if problems:
        raise _bad_close(problems)
    agg = (
        opp.filter(nw.col("created_at") <= t)
        .group_by(*by, "_units", "_cause")
        .agg(nw.len().alias("_n"))
    )
    table: _Table = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for r in collect_rows(agg):
        table[tuple(r[b] for b in by)][int(r["_units"])][int(r["_cause"])] += int(r["_n"])
    return table
