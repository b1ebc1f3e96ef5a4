"""The edge of the metrics: stage order, input detection, the flat frame layout, epoch seconds.

Every metric accepts either *records* (iterables of :class:`~pipeline_core.records.Opportunity`,
:class:`~pipeline_core.records.StageEvent`, ...) or *dataframes* with the flat layout below. Records
are computed in plain Python (no optional dependency needed); frames are computed in the frame's own
engine through ``narwhals`` (imported lazily, only when a frame is given).

Flat frame layout: the library's one column vocabulary, :mod:`pipeline_core.frame_columns`, so
the frames of :mod:`pipeline_core.storage.frames` are read as they are (extra columns are ignored
and may be used for grouping):

- stage events: ``id``, ``opportunity_id``, ``from_stage`` (null for the creation event),
  ``to_stage``, ``at``, ``seq`` (optional, 0 when absent), ``by``;
- opportunities: ``id``, ``created_at``, ``owner_id``, ``team_id``, ``source``, ``stage``,
  ``expected_amount`` (a number), ``currency`` (ISO 4217 code), ``closed_at``, ``lost_reason``,
  ``merged_into`` (optional); any other column (``segment``, ``grade``, ``variant`` ...) can be a
  dimension. The old name ``amount`` is still read for one release (``DeprecationWarning``).

**Merged duplicates are left out here, once, for every metric**: a record for which
:func:`pipeline_core.facts.is_merged` holds, or a frame row with ``merged_into`` set, is not a
deal of its own (see :func:`as_records` and ``metrics._frames.prepare``).

Timestamps are timezone-aware datetimes, or integers already holding epoch seconds (UTC). They are
converted once, natively in the engine, to integer epoch seconds (floored); all durations are
integer subtractions of those. The *order* of stage events is never floored: it is
:func:`pipeline_core.facts.event_order` (the instant at full precision, then ``seq``), with the
event id only between events equal on both. Naive datetime columns are refused, as naive
datetimes are everywhere in :mod:`pipeline_core`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import attrs

from pipeline_core import frame_columns as _vocabulary
from pipeline_core._deprecation import moved
from pipeline_core.clock import require_aware
from pipeline_core.errors import ConfigError, Problem, ValidationError
from pipeline_core.facts import is_merged, merged_into
from pipeline_core.records import Lead, Opportunity, StageEvent

__all__ = [
    "METRIC_EVENT_COLUMNS",
    "METRIC_OPPORTUNITY_COLUMNS",
    "StageKindsLike",
    "StageOrder",
    "epoch_seconds",
    "event_columns",
    "is_frame",
    "opportunity_columns",
    "stage_order",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_MICRO = timedelta(microseconds=1)

METRIC_EVENT_COLUMNS: tuple[str, ...] = tuple(
    c for c in _vocabulary.EVENT_COLUMNS if c != "pipeline"
)
"""Columns of the flat stage-event frame :func:`event_columns` builds (names from
:data:`pipeline_core.frame_columns.EVENT_COLUMNS`)."""

METRIC_OPPORTUNITY_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "owner_id",
    "team_id",
    "source",
    "stage",
    "expected_amount",
    "currency",
    "closed_at",
    "lost_reason",
    "lead_id",
    "merged_into",
    "tags",
)
"""Columns of the flat opportunity frame :func:`opportunity_columns` builds (names from
:data:`pipeline_core.frame_columns.OPPORTUNITY_COLUMNS`: ``expected_amount``/``currency`` flatten
the money; ``tags`` is a list of strings, sorted)."""

assert set(METRIC_EVENT_COLUMNS) <= set(_vocabulary.EVENT_COLUMNS)
assert set(METRIC_OPPORTUNITY_COLUMNS) <= set(_vocabulary.OPPORTUNITY_COLUMNS)


# --------------------------------------------------------------------------- stage order


@runtime_checkable
class StageKindsLike(Protocol):
    """What the metrics need from a :class:`pipeline_core.stages.Pipeline`: its stage ids by kind.

    Renamed from ``PipelineLike`` (which :mod:`pipeline_core.sla` uses for another shape); the old
    name still imports from :mod:`pipeline_core.metrics` with a :class:`DeprecationWarning`.
    """

    @property
    def open_stage_ids(self) -> Sequence[str]:
        """Open stage ids in funnel order."""
        ...

    @property
    def won_stage_ids(self) -> Sequence[str]:
        """Won (closed, successful) stage ids."""
        ...

    @property
    def lost_stage_ids(self) -> Sequence[str]:
        """Lost (closed, unsuccessful) stage ids."""
        ...


@attrs.frozen
class StageOrder:
    """The funnel order of a pipeline's stages.

    ``rank(stage)``: position among the open stages (0, 1, ...); every won stage ranks after all open
    ones (``len(open_ids)``); lost stages rank -1 (leaving the funnel is not progress). The funnel's
    steps are the open stages followed by one "won" step.
    """

    open_ids: tuple[str, ...]
    won_ids: tuple[str, ...]
    lost_ids: tuple[str, ...]

    @property
    def won_rank(self) -> int:
        """The rank shared by every won stage: the number of open stages."""
        return len(self.open_ids)

    @property
    def won_label(self) -> str:
        """The name of the won step: the won stage id, or ids joined by ``|`` when several."""
        return "|".join(self.won_ids)

    @property
    def steps(self) -> tuple[str, ...]:
        """Funnel step names in order: the open stages, then the won step."""
        return (*self.open_ids, self.won_label)

    @property
    def all_ids(self) -> tuple[str, ...]:
        """Every stage id: open, won, lost."""
        return (*self.open_ids, *self.won_ids, *self.lost_ids)

    @property
    def open_stage_ids(self) -> tuple[str, ...]:
        """The open stage ids (:class:`StageKindsLike`, so a ``StageOrder`` serves where a pipeline does)."""
        return self.open_ids

    @property
    def won_stage_ids(self) -> tuple[str, ...]:
        """The won stage ids (:class:`pipeline_core.facts.StageKinds`)."""
        return self.won_ids

    @property
    def lost_stage_ids(self) -> tuple[str, ...]:
        """The lost stage ids (:class:`pipeline_core.facts.StageKinds`)."""
        return self.lost_ids

    def ranks(self) -> dict[str, int]:
        """``{stage id: rank}`` for every known stage."""
        out = {s: i for i, s in enumerate(self.open_ids)}
        out.update({s: self.won_rank for s in self.won_ids})
        out.update({s: -1 for s in self.lost_ids})
        return out

    def rank(self, stage_id: str) -> int:
        """The funnel rank of ``stage_id``; :class:`ValidationError` (code ``unknown_stage``) if unknown."""
        ranks = self.ranks()
        if stage_id not in ranks:
            raise unknown_stages_error([stage_id], self)
        return ranks[stage_id]

    def is_open(self, stage_id: str) -> bool:
        """Whether ``stage_id`` is an open stage."""
        return stage_id in self.open_ids


def stage_order(
    pipeline: StageKindsLike | Sequence[str] | StageOrder,
    *,
    won: Sequence[str] | str | None = None,
    lost: Sequence[str] | str | None = None,
) -> StageOrder:
    """Build a :class:`StageOrder` from a Pipeline (anything with ``open_stage_ids``,
    ``won_stage_ids``, ``lost_stage_ids``) or from a sequence of open stage ids plus ``won=`` and
    ``lost=`` ids. Raises :class:`ConfigError` listing every problem (no open stage, no won stage,
    an id used twice, an empty id).

    >>> stage_order(["new", "quoted"], won="signed", lost="lost").ranks()
    {'new': 0, 'quoted': 1, 'signed': 2, 'lost': -1}
    """
    if isinstance(pipeline, StageOrder):
        return pipeline

    def as_tuple(value: Sequence[str] | str | None) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        return tuple(value)

    if isinstance(pipeline, StageKindsLike):
        open_ids = tuple(pipeline.open_stage_ids)
        won_ids = tuple(pipeline.won_stage_ids) if won is None else as_tuple(won)
        lost_ids = tuple(pipeline.lost_stage_ids) if lost is None else as_tuple(lost)
    else:
        open_ids = (pipeline,) if isinstance(pipeline, str) else tuple(pipeline)
        won_ids, lost_ids = as_tuple(won), as_tuple(lost)
    problems: list[Problem] = []
    if not open_ids:
        problems.append(Problem(("open",), "at least one open stage is needed", open_ids, "empty"))
    if not won_ids:
        problems.append(
            Problem(
                ("won",), "at least one won stage is needed (won=...)", won_ids, "missing", True
            )
        )
    seen: set[str] = set()
    for kind, ids in (("open", open_ids), ("won", won_ids), ("lost", lost_ids)):
        for i, sid in enumerate(ids):
            if not isinstance(sid, str) or not sid:
                problems.append(Problem((kind, i), "a stage id is a non-empty string", sid))
            elif sid in seen:
                problems.append(Problem((kind, i), "stage id used twice", sid, "duplicate"))
            else:
                seen.add(sid)
    if problems:
        raise ConfigError("stage order", problems)
    return StageOrder(open_ids, won_ids, lost_ids)


def unknown_stages_error(stages: Iterable[object], order: StageOrder) -> ValidationError:
    """The error for stage ids that are not in the pipeline (one problem per unknown id)."""
    known = ", ".join(order.all_ids)
    return ValidationError(
        "stage events",
        [
            Problem(
                ("to_stage",),
                f"unknown stage: not one of the pipeline's ({known})",
                s,
                "unknown_stage",
            )
            for s in sorted({str(s) for s in stages})
        ],
    )


# --------------------------------------------------------------------------- time


def epoch_seconds(value: datetime, field: str = "at") -> int:
    """Whole seconds since 1970-01-01T00:00:00Z (floored), from a timezone-aware datetime."""
    require_aware(value, field)
    return (value - _EPOCH) // _SECOND


def epoch_micros(value: datetime, field: str = "at") -> int:
    """Whole microseconds since 1970-01-01T00:00:00Z, the full precision of a timestamp: what
    every *comparison* of instants uses (cut-offs, event order), while durations are counted in
    :func:`epoch_seconds`."""
    require_aware(value, field)
    return (value - _EPOCH) // _MICRO


def from_epoch(seconds: int) -> datetime:
    """The UTC datetime of ``seconds`` since the epoch."""
    return _EPOCH + timedelta(seconds=seconds)


def positive_seconds(value: timedelta, field: str) -> int:
    """A strictly positive timedelta as whole seconds (ValidationError otherwise)."""
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValidationError(
            field, [Problem((field,), "expected a positive timedelta", value, "positive")]
        )
    return value // _SECOND


def check_period(start: datetime, end: datetime) -> tuple[int, int]:
    """``[start, end)`` as epoch seconds; both aware, ``start < end``."""
    s, e = epoch_seconds(start, "start"), epoch_seconds(end, "end")
    if e <= s:
        raise ValidationError(
            "period", [Problem(("end",), "end must be after start", end, "empty_period")]
        )
    return s, e


# --------------------------------------------------------------------------- records → rows


def money_float(amount: Decimal | None) -> float | None:
    """Aggregated money is reported as float (the frame engines sum floats or decimals)."""
    return None if amount is None else float(amount)


def opportunity_row(opp: Opportunity) -> dict[str, Any]:
    """One opportunity in the flat layout (datetimes kept aware; see :func:`opportunity_columns`)."""
    money = opp.expected_amount
    return {
        "id": opp.id,
        "created_at": opp.created_at,
        "owner_id": opp.owner_id,
        "team_id": opp.team_id,
        "source": opp.source,
        "stage": opp.stage,
        "expected_amount": None if money is None else money.amount,
        "currency": None if money is None else money.currency,
        "closed_at": opp.closed_at,
        "lost_reason": opp.lost_reason,
        "lead_id": opp.lead_id,
        "merged_into": merged_into(opp),
        "tags": sorted(opp.tags),
    }


def opportunity_columns(opps: Iterable[Opportunity]) -> dict[str, list[Any]]:
    """Opportunities as a dict of columns in the flat layout, ready for ``polars.DataFrame(...)``
    or ``pandas.DataFrame(...)``. ``expected_amount`` holds ``Decimal`` values (cast them as you
    like)."""
    cols: dict[str, list[Any]] = {c: [] for c in METRIC_OPPORTUNITY_COLUMNS}
    for opp in opps:
        for key, value in opportunity_row(opp).items():
            cols[key].append(value)
    return cols


def event_columns(events: Iterable[StageEvent]) -> dict[str, list[Any]]:
    """Stage events as a dict of columns in the flat layout."""
    cols: dict[str, list[Any]] = {c: [] for c in METRIC_EVENT_COLUMNS}
    for ev in events:
        cols["id"].append(ev.id)
        cols["opportunity_id"].append(ev.opportunity_id)
        cols["from_stage"].append(ev.from_stage)
        cols["to_stage"].append(ev.to_stage)
        cols["at"].append(ev.at)
        cols["seq"].append(ev.seq)
        cols["by"].append(ev.by)
    return cols


def opportunity_value(opp: Opportunity, column: str) -> Any:
    """The value of a flat-layout column (a field of the record, or a custom field) for ``opp``.

    Raises :class:`~pipeline_core.errors.ValidationError` (field ``by``) for any other name,
    methods and ``__dunder__`` attributes included."""
    if column in ("amount", "expected_amount"):  # "amount": the deprecated name
        return None if opp.expected_amount is None else opp.expected_amount.amount
    if column == "currency":
        return None if opp.expected_amount is None else opp.expected_amount.currency
    if column in type(opp).__pc_names__:  # a record field, never a method or a dunder
        return getattr(opp, column)
    if column in opp.custom:
        return opp.custom[column]
    raise ValidationError(
        "by",
        [
            Problem(
                ("by",), "not a field of Opportunity nor a custom field", column, "unknown_column"
            )
        ],
    )


def group_key(opp: Opportunity, by: Sequence[str]) -> tuple[Any, ...]:
    """The grouping key of ``opp`` for single-valued dimensions ``by``."""
    return tuple(opportunity_value(opp, c) for c in by)


def group_keys(opp: Opportunity, by: Sequence[str]) -> list[tuple[Any, ...]]:
    """Every grouping key of ``opp``: a multi-valued dimension such as ``tags`` gives one key per
    value (sorted), and ``None`` when it is empty, exactly like exploding a list column."""
    keys: list[tuple[Any, ...]] = [()]
    for c in by:
        value = opportunity_value(opp, c)
        if isinstance(value, frozenset | set | tuple | list):
            values: list[Any] = sorted(value) or [None]
        else:
            values = [value]
        keys = [(*k, v) for k in keys for v in values]
    return keys


# --------------------------------------------------------------------------- frames

_FRAME_MODULES = frozenset(
    {
        "pandas",
        "polars",
        "pyarrow",
        "duckdb",
        "pyspark",
        "narwhals",
        "modin",
        "cudf",
        "sqlframe",
        "dask",
        "ibis",
    }
)


def is_frame(obj: object) -> bool:
    """Whether ``obj`` is a dataframe (judged by its class's top-level module, without importing)."""
    module = type(obj).__module__.split(".", 1)[0]
    return module in _FRAME_MODULES or module.startswith("_duckdb")


def as_records(items: object, kind: type[Any], what: str) -> list[Any]:
    """Materialise an iterable of records of type ``kind``; a clear error for anything else.

    Merged duplicates (opportunities and leads for which :func:`pipeline_core.facts.is_merged`
    holds) are left out: they are not deals of their own, so no metric counts them."""
    if not isinstance(items, Iterable) or isinstance(items, str | bytes | Mapping):
        raise ValidationError(
            what,
            [
                Problem(
                    (what,),
                    "expected a dataframe or an iterable of records",
                    type(items).__name__,
                    "input_type",
                )
            ],
        )
    out = list(items)
    bad = [i for i, r in enumerate(out) if not isinstance(r, kind)]
    if bad:
        raise ValidationError(
            what,
            [
                Problem(
                    (what, i), f"expected a {kind.__name__}", type(out[i]).__name__, "input_type"
                )
                for i in bad[:20]
            ],
        )
    if kind is Opportunity or kind is Lead:
        return [r for r in out if not is_merged(r)]
    return out


# Old names, kept working for one release (not in ``__all__``).
# ``EVENT_COLUMNS``/``OPPORTUNITY_COLUMNS`` were also the names of the full sets in
# :mod:`pipeline_core.frame_columns`: these are subsets, named as such.
__getattr__ = moved(
    __name__,
    {
        "PipelineLike": "pipeline_core.metrics.inputs:StageKindsLike",
        "EVENT_COLUMNS": "pipeline_core.metrics.inputs:METRIC_EVENT_COLUMNS",
        "OPPORTUNITY_COLUMNS": "pipeline_core.metrics.inputs:METRIC_OPPORTUNITY_COLUMNS",
    },
)
