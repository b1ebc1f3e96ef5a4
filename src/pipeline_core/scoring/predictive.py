"""Predictive scoring: P(won | attributes) learnt from closed deals, Odoo style, no heavy dependency.

Training (:meth:`PredictiveModel.fit`) counts, per field and value, how many closed examples were
won and lost. As in Odoo's predictive lead scoring, a won example counts for *every* stage and a
lost one only for the stages up to where it stopped, so a stage value means "reached at least this
stage". Collection fields (tags, pain points) count each item; numeric fields can be bucketed with
``bins``.

Scoring combines the fields by naive Bayes with Laplace smoothing ``α`` (0.1 by default, as Odoo)::

    S_c = P(c) · Π_f (n_c(f = v) + α) / (N_c + α · K_f)        c ∈ {won, lost}
    P(won) = S_won / (S_won + S_lost)

where ``N_c`` is the number of examples of class ``c`` and ``K_f`` the number of distinct values of
``f`` seen in training. A missing value, or one never seen in training, gives no evidence and is
skipped (Odoo skips empty fields too). The product is computed in log space. The score is
``100 · P(won)`` rounded to 0.0001 (halves to even) and graded by the model's bands.

:func:`backtest_model` trains on examples closed before ``split_at`` and reports AUC (exact, rank-based,
ties counted half), Brier score and the win rate by grade on those closed at or after it.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Final

import attrs
import pydantic
from pydantic import Field

from pipeline_core._definition import Check, Definition, definition, plain, raise_problems
from pipeline_core._deprecation import moved, renamed_params
from pipeline_core._values import currency_problems
from pipeline_core.clock import require_aware
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.facts import is_merged
from pipeline_core.records import Opportunity
from pipeline_core.scoring._units import UNIT
from pipeline_core.scoring.criteria import texts
from pipeline_core.scoring.grades import DEFAULT_BANDS, Grade, GradeBands
from pipeline_core.scoring.models import BANDS_FIELD, Scorer
from pipeline_core.scoring.readers import Getter, mapping_getter, object_getter
from pipeline_core.scoring.results import Contribution, Score

__all__ = [
    "Example",
    "FittedPredictive",
    "GradeOutcome",
    "ModelBacktestReport",
    "PredictiveModel",
    "auc",
    "auc_exact",
    "backtest_model",
    "brier",
    "examples_from_records",
]


@attrs.frozen(kw_only=True)
class Example:
    """One closed deal: the lead's attributes, whether it was won, when it closed, and (for the
    stage field) the furthest open stage it reached."""

    attributes: Any
    won: bool
    closed_at: datetime
    stage_reached: str | None = None


def _exact_number(value: Any) -> Any:
    """A float, or a whole number a float holds exactly (no text, no Decimal)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number")
    if isinstance(value, int) and abs(value) > 2**53:
        raise ValueError("a whole number this large is not exact as a real number")
    return value


_SMOOTHING = Annotated[
    float,
    pydantic.BeforeValidator(_exact_number),
    Field(gt=0, allow_inf_nan=False, strict=True),
]
_ALWAYS = plain(dump="always")


def _sorted_bins(bins: Mapping[str, Iterable[float]]) -> dict[str, tuple[float, ...]]:
    return {k: tuple(sorted(v)) for k, v in dict(bins).items()}


def _predictive_bands(value: GradeBands | Sequence[Grade] | None) -> GradeBands:
    if value is None:
        return DEFAULT_BANDS
    if isinstance(value, GradeBands):
        return value
    return GradeBands.of(value)


@definition("predictive model")
@attrs.frozen(kw_only=True)
class PredictiveModel(Definition):
    """The definition of a predictive model (fields, smoothing, bands); :meth:`fit` learns it.

    ``stages`` is the order of open stages; when given, ``stage_field`` (default ``"stage"``)
    is learnt with "reached at least this stage" counting from :attr:`Example.stage_reached`.
    ``bins`` buckets numeric fields: ``{"budget": [30_000, 100_000]}`` gives three buckets.
    ``currency`` is the currency of money fields (``budget``, ``expected_amount``): an amount in
    another currency raises :class:`~pipeline_core.errors.CurrencyMismatchError` in training and
    scoring alike (``None``: amounts are read as they are — state it when a money field is used).
    A missing value (``None``, ``NaN``, ``NaT``, ``NA``, a blank text) gives no evidence.
    Plain form: every field written (bands as a list of grades), ``currency`` only when set.
    """

    name: str = attrs.field(
        default="predictive",
        metadata=plain(schema=Annotated[str, Field(min_length=1, max_length=100)], dump="always"),
    )
    fields: tuple[str, ...] = attrs.field(
        default=("source", "industry", "authority", "need", "intent", "timeline"),
        converter=texts,
        metadata=_ALWAYS,
    )
    smoothing: float = attrs.field(default=0.1, metadata=plain(schema=_SMOOTHING, dump="always"))
    stages: tuple[str, ...] = attrs.field(default=(), converter=texts, metadata=_ALWAYS)
    stage_field: str = attrs.field(default="stage", metadata=_ALWAYS)
    bins: Mapping[str, tuple[float, ...]] = attrs.field(
        factory=dict,
        converter=_sorted_bins,
        metadata=plain(schema=dict[str, list[float]], dump="always"),
    )
    bands: GradeBands = attrs.field(
        default=DEFAULT_BANDS, converter=_predictive_bands, metadata=BANDS_FIELD
    )
    currency: str | None = attrs.field(
        default=None,
        metadata=plain(schema=Annotated[str, Field(min_length=3, max_length=3)] | None),
    )

    def __attrs_post_init__(self) -> None:
        raise_problems(f"predictive model {self.name!r}", self, PREDICTIVE_CHECKS)

    def fit(self, history: Iterable[Example]) -> FittedPredictive:
        """Count won/lost frequencies per field value; needs at least one won and one lost."""
        won: dict[str, Counter[Any]] = {f: Counter() for f in self._all_fields()}
        lost: dict[str, Counter[Any]] = {f: Counter() for f in self._all_fields()}
        n_won = n_lost = 0
        readers = _Readers(self)
        for ex in history:
            table = won if ex.won else lost
            if ex.won:
                n_won += 1
            else:
                n_lost += 1
            for f in self.fields:
                for v in readers.values(ex.attributes, f):
                    table[f][v] += 1
            if self.stages:
                reached = self.stages if ex.won else self._up_to(ex.stage_reached)
                for s in reached:
                    table[self.stage_field][s] += 1
        if n_won == 0 or n_lost == 0:
            raise ConfigError(
                f"predictive model {self.name!r}",
                [
                    Problem(
                        ("history",),
                        "needs at least one won and one lost example",
                        {"won": n_won, "lost": n_lost},
                        "history",
                    )
                ],
            )
        return FittedPredictive(
            definition=self,
            won={f: dict(c) for f, c in won.items()},
            lost={f: dict(c) for f, c in lost.items()},
            n_won=n_won,
            n_lost=n_lost,
        )

    def _all_fields(self) -> tuple[str, ...]:
        return (*self.fields, self.stage_field) if self.stages else self.fields

    def _up_to(self, stage: str | None) -> tuple[str, ...]:
        if stage is None or stage not in self.stages:
            return ()
        return self.stages[: self.stages.index(stage) + 1]


def _check_predictive(m: PredictiveModel) -> Iterator[Problem]:
    yield from currency_problems(m.currency)
    if not m.fields and not m.stages:
        yield Problem(("fields",), "needs at least one field", m.fields, "empty")
    if not (m.smoothing > 0 and math.isfinite(m.smoothing)):
        yield Problem(("smoothing",), "must be > 0", m.smoothing, "smoothing")
    if len(set(m.stages)) != len(m.stages):
        yield Problem(("stages",), "has duplicates", m.stages, "duplicate")
    for f in m.bins:
        if f not in m.fields:
            yield Problem(("bins", f), "not one of the fields", f, "unknown_field")
    if m.bands.minimum != 0 or m.bands.maximum != 100:
        yield Problem(("bands",), "must cover 0..100 (percent)", repr(m.bands))


PREDICTIVE_CHECKS: Final[tuple[Check, ...]] = (_check_predictive,)
"""The semantic checks of a :class:`PredictiveModel`."""


class _Readers:
    def __init__(self, model: PredictiveModel) -> None:
        fields = model._all_fields()
        cur = model.currency
        self.obj: dict[str, Getter] = {
            f: object_getter(f, "value", safe=True, currency=cur) for f in fields
        }
        self.map: dict[str, Getter] = {f: mapping_getter(f, "value", currency=cur) for f in fields}
        self.bins = model.bins

    def values(self, lead: Any, field: str) -> tuple[Any, ...]:
        get = self.map[field] if isinstance(lead, Mapping) else self.obj[field]
        v = get(lead)
        if v is None:
            return ()
        if isinstance(v, tuple | list | frozenset | set):
            return tuple(sorted(str(x) for x in v))
        cuts = self.bins.get(field)
        if cuts is not None:
            i = bisect.bisect_right(cuts, v)
            lo = "-∞" if i == 0 else f"{cuts[i - 1]:g}"
            hi = "∞" if i == len(cuts) else f"{cuts[i]:g}"
            return (f"[{lo}, {hi})",)
        return (str(v),)


@attrs.frozen(kw_only=True, eq=False)
class FittedPredictive(Scorer):
    """A trained predictive model: :meth:`probability`, and the :class:`Scorer` methods."""

    definition: PredictiveModel
    won: Mapping[str, Mapping[Any, int]]
    lost: Mapping[str, Mapping[Any, int]]
    n_won: int
    n_lost: int
    _readers: _Readers = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_readers", _Readers(self.definition))

    @property
    def name(self) -> str:  # type: ignore[override]
        """The definition's name."""
        return self.definition.name

    @property
    def version(self) -> str:  # type: ignore[override]
        """``n<won>+<lost>``: identifies the training set size."""
        return f"n{self.n_won}+{self.n_lost}"

    @property
    def bands(self) -> GradeBands:  # type: ignore[override]
        """The grade bands (on 100 × probability)."""
        return self.definition.bands

    def _evidence(self, lead: Any) -> list[tuple[str, str, float, float]]:
        alpha = self.definition.smoothing
        out = []
        for f in self.definition._all_fields():
            won, lost = self.won[f], self.lost[f]
            k = len(won.keys() | lost.keys())
            for v in self._readers.values(lead, f):
                if v not in won and v not in lost:
                    continue
                pw = (won.get(v, 0) + alpha) / (self.n_won + alpha * k)
                pl = (lost.get(v, 0) + alpha) / (self.n_lost + alpha * k)
                out.append((f, v, pw, pl))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the definition and the learnt counts (values as text)."""
        return {
            "definition": self.definition.to_dict(),
            "n_won": self.n_won,
            "n_lost": self.n_lost,
            "won": {f: dict(c) for f, c in self.won.items()},
            "lost": {f: dict(c) for f, c in self.lost.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedPredictive:
        """Rebuild a trained model from :meth:`to_dict`'s data."""
        definition = PredictiveModel.from_dict(data["definition"])
        fields = definition._all_fields()
        problems = [
            Problem((side, f), "missing counts for this field", None, "missing", missing=True)
            for side in ("won", "lost")
            for f in fields
            if f not in data.get(side, {})
        ]
        if not (isinstance(data.get("n_won"), int) and data["n_won"] > 0):
            problems.append(Problem(("n_won",), "must be a positive int", data.get("n_won")))
        if not (isinstance(data.get("n_lost"), int) and data["n_lost"] > 0):
            problems.append(Problem(("n_lost",), "must be a positive int", data.get("n_lost")))
        if problems:
            raise ConfigError("fitted predictive model", problems)
        return cls(
            definition=definition,
            won={f: {str(k): int(v) for k, v in data["won"][f].items()} for f in fields},
            lost={f: {str(k): int(v) for k, v in data["lost"][f].items()} for f in fields},
            n_won=data["n_won"],
            n_lost=data["n_lost"],
        )

    def probability(self, lead: Any) -> float:
        """P(won | lead's attributes)."""
        log_odds = math.log(self.n_won) - math.log(self.n_lost)
        for _, _, pw, pl in self._evidence(lead):
            log_odds += math.log(pw) - math.log(pl)
        if log_odds >= 0:
            return 1.0 / (1.0 + math.exp(-log_odds))
        e = math.exp(log_odds)
        return e / (1.0 + e)

    @renamed_params(at="as_of")
    def score_units(self, lead: Any, *, as_of: datetime | None = None) -> int:
        """``100 · P(won)`` in units of 0.0001 (halves to even)."""
        return round(self.probability(lead) * 100 * UNIT)

    @renamed_params(at="as_of")
    def score(self, lead: Any, *, as_of: datetime | None = None) -> Score:
        """The :class:`Score`; each contribution is a value's evidence (log-likelihood ratio)."""
        units = self.score_units(lead)
        contributions = tuple(
            Contribution(
                f,
                f,
                v,
                Decimal(math.log(pw / pl)).quantize(Decimal("0.0001")),
                f"P(v|won)={pw:.3f} P(v|lost)={pl:.3f}",
            )
            for f, v, pw, pl in self._evidence(lead)
        )
        return self.make_score(units, contributions)


# --------------------------------------------------------------------------- evaluation


def auc_exact(scores: Sequence[float], labels: Sequence[bool]) -> Fraction:
    """ROC AUC as an exact fraction: Mann-Whitney U with mid-ranks (a tie counts one half).

    Raises ``ValueError`` unless there is at least one positive and one negative.
    """
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    n_pos = sum(1 for y in labels if y)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs at least one positive and one negative")
    order = sorted(range(len(scores)), key=scores.__getitem__)
    twice_rank_sum = 0  # sum of 2 × mid-rank over positives (ranks from 1)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        twice_mid = (i + 1) + (j + 1)
        twice_rank_sum += twice_mid * sum(1 for k in range(i, j + 1) if labels[order[k]])
        i = j + 1
    u_twice = twice_rank_sum - n_pos * (n_pos + 1)
    return Fraction(u_twice, 2 * n_pos * n_neg)


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """ROC AUC as a float (see :func:`auc_exact`)."""
    return float(auc_exact(scores, labels))


def brier(probabilities: Sequence[float], labels: Sequence[bool]) -> float:
    """Mean squared error of probabilities against outcomes (0 is perfect)."""
    if not probabilities:
        raise ValueError("Brier score of nothing")
    return math.fsum(
        (p - (1.0 if y else 0.0)) ** 2 for p, y in zip(probabilities, labels, strict=True)
    ) / len(probabilities)


@attrs.frozen
class GradeOutcome:
    """How the deals of one grade turned out in the test period."""

    grade: str
    n: int
    won: int

    @property
    def win_rate(self) -> float | None:
        """won / n (``None`` when the grade has no deal)."""
        return self.won / self.n if self.n else None


@attrs.frozen(kw_only=True)
class ModelBacktestReport:
    """What :func:`backtest_model` found."""

    split_at: datetime
    n_train: int
    n_test: int
    auc: float | None
    brier: float | None
    base_rate: float | None
    by_grade: tuple[GradeOutcome, ...]
    model: FittedPredictive

    def explain(self) -> str:
        """A short text table."""
        lines = [
            f"backtest at {self.split_at.isoformat()}: train {self.n_train}, test {self.n_test}",
            f"  AUC {_f(self.auc)}  Brier {_f(self.brier)}  base win rate {_f(self.base_rate)}",
            "  grade      n    won  win rate",
        ]
        for g in self.by_grade:
            lines.append(f"  {g.grade:<5} {g.n:>6} {g.won:>6}  {_f(g.win_rate)}")
        return "\n".join(lines)


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def backtest_model(
    model: PredictiveModel, history: Iterable[Example], split_at: datetime
) -> ModelBacktestReport:
    """Train on examples closed before ``split_at``; evaluate on those closed at or after it.

    Test examples are scored without their stage (the furthest stage reached gives the outcome
    away); AUC is ``None`` when the test set lacks a won or a lost example.
    """
    require_aware(split_at, "split_at")
    train: list[Example] = []
    test: list[Example] = []
    for ex in history:
        (train if ex.closed_at < split_at else test).append(ex)
    fitted = model.fit(train)
    probs = [fitted.probability(ex.attributes) for ex in test]
    labels = [ex.won for ex in test]
    counts: dict[str, list[int]] = {g: [0, 0] for g in model.bands.names()}
    for p, y in zip(probs, labels, strict=True):
        g = model.bands.grade_for_units(round(p * 100 * UNIT)).name
        counts[g][0] += 1
        counts[g][1] += int(y)
    has_both = any(labels) and not all(labels)
    return ModelBacktestReport(
        split_at=split_at,
        n_train=len(train),
        n_test=len(test),
        auc=auc(probs, labels) if has_both else None,
        brier=brier(probs, labels) if test else None,
        base_rate=sum(labels) / len(labels) if test else None,
        by_grade=tuple(GradeOutcome(g, n, w) for g, (n, w) in counts.items()),
        model=fitted,
    )


def examples_from_records(
    opportunities: Iterable[Any],
    leads: Mapping[str, Any],
    *,
    won_stages: Iterable[str],
    lost_stages: Iterable[str],
    stages: Sequence[str] = (),
    stage_events: Iterable[Any] = (),
) -> list[Example]:
    """Closed opportunities joined to their leads (by ``lead_id``) as :class:`Example` s.

    The furthest open stage reached comes from ``stage_events`` (``opportunity_id``,
    ``to_stage``) in the order of ``stages``. Open deals, deals without a lead and merged
    duplicates (:func:`pipeline_core.facts.is_merged`: the deal they were merged into is the
    example) are left out.
    """
    won_set, lost_set = set(won_stages), set(lost_stages)
    rank = {s: i for i, s in enumerate(stages)}
    furthest: dict[str, int] = {}
    for ev in stage_events:
        r = rank.get(ev.to_stage)
        if r is not None and r > furthest.get(ev.opportunity_id, -1):
            furthest[ev.opportunity_id] = r
    out = []
    for opp in opportunities:
        if isinstance(opp, Opportunity) and is_merged(opp):
            continue
        if opp.stage not in won_set and opp.stage not in lost_set:
            continue
        lead = leads.get(opp.lead_id) if opp.lead_id else None
        if lead is None or opp.closed_at is None:
            continue
        r = furthest.get(opp.id)
        out.append(
            Example(
                attributes=lead,
                won=opp.stage in won_set,
                closed_at=opp.closed_at,
                stage_reached=None if r is None else stages[r],
            )
        )
    return out


__getattr__ = moved(
    __name__,
    {
        "backtest": "pipeline_core.scoring.predictive:backtest_model",
        "BacktestReport": "pipeline_core.scoring.predictive:ModelBacktestReport",
    },
)
