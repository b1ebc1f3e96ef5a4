"""Scoring models: the :class:`Scorer` interface and :class:`ScoreModel`, a validated definition.

A :class:`ScoreModel` is a named, versioned set of criteria, grade bands and overrides. It is a
definition (:mod:`pipeline_core._definition`: ``from_dict`` / ``to_dict`` / ``json_schema``
derived), checked once when built by small named checks (:data:`MODEL_CHECKS`;
:class:`~pipeline_core.errors.ConfigError` lists every problem) and compiled into lookups
(:mod:`pipeline_core.scoring.compiled`), so scoring is fast.

Evaluation has one entry point per use, on every :class:`Scorer`:

- one lead: ``model.score(lead, as_of=...)``, the explainable
  :class:`~pipeline_core.scoring.results.Score`;
- many leads: ``model.score_many(leads, as_of=...)``, the float values (fast path, no result
  object);
- a data frame: :func:`pipeline_core.scoring.frames.score_frame`.

``score_units(lead)`` is the exact integer all three are built on (what a :class:`Scorer`
implements). ``score_value`` and ``grade`` are deprecated aliases (removed in 0.4). ``as_of`` is
the evaluation instant (needed by decaying criteria); ``at=`` is its deprecated spelling.

All read a :class:`~pipeline_core.records.Lead` or a plain mapping / frame row with the same field
names, and give the same number for the same input, always.

Arithmetic (exact): each contribution is ``points × weight`` in units of 0.0001 point (points and
weights carry at most two decimals, so this is exact). The total is the sum of contributions,
clamped to ``[minimum, maximum]`` (0-100 by default), then overrides apply in order. A grade is
found by comparing the integer total with the band limits; ``Score.value`` is the exact
``Decimal`` with four places and ``score_many`` gives the floats ``units × 0.0001``.
"""

from __future__ import annotations

import abc
import functools
import inspect
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final

import attrs
from pydantic import Field

from pipeline_core._definition import Check, Definition, definition, plain, raise_problems
from pipeline_core._deprecation import REMOVED_IN, moved, renamed_params
from pipeline_core._model import Record
from pipeline_core._values import currency_problems
from pipeline_core.clock import require_aware
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.scoring._units import FLOAT_PER_UNIT, from_units, to_units
from pipeline_core.scoring.compiled import CompiledCriterion, compile_criterion
from pipeline_core.scoring.criteria import Criterion, texts
from pipeline_core.scoring.grades import DEFAULT_BANDS, Grade, GradeBands, check_bands
from pipeline_core.scoring.results import Contribution, Score

__all__ = [
    "AS_BANDS",
    "BANDS_FIELD",
    "MODEL_CHECKS",
    "Override",
    "ScoreModel",
    "Scorer",
    "as_bands",
    "check_model_bands",
    "text_plain",
]


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"Scorer.{old}() is deprecated: use {new} (removed in {REMOVED_IN})",
        DeprecationWarning,
        stacklevel=4,
    )


@functools.cache
def _score_units_takes_at(cls: type[Scorer]) -> bool:
    """Whether ``cls.score_units`` is the old spelling ``score_units(lead, *, at=None)`` (a
    subclass written before ``as_of``): looked up once per class."""
    params = inspect.signature(cls.score_units).parameters
    return "at" in params and "as_of" not in params


# --------------------------------------------------------------------------- the interface


class Scorer(abc.ABC):
    """What every scoring model offers (a :class:`ScoreModel`, a weighted sum of models, a
    fitted predictive model): one lead (:meth:`score`), many leads (:meth:`score_many`), and
    the exact primitive both are built on (:meth:`score_units`)."""

    name: str
    version: str
    bands: GradeBands

    @abc.abstractmethod
    def score_units(self, lead: Any, *, as_of: datetime | None = None) -> int:
        """The score in exact integer units of 0.0001 point (what a scorer implements)."""

    @abc.abstractmethod
    def score(self, lead: Any, *, as_of: datetime | None = None) -> Score:
        """One lead: the full explainable :class:`~pipeline_core.scoring.results.Score`."""

    def make_score(
        self,
        units: int,
        contributions: Iterable[Contribution],
        *,
        raw: int | None = None,
        adjustments: Iterable[str] = (),
        parts: Iterable[Score] = (),
    ) -> Score:
        """The :class:`~pipeline_core.scoring.results.Score` of a total of ``units`` (graded by
        this scorer's bands), for implementations of :meth:`score`; ``raw`` is the sum before
        it was clamped and overridden."""
        return Score(
            model=self.name,
            version=self.version,
            value=from_units(units),
            grade=self.bands.grade_for_units(units),
            contributions=tuple(contributions),
            adjustments=tuple(adjustments),
            raw=None if raw is None else from_units(raw),
            parts=tuple(parts),
        )

    @renamed_params(at="as_of")
    def score_many(self, leads: Iterable[Any], *, as_of: datetime | None = None) -> list[float]:
        """Many leads: each lead's score as a float ``units × 0.0001``, in order (fast path).

        One IEEE multiply: within one ulp of the exact ``Score.value`` and bit-identical to the
        frame path on every engine (a division by a constant is not: polars multiplies by the
        reciprocal). Grades never depend on it: they compare exact integer units.
        """
        f = self.units_at(as_of)
        return [f(lead) * FLOAT_PER_UNIT for lead in leads]

    def units_at(self, as_of: datetime | None) -> Callable[[Any], int]:
        """``lead -> self.score_units(lead, as_of=as_of)``; a subclass still spelling the keyword
        ``at=`` (before ``as_of``) is called with ``at=`` and a :class:`DeprecationWarning`."""
        if not _score_units_takes_at(type(self)):
            return functools.partial(self.score_units, as_of=as_of)
        warnings.warn(
            f"{type(self).__qualname__}.score_units(lead, *, at=...) is deprecated: name the "
            f"keyword as_of (removed in {REMOVED_IN})",
            DeprecationWarning,
            stacklevel=3,
        )
        old_spelling: Any = self.score_units
        return functools.partial(old_spelling, at=as_of)

    @renamed_params(at="as_of")
    def score_value(self, lead: Any, *, as_of: datetime | None = None) -> float:
        """Deprecated: ``score_many([lead], as_of=...)[0]``."""
        _deprecated("score_value", "score_many([lead])[0]")
        return self.units_at(as_of)(lead) * FLOAT_PER_UNIT

    @renamed_params(at="as_of")
    def grade(self, lead: Any, *, as_of: datetime | None = None) -> Grade:
        """Deprecated: ``score(lead, as_of=...).grade``."""
        _deprecated("grade", "score(lead).grade")
        return self.bands.grade_for_units(self.units_at(as_of)(lead))


# --------------------------------------------------------------------------- overrides


@definition("override")
@attrs.frozen(repr=False)
class Override(Definition):
    """Limits the grade when a condition holds, e.g. "budget missing → at most B".

    The condition names a criterion and is either ``missing=True`` (its value is missing) or
    ``values=(...)`` (its value is one of these). ``max_grade`` lowers a better score to the top of
    that grade's band; ``min_grade`` raises a worse one to the bottom of that band. Plain form:
    ``criterion`` and the fields that differ from their defaults.
    """

    criterion: str
    missing: bool = False
    values: tuple[str, ...] = attrs.field(default=(), converter=texts)
    max_grade: str | None = None
    min_grade: str | None = None

    def label(self) -> str:
        """Short text for explanations."""
        cond = "missing" if self.missing else "in {" + ", ".join(self.values) + "}"
        parts = []
        if self.max_grade:
            parts.append(f"at most {self.max_grade}")
        if self.min_grade:
            parts.append(f"at least {self.min_grade}")
        return f"{self.criterion} {cond} → {' and '.join(parts)}"

    def __repr__(self) -> str:
        return f"Override({self.label()!r})"


# --------------------------------------------------------------------------- the model


def as_bands(value: GradeBands | Sequence[Grade] | None, owner: Any) -> GradeBands:
    """The bands of ``owner`` (a model with ``minimum``/``maximum``): ``None`` is the default
    bands, grades are tiled over the owner's range (checked with its other checks,
    :func:`check_model_bands`)."""
    if value is None:
        return DEFAULT_BANDS
    if isinstance(value, GradeBands):
        return value
    return GradeBands.tiling(value, minimum=owner.minimum, maximum=owner.maximum)


def _bands_plain(bands: GradeBands) -> list[dict[str, Any]]:
    return bands.to_dict()


def _given(value: Any) -> Any:
    return value


def _criteria(items: Iterable[Criterion]) -> tuple[Criterion, ...]:
    return tuple(items)


def _overrides(items: Iterable[Override]) -> tuple[Override, ...]:
    return tuple(items)


BANDS_FIELD: Final = plain(
    schema=tuple[Grade, ...] | None, dump="always", encode=_bands_plain, decode=_given
)
"""The plain form of a ``bands`` field: the list of grades (best first), ``null`` for the default."""

_ALWAYS: Final = plain(dump="always")


def text_plain(longest: int) -> dict[str, Any]:
    """The plain form of a name-like text field: 1 to ``longest`` characters, always written."""
    return plain(schema=Annotated[str, Field(min_length=1, max_length=longest)], dump="always")


AS_BANDS: Final = attrs.Converter(as_bands, takes_self=True)
"""The converter of a ``bands`` field declared after the ``minimum``/``maximum`` fields."""


@definition("scoring model")
@attrs.frozen(kw_only=True, repr=False)
class ScoreModel(Scorer, Definition):
    """An immutable scoring model; build with :meth:`of`, :meth:`from_dict` or
    :meth:`BANT.default() <pipeline_core.scoring.bant.BANT.default>`.

    ``currency`` (ISO 4217) is the currency of the money bands (``budget``, ``expected_amount``):
    a budget in another currency raises :class:`~pipeline_core.errors.CurrencyMismatchError` when
    scored (:mod:`pipeline_core.scoring.readers`); ``None``: not stated. Plain form: every field,
    ``currency`` only when set.
    """

    name: str = attrs.field(metadata=text_plain(100))
    criteria: tuple[Criterion, ...] = attrs.field(
        converter=_criteria,
        metadata=plain(schema=Annotated[tuple[Criterion, ...], Field(min_length=1)], decode=_given),
    )
    version: str = attrs.field(default="1", metadata=text_plain(50))
    minimum: Decimal = attrs.field(default=Decimal(0), converter=Decimal, metadata=_ALWAYS)
    maximum: Decimal = attrs.field(default=Decimal(100), converter=Decimal, metadata=_ALWAYS)
    bands: GradeBands = attrs.field(default=None, converter=AS_BANDS, metadata=BANDS_FIELD)  # type: ignore[misc]
    overrides: tuple[Override, ...] = attrs.field(
        default=(), converter=_overrides, metadata=_ALWAYS
    )
    currency: str | None = attrs.field(
        default=None,
        metadata=plain(schema=Annotated[str, Field(min_length=3, max_length=3)] | None),
    )
    _compiled: tuple[CompiledCriterion, ...] = attrs.field(init=False, repr=False, eq=False)
    _min_u: int = attrs.field(init=False, repr=False, eq=False)
    _max_u: int = attrs.field(init=False, repr=False, eq=False)
    _ov: tuple[tuple[int, bool, frozenset[str], int | None, int | None, str], ...] = attrs.field(
        init=False, repr=False, eq=False
    )
    _timed: bool = attrs.field(init=False, repr=False, eq=False)
    _obj_pairs: tuple[tuple[Any, Any], ...] = attrs.field(init=False, repr=False, eq=False)
    _map_pairs: tuple[tuple[Any, Any], ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        raise_problems(f"scoring model {self.name!r}", self, MODEL_CHECKS)
        compiled = tuple(compile_criterion(c, currency=self.currency) for c in self.criteria)
        index = {c.name: i for i, c in enumerate(self.criteria)}
        bands = self.bands
        ov = tuple(
            (
                index[o.criterion],
                o.missing,
                frozenset(o.values),
                None if o.max_grade is None else bands.top_units(o.max_grade),
                None if o.min_grade is None else to_units(bands[o.min_grade].low),
                o.label(),
            )
            for o in self.overrides
        )
        setter = object.__setattr__
        setter(self, "_compiled", compiled)
        setter(self, "_min_u", to_units(self.minimum))
        setter(self, "_max_u", to_units(self.maximum))
        setter(self, "_ov", ov)
        setter(self, "_timed", any(c.time_dependent for c in self.criteria))
        setter(self, "_obj_pairs", tuple((c.get_obj, c.units) for c in compiled))
        setter(self, "_map_pairs", tuple((c.get_map, c.units) for c in compiled))

    @classmethod
    def of(
        cls,
        name: str,
        criteria: Sequence[Criterion],
        *,
        version: str = "1",
        bands: GradeBands | Sequence[Grade] | None = None,
        overrides: Sequence[Override] = (),
        minimum: Decimal | int = 0,
        maximum: Decimal | int = 100,
        currency: str | None = None,
    ) -> ScoreModel:
        """Validate and compile a model; :class:`ConfigError` lists every problem."""
        return cls(
            name=name,
            criteria=tuple(criteria),
            version=version,
            bands=bands,  # the converter takes grades or None too
            overrides=tuple(overrides),
            minimum=Decimal(minimum),
            maximum=Decimal(maximum),
            currency=currency,
        )

    def __repr__(self) -> str:
        names = ", ".join(c.name for c in self.criteria)
        return f"ScoreModel({self.name!r} v{self.version}: {names}; {self.bands!r})"

    @property
    def time_dependent(self) -> bool:
        """True if scoring needs ``as_of=`` (some criterion decays with time)."""
        return self._timed

    # -- scoring ---------------------------------------------------------------------------

    def _check_as_of(self, as_of: datetime | None) -> None:
        if as_of is not None:
            require_aware(as_of, "as_of")
        elif self._timed:
            raise ConfigError(
                f"scoring model {self.name!r}",
                [
                    Problem(
                        ("as_of",),
                        "this model decays with time: pass as_of=",
                        None,
                        "missing_at",
                    )
                ],
            )

    @renamed_params(at="as_of")
    def score_units(self, lead: Any, *, as_of: datetime | None = None) -> int:
        """The score in exact integer units of 0.0001 point (fast path, no result object)."""
        if as_of is not None or self._timed:
            self._check_as_of(as_of)
        total = 0
        if isinstance(lead, Record) or not isinstance(lead, Mapping):
            try:
                for get, units in self._obj_pairs:
                    total += units(get(lead), as_of)
            except AttributeError:  # not a Lead: read absent attributes as missing
                total = 0
                for c in self._compiled:
                    total += c.units(c.get_safe(lead), as_of)
        else:
            for get, units in self._map_pairs:
                total += units(get(lead), as_of)
        if total < self._min_u:
            total = self._min_u
        elif total > self._max_u:
            total = self._max_u
        if self._ov:
            total = self._apply_overrides(lead, total, None)
        return total

    def _apply_overrides(self, lead: Any, total: int, notes: list[str] | None) -> int:
        is_map = not isinstance(lead, Record) and isinstance(lead, Mapping)
        for idx, missing, values, cap, floor, label in self._ov:
            c = self._compiled[idx]
            v = c.get_map(lead) if is_map else c.get_safe(lead)
            if (v is None) if missing else (v is not None and v in values):
                new = total
                if cap is not None and new > cap:
                    new = cap
                if floor is not None and new < floor:
                    new = floor
                if new != total and notes is not None:
                    notes.append(label)
                total = new
        return total

    @renamed_params(at="as_of")
    def score(self, lead: Any, *, as_of: datetime | None = None) -> Score:
        """The full explainable :class:`Score` of ``lead``."""
        self._check_as_of(as_of)
        is_map = not isinstance(lead, Record) and isinstance(lead, Mapping)
        contributions = []
        total = 0
        for c in self._compiled:
            v = c.get_map(lead) if is_map else c.get_safe(lead)
            units, label, missing = c.explain(v, as_of)
            total += units
            crit = c.criterion
            contributions.append(
                Contribution(crit.name, crit.field, v, from_units(units), label, missing)
            )
        raw = total
        total = min(max(total, self._min_u), self._max_u)
        notes: list[str] = []
        if self._ov:
            total = self._apply_overrides(lead, total, notes)
        return self.make_score(total, contributions, raw=raw, adjustments=notes)

    def tuned(self, changes: Mapping[str, Any]) -> ScoreModel:
        """A company-specific variant: ``changes`` merged into :meth:`to_dict`, validated again.

        ``changes`` may set ``name``, ``version``, ``bands``, ``overrides`` (replacing them) and
        ``criteria``: a mapping from criterion name to the fields to change (``weight``, ``rules``,
        ``missing``, ...), or ``null`` to drop that criterion; unknown names are errors.
        """
        data = self.to_dict()
        problems: list[Problem] = []
        for key, value in changes.items():
            if key == "criteria":
                if not isinstance(value, Mapping):
                    problems.append(Problem(("criteria",), "must be a mapping by name", value))
                    continue
                by_name = {c["name"]: c for c in data["criteria"]}
                for cname, patch in value.items():
                    if cname not in by_name:
                        if isinstance(patch, Mapping) and "field" in patch:
                            by_name[cname] = {"name": cname, **patch}
                            continue
                        problems.append(
                            Problem(
                                ("criteria", cname),
                                f"unknown criterion; known: {sorted(by_name)}",
                                cname,
                                "unknown_criterion",
                            )
                        )
                    elif patch is None:
                        del by_name[cname]
                    elif isinstance(patch, Mapping):
                        by_name[cname] = {**by_name[cname], **patch}
                    else:
                        problems.append(Problem(("criteria", cname), "must be a mapping", patch))
                data["criteria"] = list(by_name.values())
            else:
                data[key] = value
        if problems:
            raise ConfigError(f"tuning of {self.name!r}", problems)
        return ScoreModel.from_dict(data)


# --------------------------------------------------------------------------- named checks


def _check_name(model: ScoreModel) -> Iterator[Problem]:
    if not model.name:
        yield Problem(("name",), "must not be empty", model.name, "empty")


def _check_currency(model: ScoreModel) -> Iterator[Problem]:
    yield from currency_problems(model.currency)


def _check_criteria(model: ScoreModel) -> Iterator[Problem]:
    if not model.criteria:
        yield Problem(("criteria",), "needs at least one criterion", [], "empty")
    names: set[str] = set()
    for i, c in enumerate(model.criteria):
        if not isinstance(c, Criterion):
            yield Problem(("criteria", i), "not a Criterion", c, "criterion")
            continue
        yield from c.problems(("criteria", i))
        if c.name in names:
            yield Problem(("criteria", i, "name"), "duplicate criterion name", c.name, "duplicate")
        names.add(c.name)


def check_model_bands(model: Any) -> Iterator[Problem]:
    """The bands of a model (or a weighted sum) cover its ``[minimum, maximum]`` and tile it
    (:func:`~pipeline_core.scoring.grades.check_bands`, paths under ``bands``)."""
    bands: GradeBands = model.bands
    if bands.minimum != model.minimum or bands.maximum != model.maximum:
        yield Problem(
            ("bands",),
            f"bands cover {bands.minimum}..{bands.maximum}, "
            f"the model {model.minimum}..{model.maximum}",
            repr(bands),
            "bands",
        )
        return
    for p in check_bands(bands):
        yield Problem(("bands", *p.path), p.message, p.value, p.code, p.missing)


def _check_overrides(model: ScoreModel) -> Iterator[Problem]:
    names = sorted({c.name for c in model.criteria if isinstance(c, Criterion)})
    grades = model.bands.names()
    for i, o in enumerate(model.overrides):
        where: tuple[str | int, ...] = ("overrides", i)
        if o.criterion not in names:
            yield Problem(
                (*where, "criterion"),
                f"unknown criterion; known: {names}",
                o.criterion,
                "unknown_criterion",
            )
        for attr in ("max_grade", "min_grade"):
            g = getattr(o, attr)
            if g is not None and g not in grades:
                yield Problem(
                    (*where, attr), f"unknown grade; known: {list(grades)}", g, "unknown_grade"
                )
        if o.max_grade is None and o.min_grade is None:
            yield Problem(where, "needs max_grade or min_grade", o.to_dict())
        if o.missing == bool(o.values):
            yield Problem(
                where,
                "needs exactly one of missing=True or values",
                o.to_dict(),
            )


MODEL_CHECKS: Final[tuple[Check, ...]] = (
    _check_name,
    _check_criteria,
    _check_currency,
    check_model_bands,
    _check_overrides,
)
"""The semantic checks of a :class:`ScoreModel`, run in this order when it is built."""


__getattr__ = moved(
    __name__,
    {
        "BANT": "pipeline_core.scoring.bant:BANT",
        "pydantic_problems": "pipeline_core._model:problems_from_pydantic",
    },
)
