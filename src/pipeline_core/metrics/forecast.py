"""Weighted forecast, Monte-Carlo forecast and pipeline velocity.

Weighted forecast
    Over open opportunities (``stage`` is an open stage): ``pipeline = Σ amount`` and
    ``weighted = Σ amount × p(stage)``, where ``p`` comes from ``probabilities`` or the pipeline's
    ``stage(id).probability``. Missing amounts count 0. One currency: with ``currency=`` every
    amount in another currency is converted with ``rates=`` (an
    :class:`~pipeline_core.money.ExchangeRates`) at the evaluation instant ``as_of=`` (open deals
    are worth what they are worth now); without them, amounts in several currencies raise
    :class:`~pipeline_core.errors.CurrencyMismatchError`.

Monte-Carlo forecast
    Each open opportunity independently wins its full amount with probability ``p(stage)``; the
    total won is simulated ``runs`` times with ``random.Random(seed)``; P10/P50/P90 are the
    linear-interpolation quantiles of the simulated totals; ``mean`` tends to the weighted value.

Pipeline velocity (per day)
    ``open × win_rate × average_won_amount ÷ average_cycle_days``: open = opportunities open at
    ``as_of``; win rate = snapshot win rate of deals closed in ``[start, end)``; average won amount
    and average cycle (created → closed, days) over the deals won in that period.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from pipeline_core._deprecation import renamed_params
from pipeline_core._optional import require
from pipeline_core.clock import require_aware
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.metrics._common import (
    CONVERT_FIRST,
    check_currencies,
    group_sort_key,
    grouped_rows,
    quantile_linear,
    ratio,
    zero,
)
from pipeline_core.metrics.funnel import StagesArg
from pipeline_core.metrics.inputs import (
    StageOrder,
    as_records,
    check_period,
    epoch_seconds,
    group_keys,
    is_frame,
    stage_order,
)
from pipeline_core.metrics.results import MetricTable
from pipeline_core.money import (
    ExchangeRates,
    currency_mismatch,
    round_to_minor_units,
)
from pipeline_core.records import Money, Opportunity

__all__ = ["monte_carlo_forecast", "pipeline_velocity", "stage_probabilities", "weighted_forecast"]

_HOW = (
    "pass currency= (the currency to report in) with rates= (a pipeline_core.money.ExchangeRates) "
    "and as_of= (the evaluation instant), or filter the opportunities to one currency"
)
_HOW_VELOCITY = CONVERT_FIRST


class _Target:
    """The currency a forecast reports in, and how to convert into it (``None``: no conversion,
    amounts must share one currency)."""

    def __init__(
        self, currency: str | None, rates: ExchangeRates | None, as_of: datetime | None
    ) -> None:
        problems: list[Problem] = []
        if currency is None and (rates is not None or as_of is not None):
            problems.append(
                Problem(
                    ("currency",),
                    "rates= and as_of= convert into currency=: pass it",
                    None,
                    "missing",
                    True,
                )
            )
        if currency is not None and rates is not None and as_of is None:
            problems.append(
                Problem(
                    ("as_of",),
                    "the evaluation instant whose rates convert open deals",
                    None,
                    "missing",
                    True,
                )
            )
        if as_of is not None:
            require_aware(as_of, "as_of")
        if problems:
            raise ValidationError("forecast currency", problems)
        self.currency, self.rates, self.as_of = currency, rates, as_of

    def money(self, money: Money) -> float:
        """``money`` in the target currency, as a float: converted by
        :meth:`pipeline_core.money.ExchangeRates.convert` at the evaluation instant (rounded to the
        currency's minor units); without rates, amounts in another currency raise
        :class:`~pipeline_core.errors.CurrencyMismatchError`."""
        if self.currency is None or money.currency == self.currency:
            return float(money.amount)
        if self.rates is None or self.as_of is None:
            raise currency_mismatch(
                "opportunities", "currency", (money.currency, self.currency), _HOW
            )
        return float(self.rates.convert(money, self.currency, on=self.as_of).amount)

    def amount(self, amount: Any, currency: str | None) -> float:
        """A frame row's ``amount`` (a float, in ``currency``) in the target currency. Frame amounts
        are floats that a :class:`~pipeline_core.records.Money` may refuse (places, sign), so the
        row's exact decimal is multiplied by the same rate :meth:`money` uses."""
        if self.currency is None or currency is None or currency == self.currency:
            return float(amount)
        if self.rates is None or self.as_of is None:
            raise currency_mismatch("opportunities", "currency", (currency, self.currency), _HOW)
        rate = self.rates.rate(currency, self.currency, on=self.as_of)
        exact = Decimal(str(amount)) * rate
        return float(round_to_minor_units(exact, self.currency))


def _no_probability(stage_id: str) -> Problem:
    """The problem of an open stage without a win probability."""
    return Problem(
        ("probabilities", stage_id), "no probability for this open stage", None, "missing", True
    )


def stage_probabilities(
    stages: StagesArg, probabilities: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Win probability per open stage: ``probabilities`` if given, else each pipeline stage's
    ``probability``. :class:`ValidationError` for a missing, unknown or out-of-range one."""
    order = stage_order(stages)
    out: dict[str, float] = {}
    problems: list[Problem] = []
    if probabilities is None:
        stage_fn = getattr(stages, "stage", None)
        for sid in order.open_ids:
            p = getattr(stage_fn(sid), "probability", None) if callable(stage_fn) else None
            if p is None:
                problems.append(_no_probability(sid))
            else:
                out[sid] = float(p)
    else:
        for sid in probabilities:
            if sid not in order.open_ids:
                problems.append(
                    Problem(("probabilities", sid), "not an open stage", sid, "unknown_stage")
                )
        for sid in order.open_ids:
            if sid not in probabilities:
                problems.append(_no_probability(sid))
            else:
                out[sid] = float(probabilities[sid])
    for sid, p in out.items():
        if not 0.0 <= p <= 1.0:
            problems.append(
                Problem(("probabilities", sid), "must be within 0..1", p, "probability")
            )
    if problems:
        raise ValidationError("probabilities", problems)
    return out


def _open_deals(
    opportunities: Any, order: StageOrder, by: tuple[str, ...], target: _Target
) -> tuple[list[tuple[tuple[Any, ...], str, float]], str | None]:
    """(group key, stage, amount in the target currency) of every open deal, and the currency.
    Frames: one row per open deal is collected."""
    rows: list[tuple[tuple[Any, ...], str, float]] = []
    currencies: list[str | None] = []
    if is_frame(opportunities):
        require("narwhals.stable.v2", "frames")
        import narwhals.stable.v2 as nw

        from pipeline_core.metrics._frames import collect_rows, prepare, stage_in

        opp = prepare(
            opportunities, what="opportunities", required=("stage", "amount", "currency", *by)
        )
        sel = opp.filter(stage_in("stage", order.open_ids)).select(
            *dict.fromkeys((*by, "stage", "amount", "currency"))
        )
        for r in collect_rows(sel.with_columns(nw.col("amount").cast(nw.Float64))):
            cur = r["currency"] if r["amount"] is not None else None
            amount = target.amount(zero(r["amount"]), cur)
            rows.append((tuple(r[b] for b in by), r["stage"], amount))
            currencies.append(cur)
    else:
        for o in as_records(opportunities, Opportunity, "opportunities"):
            if o.stage in order.open_ids:
                amount = 0.0
                if o.expected_amount is not None:
                    amount = target.money(o.expected_amount)
                    currencies.append(o.expected_amount.currency)
                rows.extend((key, o.stage, amount) for key in group_keys(o, by))
    if target.currency is not None:
        return rows, target.currency
    return rows, check_currencies(currencies, "opportunities", how=_HOW)


@renamed_params(at="as_of")
def weighted_forecast(
    opportunities: Any,
    *,
    stages: StagesArg,
    probabilities: Mapping[str, float] | None = None,
    by: Sequence[str] = (),
    currency: str | None = None,
    rates: ExchangeRates | None = None,
    as_of: datetime | None = None,
) -> MetricTable:
    """Open pipeline value and its probability-weighted value, per group (snapshot of the input).

    ``currency``/``rates``/``as_of``: report in ``currency``, converting other currencies with
    ``rates`` at the evaluation instant ``as_of`` (see the module doc). Without ``currency``, amounts in several currencies
    raise :class:`~pipeline_core.errors.CurrencyMismatchError`."""
    order = stage_order(stages)
    probs = stage_probabilities(stages, probabilities)
    by = tuple(by)
    target = _Target(currency, rates, as_of)
    if is_frame(opportunities) and currency is None:
        raw, currency = _weighted_frames(opportunities, order, probs, by)
    else:
        deals, currency = _open_deals(opportunities, order, by, target)
        raw = defaultdict(lambda: [0, 0.0, 0.0])
        for key, sid, amount in deals:
            cell = raw[key]
            cell[0] += 1
            cell[1] += amount
            cell[2] += amount * probs[sid]
    rows = grouped_rows(raw, lambda k, c: (*k, int(c[0]), float(c[1]), float(c[2])))
    params = {"probabilities": probs, "currency": currency}
    columns = ("open", "pipeline", "weighted")
    return MetricTable.of("weighted_forecast", "snapshot", by, columns, rows, params)


def _weighted_frames(
    opportunities: Any, order: StageOrder, probs: dict[str, float], by: tuple[str, ...]
) -> tuple[dict[tuple[Any, ...], list[Any]], str | None]:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    from pipeline_core.metrics._frames import collect_rows, prepare, stage_in

    opp = prepare(
        opportunities, what="opportunities", required=("stage", "amount", "currency", *by)
    )
    p: Any = None
    for sid, value in probs.items():
        cond = nw.col("stage") == nw.lit(sid)
        p = nw.when(cond).then(nw.lit(value)) if p is None else p.when(cond).then(nw.lit(value))
    opp = opp.filter(stage_in("stage", order.open_ids)).with_columns(
        _a=nw.col("amount").cast(nw.Float64).fill_null(0.0), _p=p.otherwise(nw.lit(0.0))
    )
    opp = opp.with_columns(_w=nw.col("_a") * nw.col("_p"))
    aggs = [
        nw.len().alias("_n"),
        nw.col("_a").sum().alias("_s"),
        nw.col("_w").sum().alias("_ws"),
        nw.col("currency").min().alias("_cmin"),
        nw.col("currency").max().alias("_cmax"),
    ]
    rows = collect_rows(opp.group_by(*by).agg(*aggs) if by else opp.select(*aggs))
    currency = check_currencies(
        [x for r in rows for x in (r["_cmin"], r["_cmax"])], "opportunities", how=_HOW
    )
    raw: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        if zero(r["_n"]):
            raw[tuple(r[b] for b in by)] = [
                int(r["_n"]),
                float(zero(r["_s"])),
                float(zero(r["_ws"])),
            ]
    return raw, currency


@renamed_params(at="as_of")
def monte_carlo_forecast(
    opportunities: Any,
    *,
    stages: StagesArg,
    probabilities: Mapping[str, float] | None = None,
    runs: int = 2_000,
    seed: int = 0,
    by: Sequence[str] = (),
    currency: str | None = None,
    rates: ExchangeRates | None = None,
    as_of: datetime | None = None,
) -> MetricTable:
    """Simulated won amount of the open pipeline: mean, P10, P50, P90 per group, reproducible for
    ``seed``. Frames: one row (stage, amount) per open deal is collected to Python.
    ``currency``/``rates``/``as_of`` as in :func:`weighted_forecast`."""
    if not isinstance(runs, int) or runs < 1:
        raise ValidationError("runs", [Problem(("runs",), "must be a positive int", runs)])
    order = stage_order(stages)
    probs = stage_probabilities(stages, probabilities)
    by = tuple(by)
    deals, currency = _open_deals(opportunities, order, by, _Target(currency, rates, as_of))
    groups: dict[tuple[Any, ...], list[tuple[float, float]]] = defaultdict(list)
    for key, sid, amount in deals:
        groups[key].append((amount, probs[sid]))
    rows = []
    for key in sorted(groups, key=group_sort_key):
        rnd = random.Random(f"{seed}:{key!r}")
        items = groups[key]
        totals = sorted(sum(a for a, p in items if rnd.random() < p) for _ in range(runs))
        rows.append(
            (
                *key,
                len(items),
                sum(totals) / runs,
                quantile_linear(totals, 0.1),
                quantile_linear(totals, 0.5),
                quantile_linear(totals, 0.9),
            )
        )
    return MetricTable(
        metric="monte_carlo_forecast",
        kind="snapshot",
        columns=(*by, "open", "mean", "p10", "p50", "p90"),
        rows=tuple(rows),
        group_by=by,
        params={"runs": runs, "seed": seed, "currency": currency},
    )


def pipeline_velocity(
    opportunities: Any,
    *,
    stages: StagesArg,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> MetricTable:
    """Pipeline velocity per day (see the module docstring), with its four factors."""
    order = stage_order(stages)
    s, e = check_period(start, end)
    t = epoch_seconds(as_of, "as_of")
    won_ids, lost_ids = set(order.won_ids), set(order.lost_ids)
    if is_frame(opportunities):
        require("narwhals.stable.v2", "frames")
        import narwhals.stable.v2 as nw

        from pipeline_core.metrics._frames import collect_rows, prepare, stage_in

        opp = prepare(
            opportunities,
            what="opportunities",
            required=("stage", "created_at", "closed_at", "amount", "currency"),
            time_columns=("created_at", "closed_at"),
        )
        in_p = (
            ~nw.col("closed_at").is_null() & (nw.col("closed_at") >= s) & (nw.col("closed_at") < e)
        )
        won = (in_p & stage_in("stage", won_ids)).cast(nw.Int64)
        opp = opp.with_columns(
            _open=(stage_in("stage", order.open_ids) & (nw.col("created_at") <= t)).cast(nw.Int64),
            _won=won,
            _lost=(in_p & stage_in("stage", lost_ids)).cast(nw.Int64),
            _wa=nw.when(won == 1)
            .then(nw.col("amount").cast(nw.Float64).fill_null(0.0))
            .otherwise(nw.lit(0.0)),
            _wd=nw.when(won == 1)
            .then(nw.col("closed_at") - nw.col("created_at"))
            .otherwise(nw.lit(0)),
            _cur=nw.when(won == 1).then(nw.col("currency")).otherwise(nw.lit(None)),
        )
        r = collect_rows(
            opp.select(
                nw.col("_open").sum(),
                nw.col("_won").sum(),
                nw.col("_lost").sum(),
                nw.col("_wa").sum(),
                nw.col("_wd").sum(),
                nw.col("_cur").min().alias("_cmin"),
                nw.col("_cur").max().alias("_cmax"),
            )
        )[0]
        currency = check_currencies([r["_cmin"], r["_cmax"]], "opportunities", how=_HOW_VELOCITY)
        n_open, n_won, n_lost = int(zero(r["_open"])), int(zero(r["_won"])), int(zero(r["_lost"]))
        won_amount, won_secs = float(zero(r["_wa"])), float(zero(r["_wd"]))
    else:
        n_open = n_won = n_lost = 0
        won_amount = won_secs = 0.0
        currencies: list[str | None] = []
        for o in as_records(opportunities, Opportunity, "opportunities"):
            c = epoch_seconds(o.created_at)
            if o.stage in order.open_ids and c <= t:
                n_open += 1
            if o.closed_at is not None and s <= epoch_seconds(o.closed_at) < e:
                if o.stage in won_ids:
                    n_won += 1
                    won_secs += epoch_seconds(o.closed_at) - c
                    if o.expected_amount is not None:
                        won_amount += float(o.expected_amount.amount)
                        currencies.append(o.expected_amount.currency)
                elif o.stage in lost_ids:
                    n_lost += 1
        currency = check_currencies(currencies, "opportunities", how=_HOW_VELOCITY)
    rate = ratio(n_won, n_won + n_lost)
    avg_amount = ratio(won_amount, n_won)
    avg_days = ratio(won_secs / 86_400, n_won)
    velocity = None
    if rate is not None and avg_amount is not None and avg_days:
        velocity = n_open * rate * avg_amount / avg_days
    return MetricTable(
        metric="pipeline_velocity",
        kind="snapshot",
        columns=("open", "win_rate", "avg_won_amount", "avg_cycle_days", "velocity_per_day"),
        rows=((n_open, rate, avg_amount, avg_days, velocity),),
        params={"start": start, "end": end, "as_of": as_of, "currency": currency},
    )
