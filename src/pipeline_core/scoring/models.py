"""Scoring models: validated, immutable definitions that turn a lead into a :class:`Score`.

A :class:`ScoreModel` is a named, versioned set of criteria, grade bands and overrides. It is
validated once when built (:class:`~pipeline_core.errors.ConfigError` lists every problem) and
compiled into lookups, so scoring is fast:

- ``model.score_units(lead)`` / ``model.score_value(lead)`` / ``model.grade(lead)``: the fast path,
  no result object;
- ``model.score(lead)``: the full, explainable :class:`Score` (every criterion's contribution).

Both read a :class:`~pipeline_core.records.Lead` or a plain mapping / frame row with the same field
names, and give the same number for the same input, always.

Arithmetic (exact): each contribution is ``points × weight`` in units of 0.0001 point (points and
weights carry at most two decimals, so this is exact). The total is the sum of contributions,
clamped to ``[minimum, maximum]`` (0-100 by default), then overrides apply in order. A grade is
found by comparing the integer total with the band limits; :attr:`Score.value` is the exact
``Decimal`` with four places and ``score_value`` the float ``units × 0.0001``.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import attrs
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from pipeline_core._currencies import MINOR_UNITS
from pipeline_core._model import Record
from pipeline_core.clock import require_aware
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.records import Authority, Intent, NeedLevel, Timeline
from pipeline_core.scoring._units import FLOAT_PER_UNIT, from_units, to_units
from pipeline_core.scoring.criteria import (
    Category,
    Compiled,
    Contains,
    Criterion,
    Decay,
    Missing,
    Range,
    _strs,
    compile_criterion,
)
from pipeline_core.scoring.grades import DEFAULT_BANDS, Grade, GradeBands

__all__ = [
    "BANT",
    "Contribution",
    "Override",
    "Score",
    "ScoreModel",
    "Scorer",
]


# --------------------------------------------------------------------------- results


@attrs.frozen
class Contribution:
    """What one criterion added: the value read, the rule that matched, the points (× weight)."""

    criterion: str
    field: str
    value: Any
    points: Decimal
    rule: str
    missing: bool = False


@attrs.frozen
class Score:
    """A scored lead: value (0-100), grade, each criterion's contribution, model name and version.

    ``adjustments`` lists the overrides that changed the total (e.g. "budget missing → at most B").
    """

    model: str
    version: str
    value: Decimal
    grade: Grade
    contributions: tuple[Contribution, ...]
    adjustments: tuple[str, ...] = ()
    raw: Decimal | None = None
    parts: tuple[Score, ...] = ()

    @property
    def units(self) -> int:
        """The value in exact units of 0.0001 point."""
        return to_units(self.value)

    def explain(self) -> str:
        """A short human-readable table of why the lead got this score."""
        rows = [("criterion", "value", "rule", "points")]
        for c in self.contributions:
            shown = "—" if c.missing else _show(c.value)
            rows.append((c.criterion, shown, c.rule, _signed(c.points)))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [f"{self.model} v{self.version}: {_num(self.value)} → grade {self.grade.name}"]
        for k, r in enumerate(rows):
            lines.append(
                "  "
                + "  ".join(
                    r[i].rjust(widths[i]) if i == 3 else r[i].ljust(widths[i]) for i in range(4)
                ).rstrip()
            )
            if k == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        if self.raw is not None and self.raw != self.value:
            lines.append(f"  sum {_num(self.raw)} limited to {_num(self.value)}")
        for a in self.adjustments:
            lines.append(f"  override: {a}")
        for part in self.parts:
            lines.extend("  | " + line for line in part.explain().splitlines())
        lines.append(f"  grade {self.grade.name}: {self.grade.describe()}; {self.grade.action}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "model": self.model,
            "version": self.version,
            "value": str(self.value),
            "grade": self.grade.name,
            "contributions": [
                {
                    "criterion": c.criterion,
                    "field": c.field,
                    "value": _show(c.value) if c.value is not None else None,
                    "points": str(c.points),
                    "rule": c.rule,
                    "missing": c.missing,
                }
                for c in self.contributions
            ],
            "adjustments": list(self.adjustments),
        }


def _num(d: Decimal) -> str:
    return format(d.normalize(), "f") if d == d.to_integral_value() else format(d, "f")


def _signed(d: Decimal) -> str:
    text = _num(d)
    return text if text.startswith("-") else f"+{text}"


def _show(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, tuple | list | frozenset | set):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)


# --------------------------------------------------------------------------- overrides


@attrs.frozen(repr=False)
class Override:
    """Limits the grade when a condition holds, e.g. "budget missing → at most B".

    The condition names a criterion and is either ``missing=True`` (its value is missing) or
    ``values=(...)`` (its value is one of these). ``max_grade`` lowers a better score to the top of
    that grade's band; ``min_grade`` raises a worse one to the bottom of that band.
    """

    criterion: str
    missing: bool = False
    values: tuple[str, ...] = attrs.field(default=(), converter=_strs)
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

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        out: dict[str, Any] = {"criterion": self.criterion}
        if self.missing:
            out["missing"] = True
        if self.values:
            out["values"] = list(self.values)
        if self.max_grade:
            out["max_grade"] = self.max_grade
        if self.min_grade:
            out["min_grade"] = self.min_grade
        return out


# --------------------------------------------------------------------------- plain-data specs


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategorySpec(_Spec):
    """``{"kind": "category", "values": [...], "points": n}``."""

    kind: Literal["category"]
    values: list[str] = Field(min_length=1)
    points: Decimal


class RangeSpec(_Spec):
    """``{"kind": "range", "low": a, "high": b, "points": n}``: ``low ≤ v < high``."""

    kind: Literal["range"]
    low: Decimal | None = None
    high: Decimal | None = None
    points: Decimal


class ContainsSpec(_Spec):
    """``{"kind": "contains", "value": "cost", "points": n}``."""

    kind: Literal["contains"]
    value: str
    points: Decimal


class DecaySpec(_Spec):
    """``{"kind": "decay", "points": n, "half_life": "P7D"}``."""

    kind: Literal["decay"]
    points: Decimal
    half_life: timedelta


RuleSpec = Annotated[
    CategorySpec | RangeSpec | ContainsSpec | DecaySpec, Field(discriminator="kind")
]


class MissingSpec(_Spec):
    """How a missing value scores."""

    policy: Literal["zero", "neutral", "penalty"] = "zero"
    points: Decimal = Decimal(0)


class CriterionSpec(_Spec):
    """One criterion as plain data."""

    name: str = Field(min_length=1, max_length=100)
    field: str = Field(min_length=1, max_length=200)
    weight: Decimal = Decimal(1)
    rules: list[RuleSpec] = Field(min_length=1)
    otherwise: Decimal = Decimal(0)
    missing: MissingSpec = MissingSpec()
    measure: Literal["value", "count"] = "value"
    description: str = ""


class GradeSpec(_Spec):
    """One grade band with its follow-up policy."""

    name: str = Field(min_length=1, max_length=20)
    low: Decimal
    high: Decimal
    high_inclusive: bool = False
    priority: int = 1
    action: str = ""
    follow_up_within: timedelta | None = None
    nurture_every: timedelta | None = None
    deep_conversation: bool = False


class OverrideSpec(_Spec):
    """An override as plain data."""

    criterion: str
    missing: bool = False
    values: list[str] = []
    max_grade: str | None = None
    min_grade: str | None = None


class ModelSpec(_Spec):
    """A scoring model as plain data (see :meth:`ScoreModel.json_schema`)."""

    name: str = Field(min_length=1, max_length=100)
    version: str = Field(default="1", min_length=1, max_length=50)
    minimum: Decimal = Decimal(0)
    maximum: Decimal = Decimal(100)
    criteria: list[CriterionSpec] = Field(min_length=1)
    bands: list[GradeSpec] | None = None
    overrides: list[OverrideSpec] = []
    currency: str | None = Field(default=None, min_length=3, max_length=3)


def _rule_from(spec: Any) -> Any:
    if isinstance(spec, CategorySpec):
        return Category(spec.values, spec.points)
    if isinstance(spec, RangeSpec):
        return Range(spec.points, spec.low, spec.high)
    if isinstance(spec, ContainsSpec):
        return Contains(spec.value, spec.points)
    assert isinstance(spec, DecaySpec)
    return Decay(spec.points, spec.half_life)


def pydantic_problems(exc: pydantic.ValidationError) -> list[Problem]:
    """pydantic's errors as :class:`Problem` s with paths."""
    out = []
    for err in exc.errors(include_url=False):
        path = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        out.append(
            Problem(path, msg, err.get("input"), err["type"], missing=err["type"] == "missing")
        )
    return out


# --------------------------------------------------------------------------- the model


class Scorer(abc.ABC):
    """What every scoring model offers (a :class:`ScoreModel` or a weighted sum of models)."""

    name: str
    version: str
    bands: GradeBands

    @abc.abstractmethod
    def score_units(self, lead: Any, *, at: datetime | None = None) -> int:
        """The score in exact integer units of 0.0001 point (fast path)."""

    @abc.abstractmethod
    def score(self, lead: Any, *, at: datetime | None = None) -> Score:
        """The full explainable :class:`Score`."""

    def score_value(self, lead: Any, *, at: datetime | None = None) -> float:
        """The score as a float, ``units × 0.0001`` (one IEEE multiply; fast path).

        This is within one ulp of the exact :attr:`Score.value` and bit-identical to the frame
        path on every engine (a division by a constant is not: polars multiplies by the
        reciprocal). Grades never depend on it: they compare exact integer units.
        """
        return self.score_units(lead, at=at) * FLOAT_PER_UNIT

    def grade(self, lead: Any, *, at: datetime | None = None) -> Grade:
        """The grade of ``lead`` (fast path)."""
        return self.bands.grade_for_units(self.score_units(lead, at=at))

    def score_many(self, leads: Iterable[Any], *, at: datetime | None = None) -> list[float]:
        """``score_value`` of each lead, in order."""
        f = self.score_units
        return [f(lead, at=at) * FLOAT_PER_UNIT for lead in leads]


@attrs.frozen(repr=False, eq=False)
class ScoreModel(Scorer):
    """An immutable scoring model; build with :meth:`of`, :meth:`from_dict` or :meth:`BANT.default`."""

    name: str
    version: str
    criteria: tuple[Criterion, ...]
    bands: GradeBands
    overrides: tuple[Override, ...]
    minimum: Decimal
    maximum: Decimal
    _compiled: tuple[Compiled, ...] = attrs.field(repr=False)
    _min_u: int = attrs.field(repr=False)
    _max_u: int = attrs.field(repr=False)
    _ov: tuple[tuple[int, bool, frozenset[str], int | None, int | None, str], ...] = attrs.field(
        repr=False
    )
    _timed: bool = attrs.field(repr=False)
    _obj_pairs: tuple[tuple[Any, Any], ...] = attrs.field(repr=False)
    _map_pairs: tuple[tuple[Any, Any], ...] = attrs.field(repr=False)
    currency: str | None = None
    """The currency of the money bands (``budget``, ``expected_amount``); ``None``: not stated."""

    @classmethod
    def of(
        cls,
        name: str,
        criteria: Sequence[Criterion],
        *,
        version: str = "1",
        bands: GradeBands | None = None,
        overrides: Sequence[Override] = (),
        minimum: Decimal | int = 0,
        maximum: Decimal | int = 100,
        currency: str | None = None,
    ) -> ScoreModel:
        """Validate and compile a model; :class:`ConfigError` lists every problem.

        ``currency`` (ISO 4217) is the currency of the money fields' ranges: a budget in another
        currency raises :class:`~pipeline_core.errors.CurrencyMismatchError` when scored (see
        :mod:`pipeline_core.scoring.criteria`)."""
        bands = DEFAULT_BANDS if bands is None else bands
        minimum, maximum = Decimal(minimum), Decimal(maximum)
        problems: list[Problem] = []
        if not name:
            problems.append(Problem(("name",), "must not be empty", name, "empty"))
        if not criteria:
            problems.append(Problem(("criteria",), "needs at least one criterion", [], "empty"))
        if currency is not None and currency not in MINOR_UNITS:
            problems.append(
                Problem(("currency",), "not an ISO 4217 currency code", currency, "currency")
            )
        names: dict[str, int] = {}
        for i, c in enumerate(criteria):
            if not isinstance(c, Criterion):
                problems.append(Problem(("criteria", i), "not a Criterion", c, "criterion"))
                continue
            problems.extend(c.problems(("criteria", i)))
            if c.name in names:
                problems.append(
                    Problem(
                        ("criteria", i, "name"), "duplicate criterion name", c.name, "duplicate"
                    )
                )
            names[c.name] = i
        if bands.minimum != minimum or bands.maximum != maximum:
            problems.append(
                Problem(
                    ("bands",),
                    f"bands cover {bands.minimum}..{bands.maximum}, the model {minimum}..{maximum}",
                    repr(bands),
                    "bands",
                )
            )
        for i, o in enumerate(overrides):
            where = ("overrides", i)
            if o.criterion not in names:
                problems.append(
                    Problem(
                        (*where, "criterion"),
                        f"unknown criterion; known: {sorted(names)}",
                        o.criterion,
                        "unknown_criterion",
                    )
                )
            for attr in ("max_grade", "min_grade"):
                g = getattr(o, attr)
                if g is not None and g not in bands.names():
                    problems.append(
                        Problem(
                            (*where, attr),
                            f"unknown grade; known: {list(bands.names())}",
                            g,
                            "unknown_grade",
                        )
                    )
            if o.max_grade is None and o.min_grade is None:
                problems.append(Problem(where, "needs max_grade or min_grade", o.to_dict()))
            if o.missing == bool(o.values):
                problems.append(
                    Problem(where, "needs exactly one of missing=True or values", o.to_dict())
                )
        if problems:
            raise ConfigError(f"scoring model {name!r}", problems)
        compiled = tuple(compile_criterion(c, currency=currency) for c in criteria)
        ov = tuple(
            (
                names[o.criterion],
                o.missing,
                frozenset(o.values),
                None if o.max_grade is None else bands.top_units(o.max_grade),
                None if o.min_grade is None else to_units(bands[o.min_grade].low),
                o.label(),
            )
            for o in overrides
        )
        return cls(
            name=name,
            version=version,
            criteria=tuple(criteria),
            bands=bands,
            overrides=tuple(overrides),
            minimum=minimum,
            maximum=maximum,
            compiled=compiled,
            min_u=to_units(minimum),
            max_u=to_units(maximum),
            ov=ov,
            timed=any(c.time_dependent for c in criteria),
            obj_pairs=tuple((c.get_obj, c.units) for c in compiled),
            map_pairs=tuple((c.get_map, c.units) for c in compiled),
            currency=currency,
        )

    def __repr__(self) -> str:
        names = ", ".join(c.name for c in self.criteria)
        return f"ScoreModel({self.name!r} v{self.version}: {names}; {self.bands!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScoreModel):
            return NotImplemented
        return (
            self.name,
            self.version,
            self.criteria,
            self.bands.grades,
            self.overrides,
            self.minimum,
            self.maximum,
            self.currency,
        ) == (
            other.name,
            other.version,
            other.criteria,
            other.bands.grades,
            other.overrides,
            other.minimum,
            other.maximum,
            other.currency,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.version, self.criteria))

    @property
    def time_dependent(self) -> bool:
        """True if scoring needs ``at=`` (some criterion decays with time)."""
        return self._timed

    # -- scoring ---------------------------------------------------------------------------

    def _check_at(self, at: datetime | None) -> None:
        if at is not None:
            require_aware(at, "at")
        elif self._timed:
            raise ConfigError(
                f"scoring model {self.name!r}",
                [Problem(("at",), "this model decays with time: pass at=", None, "missing_at")],
            )

    def score_units(self, lead: Any, *, at: datetime | None = None) -> int:
        """The score in exact integer units of 0.0001 point (fast path, no result object)."""
        if at is not None or self._timed:
            self._check_at(at)
        total = 0
        if isinstance(lead, Record) or not isinstance(lead, Mapping):
            try:
                for get, units in self._obj_pairs:
                    total += units(get(lead), at)
            except AttributeError:  # not a Lead: read absent attributes as missing
                total = 0
                for c in self._compiled:
                    total += c.units(c.get_safe(lead), at)
        else:
            for get, units in self._map_pairs:
                total += units(get(lead), at)
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

    def score(self, lead: Any, *, at: datetime | None = None) -> Score:
        """The full explainable :class:`Score` of ``lead``."""
        self._check_at(at)
        is_map = not isinstance(lead, Record) and isinstance(lead, Mapping)
        contributions = []
        total = 0
        for c in self._compiled:
            v = c.get_map(lead) if is_map else c.get_safe(lead)
            units, label, missing = c.explain(v, at)
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
        return Score(
            model=self.name,
            version=self.version,
            value=from_units(total),
            grade=self.bands.grade_for_units(total),
            contributions=tuple(contributions),
            adjustments=tuple(notes),
            raw=from_units(raw),
        )

    # -- data ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data; ``ScoreModel.from_dict(m.to_dict()) == m`` (``currency`` only when set)."""
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "minimum": str(self.minimum),
            "maximum": str(self.maximum),
            "criteria": [c.to_dict() for c in self.criteria],
            "bands": self.bands.to_dict(),
            "overrides": [o.to_dict() for o in self.overrides],
        }
        if self.currency is not None:
            out["currency"] = self.currency
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreModel:
        """Validate plain data (e.g. parsed JSON) and build the model; lists every problem."""
        try:
            spec = ModelSpec.model_validate(data)
        except pydantic.ValidationError as exc:
            raise ConfigError("scoring model", pydantic_problems(exc)) from None
        return cls.from_spec(spec)

    @classmethod
    def from_spec(cls, spec: ModelSpec, path: tuple[str | int, ...] = ()) -> ScoreModel:
        """Build from a validated :class:`ModelSpec`."""
        problems: list[Problem] = []
        bands = DEFAULT_BANDS
        if spec.bands is not None:
            try:
                bands = GradeBands.of(
                    [Grade(**g.model_dump()) for g in spec.bands],
                    minimum=spec.minimum,
                    maximum=spec.maximum,
                    path=(*path, "bands"),
                )
            except ConfigError as exc:
                problems.extend(exc.problems)
        criteria = [
            Criterion(
                name=c.name,
                field=c.field,
                rules=tuple(_rule_from(r) for r in c.rules),
                weight=c.weight,
                missing=Missing(c.missing.policy, c.missing.points),
                otherwise=c.otherwise,
                measure=c.measure,
                description=c.description,
            )
            for c in spec.criteria
        ]
        overrides = [
            Override(o.criterion, o.missing, tuple(o.values), o.max_grade, o.min_grade)
            for o in spec.overrides
        ]
        try:
            model = cls.of(
                spec.name,
                criteria,
                version=spec.version,
                bands=bands,
                overrides=overrides if not problems else [],
                minimum=spec.minimum,
                maximum=spec.maximum,
                currency=spec.currency,
            )
        except ConfigError as exc:
            problems.extend(
                Problem((*path, *p.path), p.message, p.value, p.code, p.missing)
                for p in exc.problems
            )
            model = None
        if problems:
            raise ConfigError(f"scoring model {spec.name!r}", problems)
        assert model is not None
        return model

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of :meth:`from_dict`'s plain data."""
        return ModelSpec.model_json_schema()

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


# --------------------------------------------------------------------------- BANT


def _cats(pairs: Iterable[tuple[Any, int]]) -> tuple[Category, ...]:
    return tuple(Category([str(v)], p) for v, p in pairs)


class BANT:
    """The ready BANT model (budget, authority, need/intent, timeline) on a 0-100 scale.

    ========== ========================================================== ======
    criterion  rule → points                                              max
    ========== ========================================================== ======
    budget     ≥ 500,000 → 25; 100,000-500,000 → 20; 30,000-100,000 → 12;  25
               < 30,000 → 5; missing → 0
    authority  decision_maker 25, influencer 15, user 8, none 0; missing 0 25
    need       strong 15, medium 9, weak 3; missing 0                      15
    intent     high 10, medium 6, low 2; missing 0                         10
    timeline   within_1_month 25, 1_3_months 18, 3_6_months 10,             25
               over_6_months 4, no_plan 0; missing 0
    ========== ========================================================== ======

    All weights are 1; the maximum is exactly 100. Missing data scores zero and is shown in the
    result. Grades: the default A/B/C bands. The budget bands are in CNY (``currency="CNY"``): a
    budget in another currency raises :class:`~pipeline_core.errors.CurrencyMismatchError` —
    convert it first with :meth:`pipeline_core.money.ExchangeRates.convert`.
    """

    NAME: Final = "bant"
    VERSION: Final = "1"

    @staticmethod
    @functools.cache
    def default() -> ScoreModel:
        """The default BANT model (built once, then shared; it is immutable)."""
        return ScoreModel.of(
            BANT.NAME,
            [
                Criterion(
                    "budget",
                    "budget",
                    (
                        Range(25, low=500_000),
                        Range(20, low=100_000, high=500_000),
                        Range(12, low=30_000, high=100_000),
                        Range(5, high=30_000),
                    ),
                    description="stated budget amount",
                ),
                Criterion(
                    "authority",
                    "authority",
                    _cats(
                        [
                            (Authority.DECISION_MAKER, 25),
                            (Authority.INFLUENCER, 15),
                            (Authority.USER, 8),
                            (Authority.NONE, 0),
                        ]
                    ),
                    description="the contact's decision authority",
                ),
                Criterion(
                    "need",
                    "need",
                    _cats([(NeedLevel.STRONG, 15), (NeedLevel.MEDIUM, 9), (NeedLevel.WEAK, 3)]),
                    description="strength of the need",
                ),
                Criterion(
                    "intent",
                    "intent",
                    _cats([(Intent.HIGH, 10), (Intent.MEDIUM, 6), (Intent.LOW, 2)]),
                    description="initial intent shown",
                ),
                Criterion(
                    "timeline",
                    "timeline",
                    _cats(
                        [
                            (Timeline.WITHIN_1_MONTH, 25),
                            (Timeline.MONTHS_1_3, 18),
                            (Timeline.MONTHS_3_6, 10),
                            (Timeline.OVER_6_MONTHS, 4),
                            (Timeline.NO_PLAN, 0),
                        ]
                    ),
                    description="when the customer plans to decide",
                ),
            ],
            version=BANT.VERSION,
            currency="CNY",
        )
