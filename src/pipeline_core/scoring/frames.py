"""Batch scoring of data frames: the same rules compiled into narwhals expressions.

``score_frame(frame, model)`` adds a score column (float: units × 0.0001, as ``Scorer.score_many``) and a
grade column to a pandas or polars DataFrame (anything narwhals reads, eager or lazy), and returns
the same kind of frame. The rules are those of the object path, compiled into
``nw.when(...).then(...)`` chains over integer units, so every row gets exactly the score and grade
that ``model.score(row)`` gives.

Columns carry the field names of :class:`~pipeline_core.records.Lead`, as in the library's one
frame vocabulary (:mod:`pipeline_core.frame_columns`): ``budget`` (or the older
``budget_amount``) as a number, ``authority`` etc. as strings, ``pain_points`` as a list column,
``custom.<key>`` as a column of that name. ``columns={"field": "column"}`` renames. A null is a
missing value. Needs the ``frames`` extra (narwhals); imported lazily.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline_core._deprecation import REMOVED_IN
from pipeline_core._optional import require
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.scoring._units import CENT, FLOAT_PER_UNIT, hundredths, to_units
from pipeline_core.scoring.compose import WeightedSum
from pipeline_core.scoring.criteria import Category, Contains, Criterion, Decay, Predicate, Range
from pipeline_core.scoring.grades import GradeBands
from pipeline_core.scoring.models import ScoreModel, Scorer
from pipeline_core.scoring.readers import MONEY_FIELDS, category_keys

if TYPE_CHECKING:
    import narwhals.stable.v2 as nw

__all__ = ["score_frame"]


def _lit(value: int) -> nw.Expr:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    return nw.lit(value, dtype=nw.Int64())


def _bound(d: Any) -> int | float:
    return int(d) if d == d.to_integral_value() else float(d)


def _resolve(
    field: str, names: set[str], columns: Mapping[str, str], problems: list[Problem]
) -> str:
    if field in columns:
        name = columns[field]
    elif field in names:
        name = field
    elif field in MONEY_FIELDS and f"{field}_amount" in names:
        name = f"{field}_amount"
    else:
        problems.append(
            Problem(
                ("columns", field),
                "no column for this field (add it, nulls for unknown, or map it with columns=)",
                sorted(names),
                "missing_column",
            )
        )
        return field
    if name not in names:
        problems.append(Problem(("columns", field), "mapped column not in frame", name))
    return name


def _kind(dtype: Any) -> str:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    if dtype in (nw.Float32, nw.Float64):
        return "float"
    if dtype == nw.String:
        return "string"
    if dtype == nw.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype == nw.Object:
        return "object"
    return "other"


def _missing_expr(col: nw.Expr, kind: str) -> nw.Expr:
    """Missing in a column, as :func:`pipeline_core.facts.is_missing` decides for one value:
    null (``None``/``NaT``/``NA``), ``NaN`` in a float column, a blank text in a string column."""
    missing = col.is_null()
    if kind == "float":
        missing = missing | col.is_nan()
    elif kind == "string":
        missing = missing | (col.str.strip_chars() == "")
    return missing


def _cat_values(rule: Category, kind: str) -> list[Any]:
    """The category's values in the column's type (see ``criteria.category_keys``)."""
    if kind == "bool":
        return [v == "true" for v in rule.values if v in ("true", "false")]
    if kind == "int":
        return [
            k
            for v in rule.values
            for k in category_keys(v)[1:]
            if isinstance(k, int) and not isinstance(k, bool)
        ]
    return list(rule.values)


def _criterion_expr(
    c: Criterion,
    column: str,
    kind: str,
    problems: list[Problem],
    path: tuple[Any, ...],
) -> nw.Expr:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    w = hundredths(c.weight)
    assert w is not None

    def u(points: Any) -> nw.Expr:
        p = hundredths(points)
        assert p is not None
        return _lit(p * w)

    col = nw.col(column)
    if c.rules and all(isinstance(r, Category) for r in c.rules):
        # A hash lookup (replace_strict) beats a when/then chain of is_in tests.
        table: dict[Any, int] = {}
        for r in c.rules:
            assert isinstance(r, Category)
            pts = hundredths(r.points)
            assert pts is not None
            for key in _cat_values(r, kind):
                table.setdefault(key, pts * w)
        other = hundredths(c.otherwise)
        miss = hundredths(c.missing.points)
        assert other is not None
        assert miss is not None
        if kind in ("float", "object"):
            problems.append(
                Problem(
                    (*path, "field"),
                    f"a category criterion on a {kind} column: use a string, boolean or "
                    "integer column (pandas: astype('string'/'boolean'/'Int64'))",
                    column,
                    "column_type",
                )
            )
        source = col.cast(nw.String()) if kind == "other" else col
        looked = source.replace_strict(table, default=other * w, return_dtype=nw.Int64())
        if miss == other:  # a null or a blank takes the default too
            return looked
        return nw.when(_missing_expr(col, kind)).then(_lit(miss * w)).otherwise(looked)
    value = col.list.len() if c.measure == "count" else col
    missing = col.is_null() if c.measure == "count" else _missing_expr(col, kind)
    chain: Any = nw.when(missing).then(u(c.missing.points))
    for i, rule in enumerate(c.rules):
        if isinstance(rule, Category):
            cond = value.is_in(_cat_values(rule, kind))
        elif isinstance(rule, Range):
            parts = []
            if rule.low is not None:
                parts.append(value >= _bound(rule.low))
            if rule.high is not None:
                parts.append(value < _bound(rule.high))
            cond = parts[0] if parts else nw.lit(True)
            for p in parts[1:]:
                cond = cond & p
        elif isinstance(rule, Contains):
            cond = col.list.contains(rule.value)
        elif isinstance(rule, Predicate) and rule.frame is not None:
            cond = rule.frame(value)
        else:
            kind = "a decay rule" if isinstance(rule, Decay) else "a predicate without frame="
            problems.append(
                Problem((*path, "rules", i), f"{kind} cannot be scored in a frame", repr(rule))
            )
            continue
        chain = chain.when(cond).then(u(rule.points))
    return chain.otherwise(u(c.otherwise))  # type: ignore[no-any-return]


def _extreme_units(c: Criterion, pick: Any) -> int:
    w = hundredths(c.weight)
    assert w is not None
    points = [c.otherwise, c.missing.points, *(r.points for r in c.rules)]
    values = [hundredths(p) for p in points]
    best: int = pick(v for v in values if v is not None)
    if any(isinstance(r, Decay) for r in c.rules):  # decays towards 0
        best = pick(best, 0)
    return best * w


def _model_total(
    model: ScoreModel,
    names: set[str],
    kinds: Mapping[str, str],
    columns: Mapping[str, str],
    problems: list[Problem],
    path: tuple[Any, ...],
) -> nw.Expr:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    resolved = {}
    exprs = []
    for i, c in enumerate(model.criteria):
        col = _resolve(c.field, names, columns, problems)
        resolved[c.name] = col
        exprs.append(
            _criterion_expr(c, col, kinds.get(col, "other"), problems, (*path, "criteria", i))
        )
    total = exprs[0]
    for e in exprs[1:]:
        total = total + e
    lo, hi = to_units(model.minimum), to_units(model.maximum)
    low_sum = sum(_extreme_units(c, min) for c in model.criteria)
    high_sum = sum(_extreme_units(c, max) for c in model.criteria)
    if low_sum < lo or high_sum > hi:  # clamp only when the sum can leave the range
        total = nw.when(total < lo).then(_lit(lo)).when(total > hi).then(_lit(hi)).otherwise(total)
    for o in model.overrides:
        oc = nw.col(resolved[o.criterion])
        crit = next(c for c in model.criteria if c.name == o.criterion)
        if crit.measure == "count":
            oc = oc.list.len()
        cond = oc.is_null() if o.missing else oc.is_in(list(o.values)).fill_null(False)
        if o.max_grade is not None:
            cap = model.bands.top_units(o.max_grade)
            total = nw.when(cond & (total > cap)).then(_lit(cap)).otherwise(total)
        if o.min_grade is not None:
            floor = to_units(model.bands[o.min_grade].low)
            total = nw.when(cond & (total < floor)).then(_lit(floor)).otherwise(total)
    return total


def _grade_expr(total: nw.Expr, bands: GradeBands) -> nw.Expr:
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    ordered = list(reversed(bands.grades))  # best first
    chain: Any = nw.when(total >= to_units(ordered[0].low)).then(nw.lit(ordered[0].name))
    for g in ordered[1:-1]:
        chain = chain.when(total >= to_units(g.low)).then(nw.lit(g.name))
    return chain.otherwise(nw.lit(ordered[-1].name))  # type: ignore[no-any-return]


def score_expressions(
    frame: Any,
    model: Scorer,
    *,
    columns: Mapping[str, str] | None = None,
) -> tuple[nw.Expr, nw.Expr]:
    """Deprecated (removed in 0.4): use :func:`score_frame`, which takes lazy frames too.

    The (units, grade) narwhals expressions of ``model`` over ``frame``'s columns.
    """
    warnings.warn(
        f"score_expressions is deprecated: use score_frame (removed in {REMOVED_IN})",
        DeprecationWarning,
        stacklevel=2,
    )
    return _expressions(frame, model, columns=columns)


def _expressions(
    frame: Any,
    model: Scorer,
    *,
    columns: Mapping[str, str] | None = None,
) -> tuple[nw.Expr, nw.Expr]:
    """The (units, grade) narwhals expressions of ``model`` over ``frame``'s columns.

    Raises :class:`ConfigError` listing every field without a column and every rule that cannot
    run in a frame (decay, code-only predicates).
    """
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    nw_frame = nw.from_native(frame)
    schema = nw_frame.collect_schema()
    names = set(schema.names())
    kinds = {n: _kind(t) for n, t in schema.items()}
    columns = columns or {}
    problems: list[Problem] = []
    if isinstance(model, ScoreModel):
        total = _model_total(model, names, kinds, columns, problems, ())
    elif isinstance(model, WeightedSum):
        total = None
        for i, ((part, _), w) in enumerate(zip(model.parts, model.weights_hundredths, strict=True)):
            sub = _model_total(part, names, kinds, columns, problems, ("parts", i))
            term = (sub * w * 2 + CENT) // (2 * CENT)
            total = term if total is None else total + term
        assert total is not None
        lo, hi = to_units(model.bands.minimum), to_units(model.bands.maximum)
        total = nw.when(total < lo).then(_lit(lo)).when(total > hi).then(_lit(hi)).otherwise(total)
    else:
        problems.append(Problem(("model",), "not a ScoreModel or WeightedSum", repr(model)))
        total = None
    if problems:
        raise ConfigError(f"score_frame with model {getattr(model, 'name', model)!r}", problems)
    assert total is not None
    return total, _grade_expr(total, model.bands)


def score_frame(
    frame: Any,
    model: Scorer,
    *,
    score: str = "score",
    grade: str = "grade",
    columns: Mapping[str, str] | None = None,
) -> Any:
    """``frame`` with ``score`` (float) and ``grade`` (string) columns added, same frame type.

    Equal to ``model.score_many(rows)`` / ``model.score(row).grade.name`` on every row (the data
    frame entry point; one lead is :meth:`~pipeline_core.scoring.models.Scorer.score`, many
    :meth:`~pipeline_core.scoring.models.Scorer.score_many`). The
    ``currency`` column (the code of the money field's amount, :mod:`pipeline_core.frame_columns`)
    is checked against the model's currency: another currency raises
    :class:`~pipeline_core.errors.CurrencyMismatchError` (convert the amounts first).
    """
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    total, _ = _expressions(frame, model, columns=columns)
    nw_frame = nw.from_native(frame)
    _check_frame_currency(nw_frame, model, columns or {})
    tmp = "__pipeline_core_score_units__"
    units = nw.col(tmp)
    out = (
        nw_frame.with_columns(total.alias(tmp))
        .with_columns(
            (units.cast(nw.Float64()) * FLOAT_PER_UNIT).alias(score),
            _grade_expr(units, model.bands).alias(grade),
        )
        .drop(tmp)
    )
    return nw.to_native(out)


def _check_frame_currency(nw_frame: Any, model: Scorer, columns: Mapping[str, str]) -> None:
    """Refuse rows whose ``currency`` (the code of the money field's amount,
    :mod:`pipeline_core.frame_columns`) is not the model's currency, as a row read as a mapping
    does: only where an amount is given, and a null or blank code is missing (the amount is then
    read in the model's currency, :func:`pipeline_core.facts.is_missing`)."""
    require("narwhals.stable.v2", "frames")
    import narwhals.stable.v2 as nw

    currency = getattr(model, "currency", None)
    criteria = getattr(model, "criteria", ())
    if currency is None or not any(c.field in MONEY_FIELDS for c in criteria):
        return
    cur_col = "currency"
    schema = nw_frame.collect_schema()
    names = set(schema.names())
    if cur_col not in names:
        return
    amount_given = []
    for field in sorted({c.field for c in criteria if c.field in MONEY_FIELDS}):
        name = columns.get(field) or (field if field in names else f"{field}_amount")
        if name in names:
            amount_given.append(~_missing_expr(nw.col(name), _kind(schema[name])))
    if not amount_given:
        return
    code = nw.col(cur_col)
    present = ~_missing_expr(code, _kind(schema[cur_col]))
    other = nw_frame.filter(
        present & (code != nw.lit(currency)) & nw.any_horizontal(*amount_given, ignore_nulls=True)
    ).select(nw.col(cur_col).unique())
    if isinstance(other, nw.LazyFrame):
        other = other.collect()
    found = sorted(str(v) for v in other.get_column(cur_col).to_list())
    if found:
        from pipeline_core.money import currency_mismatch

        raise currency_mismatch(
            "score_frame",
            cur_col,
            (*found, currency),
            f"the model's money bands are in {currency}: convert the amounts first "
            "(pipeline_core.money.ExchangeRates.convert)",
        )
