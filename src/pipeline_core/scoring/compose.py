"""Composition: weighted sums of models (fit + engagement), loadable as plain data.

A :class:`WeightedSum` adds its parts' scores, each times a weight (at most two decimals, ≥ 0):
each part's contribution is ``weight × part score`` rounded to the nearest 0.0001 point, halves up
(exact integer arithmetic), and the total is clamped to the bands' range. Overrides ("budget
unknown → at most B"), half-life engagement decay (:class:`~pipeline_core.scoring.criteria.Decay`)
and company tuning (:meth:`~pipeline_core.scoring.models.ScoreModel.tuned`) live on the parts.

:func:`model_from_dict` reads either form of plain data; :func:`json_schema` publishes both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
import pydantic
from pydantic import Field

from pipeline_core.errors import ConfigError, Problem
from pipeline_core.scoring._units import CENT, div_half_up, from_units, hundredths, to_units
from pipeline_core.scoring.grades import DEFAULT_BANDS, Grade, GradeBands
from pipeline_core.scoring.models import (
    Contribution,
    GradeSpec,
    ModelSpec,
    Score,
    ScoreModel,
    Scorer,
    _Spec,
    pydantic_problems,
)

__all__ = ["WeightedSum", "json_schema", "model_from_dict"]


class PartSpec(_Spec):
    """One weighted part of a sum."""

    weight: Decimal
    model: ModelSpec


class SumSpec(_Spec):
    """A weighted sum of models as plain data."""

    name: str = Field(min_length=1, max_length=100)
    version: str = Field(default="1", min_length=1, max_length=50)
    parts: list[PartSpec] = Field(min_length=1)
    bands: list[GradeSpec] | None = None
    minimum: Decimal = Decimal(0)
    maximum: Decimal = Decimal(100)


@attrs.frozen(repr=False, eq=False)
class WeightedSum(Scorer):
    """``Σ weightᵢ × scoreᵢ`` over scoring models, graded by its own bands."""

    name: str
    version: str
    parts: tuple[tuple[ScoreModel, Decimal], ...]
    bands: GradeBands
    _w: tuple[int, ...] = attrs.field(repr=False)
    _min_u: int = attrs.field(repr=False)
    _max_u: int = attrs.field(repr=False)

    @classmethod
    def of(
        cls,
        name: str,
        parts: Sequence[tuple[ScoreModel, Decimal | int | str]],
        *,
        version: str = "1",
        bands: GradeBands | None = None,
    ) -> WeightedSum:
        """Validate and build; :class:`ConfigError` lists every problem."""
        bands = DEFAULT_BANDS if bands is None else bands
        problems: list[Problem] = []
        if not parts:
            problems.append(Problem(("parts",), "needs at least one part", [], "empty"))
        weights: list[int] = []
        seen: set[str] = set()
        for i, (model, weight) in enumerate(parts):
            w = Decimal(str(weight))
            h = hundredths(w)
            if w < 0:
                problems.append(
                    Problem(("parts", i, "weight"), "must be ≥ 0", w, "negative_weight")
                )
            if h is None:
                problems.append(Problem(("parts", i, "weight"), "at most 2 decimal places", w))
            if not isinstance(model, ScoreModel):
                problems.append(Problem(("parts", i, "model"), "not a ScoreModel", model))
            elif model.name in seen:
                problems.append(
                    Problem(("parts", i, "model"), "duplicate part name", model.name, "duplicate")
                )
            else:
                seen.add(model.name)
            weights.append(h or 0)
        if problems:
            raise ConfigError(f"weighted sum {name!r}", problems)
        return cls(
            name=name,
            version=version,
            parts=tuple((m, Decimal(str(w))) for m, w in parts),
            bands=bands,
            w=tuple(weights),
            min_u=to_units(bands.minimum),
            max_u=to_units(bands.maximum),
        )

    def __repr__(self) -> str:
        inner = " + ".join(f"{_n(w)}×{m.name}" for m, w in self.parts)
        return f"WeightedSum({self.name!r} v{self.version}: {inner})"

    @property
    def time_dependent(self) -> bool:
        """True if some part needs ``at=``."""
        return any(m.time_dependent for m, _ in self.parts)

    @property
    def weights_hundredths(self) -> tuple[int, ...]:
        """Part weights × 100 (ints)."""
        return self._w

    def score_units(self, lead: Any, *, at: datetime | None = None) -> int:
        """The score in exact units (fast path)."""
        total = 0
        for (model, _), w in zip(self.parts, self._w, strict=True):
            total += div_half_up(w * model.score_units(lead, at=at), CENT)
        return min(max(total, self._min_u), self._max_u)

    def score(self, lead: Any, *, at: datetime | None = None) -> Score:
        """The full :class:`Score`; one contribution per part, the parts' scores attached."""
        subs = []
        contributions = []
        total = 0
        for (model, weight), w in zip(self.parts, self._w, strict=True):
            sub = model.score(lead, at=at)
            units = div_half_up(w * sub.units, CENT)
            total += units
            subs.append(sub)
            contributions.append(
                Contribution(model.name, "", sub.value, from_units(units), f"× {_n(weight)}")
            )
        raw = total
        total = min(max(total, self._min_u), self._max_u)
        return Score(
            model=self.name,
            version=self.version,
            value=from_units(total),
            grade=self.bands.grade_for_units(total),
            contributions=tuple(contributions),
            raw=from_units(raw),
            parts=tuple(subs),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "name": self.name,
            "version": self.version,
            "parts": [{"weight": str(w), "model": m.to_dict()} for m, w in self.parts],
            "bands": self.bands.to_dict(),
            "minimum": str(self.bands.minimum),
            "maximum": str(self.bands.maximum),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WeightedSum:
        """Validate plain data and build; lists every problem, with paths into the parts."""
        try:
            spec = SumSpec.model_validate(data)
        except pydantic.ValidationError as exc:
            raise ConfigError("weighted sum", pydantic_problems(exc)) from None
        problems: list[Problem] = []
        bands = DEFAULT_BANDS
        if spec.bands is not None:
            try:
                bands = GradeBands.of(
                    [Grade(**g.model_dump()) for g in spec.bands],
                    minimum=spec.minimum,
                    maximum=spec.maximum,
                )
            except ConfigError as exc:
                problems.extend(exc.problems)
        models = []
        for i, part in enumerate(spec.parts):
            try:
                models.append(
                    (ScoreModel.from_spec(part.model, ("parts", i, "model")), part.weight)
                )
            except ConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ConfigError(f"weighted sum {spec.name!r}", problems)
        return cls.of(spec.name, models, version=spec.version, bands=bands)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of :meth:`from_dict`'s plain data."""
        return SumSpec.model_json_schema()


def _n(d: Decimal) -> str:
    return format(d.normalize(), "f")


def model_from_dict(data: Mapping[str, Any]) -> ScoreModel | WeightedSum:
    """A :class:`ScoreModel` or, when ``data`` has ``parts``, a :class:`WeightedSum`."""
    if isinstance(data, Mapping) and "parts" in data:
        return WeightedSum.from_dict(data)
    return ScoreModel.from_dict(data)


def json_schema() -> dict[str, Any]:
    """One JSON Schema accepting either a scoring model or a weighted sum of models."""
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ModelSpec | SumSpec)
    return adapter.json_schema()
