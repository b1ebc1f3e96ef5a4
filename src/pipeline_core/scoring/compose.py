"""Composition: weighted sums of models (fit + engagement), loadable as plain data.

A :class:`WeightedSum` adds its parts' scores, each times a weight (at most two decimals, ≥ 0):
each part's contribution is ``weight × part score`` rounded to the nearest 0.0001 point, halves up
(exact integer arithmetic), and the total is clamped to the bands' range. Overrides ("budget
unknown → at most B"), half-life engagement decay (:class:`~pipeline_core.scoring.criteria.Decay`)
and company tuning (:meth:`~pipeline_core.scoring.models.ScoreModel.tuned`) live on the parts.
A weighted sum and its :class:`Part` s are definitions (:mod:`pipeline_core._definition`).

:func:`model_from_dict` reads either form of plain data; :func:`json_schema` publishes both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final

import attrs
from pydantic import Field

from pipeline_core._definition import (
    Check,
    Definition,
    definition,
    plain,
    raise_problems,
    schema_of,
)
from pipeline_core._deprecation import renamed_params
from pipeline_core.errors import Problem
from pipeline_core.scoring._units import CENT, div_half_up, from_units, hundredths, to_units
from pipeline_core.scoring.criteria import decimal
from pipeline_core.scoring.grades import GradeBands
from pipeline_core.scoring.models import (
    AS_BANDS,
    BANDS_FIELD,
    ScoreModel,
    Scorer,
    check_model_bands,
    text_plain,
)
from pipeline_core.scoring.results import Contribution, Score

__all__ = ["Part", "WeightedSum", "json_schema", "model_from_dict"]


@definition("weighted sum part")
@attrs.frozen
class Part(Definition):
    """One weighted part of a sum: a model and its weight; unpacks as ``(model, weight)``.

    Plain form: ``{"model": {...}, "weight": "0.6"}``.
    """

    model: ScoreModel
    weight: Decimal = attrs.field(converter=decimal)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.model, self.weight))


def _parts(parts: Sequence[Part | tuple[ScoreModel, Decimal | int | str]]) -> tuple[Part, ...]:
    return tuple(p if isinstance(p, Part) else Part(*p) for p in parts)


def _given(value: Any) -> Any:
    return value


_ALWAYS: Final = plain(dump="always")


@definition("weighted sum")
@attrs.frozen(kw_only=True, repr=False)
class WeightedSum(Scorer, Definition):
    """``Σ weightᵢ × scoreᵢ`` over scoring models, graded by its own bands.

    ``parts`` holds :class:`Part` s (each unpacks as ``(model, weight)``). Plain form: every
    field written; ``bands`` as the list of grades, best first.
    """

    name: str = attrs.field(metadata=text_plain(100))
    version: str = attrs.field(default="1", metadata=text_plain(50))
    parts: tuple[Part, ...] = attrs.field(
        converter=_parts,
        metadata=plain(schema=Annotated[tuple[Part, ...], Field(min_length=1)], decode=_given),
    )
    minimum: Decimal = attrs.field(default=Decimal(0), converter=Decimal, metadata=_ALWAYS)
    maximum: Decimal = attrs.field(default=Decimal(100), converter=Decimal, metadata=_ALWAYS)
    bands: GradeBands = attrs.field(default=None, converter=AS_BANDS, metadata=BANDS_FIELD)  # type: ignore[misc]
    _w: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)
    _min_u: int = attrs.field(init=False, repr=False, eq=False)
    _max_u: int = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        raise_problems(f"weighted sum {self.name!r}", self, SUM_CHECKS)
        object.__setattr__(self, "_w", tuple(hundredths(p.weight) or 0 for p in self.parts))
        object.__setattr__(self, "_min_u", to_units(self.bands.minimum))
        object.__setattr__(self, "_max_u", to_units(self.bands.maximum))

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
        span = {} if bands is None else {"minimum": bands.minimum, "maximum": bands.maximum}
        return cls(name=name, parts=_parts(parts), version=version, bands=bands, **span)

    def __repr__(self) -> str:
        inner = " + ".join(f"{_n(w)}×{m.name}" for m, w in self.parts)
        return f"WeightedSum({self.name!r} v{self.version}: {inner})"

    @property
    def time_dependent(self) -> bool:
        """True if some part needs ``as_of=``."""
        return any(m.time_dependent for m, _ in self.parts)

    @property
    def weights_hundredths(self) -> tuple[int, ...]:
        """Part weights × 100 (ints)."""
        return self._w

    @renamed_params(at="as_of")
    def score_units(self, lead: Any, *, as_of: datetime | None = None) -> int:
        """The score in exact units (fast path)."""
        total = 0
        for (model, _), w in zip(self.parts, self._w, strict=True):
            total += div_half_up(w * model.score_units(lead, as_of=as_of), CENT)
        return min(max(total, self._min_u), self._max_u)

    @renamed_params(at="as_of")
    def score(self, lead: Any, *, as_of: datetime | None = None) -> Score:
        """The full :class:`Score`; one contribution per part, the parts' scores attached."""
        subs = []
        contributions = []
        total = 0
        for (model, weight), w in zip(self.parts, self._w, strict=True):
            sub = model.score(lead, as_of=as_of)
            units = div_half_up(w * sub.units, CENT)
            total += units
            subs.append(sub)
            contributions.append(
                Contribution(model.name, "", sub.value, from_units(units), f"× {_n(weight)}")
            )
        raw = total
        total = min(max(total, self._min_u), self._max_u)
        return self.make_score(total, contributions, raw=raw, parts=subs)


def _check_parts(total: WeightedSum) -> Iterator[Problem]:
    if not total.parts:
        yield Problem(("parts",), "needs at least one part", [], "empty")
    seen: set[str] = set()
    for i, (model, w) in enumerate(total.parts):
        if w < 0:
            yield Problem(("parts", i, "weight"), "must be ≥ 0", w, "negative_weight")
        if hundredths(w) is None:
            yield Problem(("parts", i, "weight"), "at most 2 decimal places", w)
        if not isinstance(model, ScoreModel):
            yield Problem(("parts", i, "model"), "not a ScoreModel", model)
        elif model.name in seen:
            yield Problem(("parts", i, "model"), "duplicate part name", model.name, "duplicate")
        else:
            seen.add(model.name)


SUM_CHECKS: Final[tuple[Check, ...]] = (_check_parts, check_model_bands)
"""The semantic checks of a :class:`WeightedSum`, run in this order when it is built."""


def _n(d: Decimal) -> str:
    return format(d.normalize(), "f")


def model_from_dict(data: Mapping[str, Any]) -> ScoreModel | WeightedSum:
    """A :class:`ScoreModel` or, when ``data`` has ``parts``, a :class:`WeightedSum`."""
    if isinstance(data, Mapping) and "parts" in data:
        return WeightedSum.from_dict(data)
    return ScoreModel.from_dict(data)


def json_schema() -> dict[str, Any]:
    """One JSON Schema accepting either a scoring model or a weighted sum of models."""
    members = [schema_of(ScoreModel), schema_of(WeightedSum)]
    defs = {name: d for m in members for name, d in m.pop("$defs", {}).items()}
    return {"anyOf": members, "$defs": defs}
