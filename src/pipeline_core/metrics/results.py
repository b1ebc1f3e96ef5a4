"""Typed metric results: small immutable tables with their definition's parameters.

Every result has ``metric`` (its name), ``kind`` (``"cohort"``, ``"snapshot"``, ``"period"`` ...: how
the population was chosen, so a cohort win rate is never mistaken for a snapshot one), ``columns``,
``rows`` and ``params``, and converts with :meth:`to_dict`, :meth:`to_pandas`, :meth:`to_polars`;
notebooks render :meth:`_repr_html_`. Money values are floats in the currency's units.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Self

import attrs

from pipeline_core._optional import require

__all__ = [
    "ConversionResult",
    "CycleResult",
    "FunnelResult",
    "MetricTable",
    "SnapshotResult",
    "TimeInStageResult",
    "WinRateResult",
]


def _freeze_params(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


@attrs.frozen
class MetricTable:
    """A metric's result table.

    ``group_by`` names the leading grouping columns (empty when ungrouped); ``rows`` are tuples in
    ``columns`` order.
    """

    metric: str
    kind: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    group_by: tuple[str, ...] = ()
    params: dict[str, Any] = attrs.field(factory=dict, converter=_freeze_params)

    @classmethod
    def of(
        cls,
        metric: str,
        kind: str,
        by: tuple[str, ...],
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        params: Mapping[str, Any],
        **more: Any,
    ) -> Self:
        """The ``metric`` table of ``rows`` grouped by ``by``: its columns are ``(*by, *columns)``;
        ``more`` holds a subclass's own fields (e.g. a cycle result's ``curves``)."""
        return cls(
            metric=metric,
            kind=kind,
            columns=(*by, *columns),
            rows=tuple(rows),
            group_by=by,
            params=params,
            **more,
        )

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible: metric, kind, group_by, params (datetimes as ISO strings), rows."""
        params = {
            k: (
                v.isoformat()
                if hasattr(v, "isoformat")
                else str(v)
                if hasattr(v, "total_seconds")
                else v
            )
            for k, v in self.params.items()
        }
        return {
            "metric": self.metric,
            "kind": self.kind,
            "group_by": list(self.group_by),
            "params": params,
            "rows": self.records(),
        }

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame`` (needs pandas)."""
        require("pandas", "frames")
        import pandas as pd

        return pd.DataFrame.from_records(list(self.rows), columns=list(self.columns))

    def to_polars(self) -> Any:
        """The rows as a ``polars.DataFrame`` (needs polars)."""
        require("polars", "frames")
        import polars as pl

        return pl.DataFrame(
            {c: [row[i] for row in self.rows] for i, c in enumerate(self.columns)},
            strict=False,
        )

    def groups(self) -> list[tuple[Any, ...]]:
        """The distinct group keys in row order (``[()]`` when ungrouped)."""
        n = len(self.group_by)
        seen: dict[tuple[Any, ...], None] = {}
        for row in self.rows:
            seen.setdefault(tuple(row[:n]), None)
        return list(seen) or [()]

    def where(self, **keys: Any) -> list[dict[str, Any]]:
        """Rows whose columns equal the given values, as dicts."""
        return [r for r in self.records() if all(r.get(k) == v for k, v in keys.items())]

    def _title(self) -> str:
        return f"{self.metric} ({self.kind})"

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = []
        for row in self.rows[:200]:
            cells = "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row)
            body.append(f"<tr>{cells}</tr>")
        more = f"<p>… {len(self.rows) - 200} more rows</p>" if len(self.rows) > 200 else ""
        params = ", ".join(f"{k}={html.escape(_fmt(v))}" for k, v in self.params.items())
        return (
            f"<div><strong>{html.escape(self._title())}</strong><br><small>{params}</small>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}</div>"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._title()}: {len(self.rows)} rows>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


@attrs.frozen(repr=False)
class FunnelResult(MetricTable):
    """A cohort funnel: per group and step, ``cohort`` (created in the period), ``reached`` (got to
    this step or further within the horizon), ``share`` = reached / cohort, ``conversion`` =
    reached / reached of the previous step, and ``value`` (sum of ``amount`` of those that reached)."""

    def conversion(self) -> ConversionResult:
        """Stage-to-stage conversion with the bottleneck (the weakest step) per group."""
        n = len(self.group_by)
        out: list[tuple[Any, ...]] = []
        recs = self.records()
        for key in self.groups():
            steps = [r for r in recs if tuple(r[c] for c in self.group_by) == key]
            for a, b in itertools.pairwise(steps):
                rate = b["reached"] / a["reached"] if a["reached"] else None
                out.append((*key[:n], a["stage"], b["stage"], a["reached"], b["reached"], rate))
        return ConversionResult(
            metric="stage_conversion",
            kind=self.kind,
            columns=(*self.group_by, "from_stage", "to_stage", "entered", "progressed", "rate"),
            rows=tuple(out),
            group_by=self.group_by,
            params=self.params,
        )

    def win_rate(self) -> WinRateResult:
        """Cohort win rate: won (reached the won step within the horizon) / cohort, by count and value."""
        out = []
        recs = self.records()
        for key in self.groups():
            steps = [r for r in recs if tuple(r[c] for c in self.group_by) == key]
            first, last = steps[0], steps[-1]
            rate = last["reached"] / first["cohort"] if first["cohort"] else None
            v0, v1 = first.get("value"), last.get("value")
            rate_v = v1 / v0 if v0 else None
            out.append((*key, first["cohort"], last["reached"], rate, v0, v1, rate_v))
        return WinRateResult(
            metric="win_rate",
            kind="cohort",
            columns=(*self.group_by, "n", "won", "rate", "value", "won_value", "rate_value"),
            rows=tuple(out),
            group_by=self.group_by,
            params=self.params,
        )


@attrs.frozen(repr=False)
class ConversionResult(MetricTable):
    """Stage-to-stage conversion: ``rate`` = progressed / entered for each consecutive pair of steps."""

    def bottleneck(self, **group: Any) -> dict[str, Any] | None:
        """The step with the lowest rate (earliest on ties) among steps someone entered, for the
        group given by keyword (``bottleneck(source="web")``); ``None`` if no step was entered."""
        rows = [
            r
            for r in self.records()
            if r["rate"] is not None and all(r.get(k) == v for k, v in group.items())
        ]
        if not rows:
            return None
        return min(rows, key=lambda r: r["rate"])

    def bottlenecks(self) -> list[dict[str, Any]]:
        """The bottleneck of every group."""
        out = []
        for key in self.groups():
            b = self.bottleneck(**dict(zip(self.group_by, key, strict=True)))
            if b is not None:
                out.append(b)
        return out


@attrs.frozen(repr=False)
class SnapshotResult(MetricTable):
    """Count and value per stage at an instant, rebuilt from each record's last event at or before it."""


@attrs.frozen(repr=False)
class WinRateResult(MetricTable):
    """Win rate, labelled ``cohort`` (won / created) or ``snapshot`` (won / (won + lost) closed in the
    period), by count (``rate``) and by value (``rate_value``)."""

    def rate(self, **group: Any) -> float | None:
        """The count win rate of one group (or the only row)."""
        rows = self.where(**group)
        if len(rows) != 1:
            raise KeyError(f"no single row for {group!r}")
        value: float | None = rows[0]["rate"]
        return value


@attrs.frozen(repr=False)
class TimeInStageResult(MetricTable):
    """Time in stage per stage (and group): completed stays with median, p90 (linear quantiles) and
    mean in days, plus the number of stays still open (not in the quantiles)."""


@attrs.frozen(repr=False)
class CycleResult(MetricTable):
    """Sales cycle per group: Kaplan–Meier median and quantiles with open deals censored, next to the
    naive closed-only mean and median; ``curves`` holds each group's KM / Aalen–Johansen steps."""

    curves: dict[tuple[Any, ...], tuple[tuple[float, float, float], ...]] = attrs.field(
        factory=dict
    )

    def curve(self, *key: Any) -> Sequence[tuple[float, float, float]]:
        """``(days, survival, p_won_by)`` steps of one group (no key when ungrouped)."""
        return self.curves[tuple(key)]
