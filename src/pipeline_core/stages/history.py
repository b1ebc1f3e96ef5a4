"""Stage history: what an opportunity's stage events say about it.

From the :class:`~pipeline_core.records.StageEvent` list of one opportunity (oldest first):
the current stage and its age, the full path, the time spent in each stage summed over repeated
visits, and the state at any past instant (:func:`state_at`). The instant a state is read at is
the keyword ``as_of`` everywhere (``now=`` and ``t=`` still work for one release, deprecated).
Events are checked first: they must belong to one opportunity, be in time order and chain (each
move starts where the previous one ended); otherwise
:class:`~pipeline_core.errors.ValidationError` lists every problem.
"""

from __future__ import annotations

import functools
import operator
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from pipeline_core._deprecation import renamed_params
from pipeline_core._model import build_trusted, field_names
from pipeline_core.clock import require_aware
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.facts import event_order
from pipeline_core.records import Opportunity, StageEvent

__all__ = [
    "EventLog",
    "History",
    "StageState",
    "Visit",
    "check_events",
    "current_stage",
    "path",
    "state_at",
    "time_in_stages",
]


@attrs.frozen
class StageState:
    """Where an opportunity was at some instant: its stage, since when, and after how many events."""

    stage: str
    entered_at: datetime
    events: int
    pipeline: str | None = None


@attrs.frozen
class Visit:
    """One stay in a stage: entered at ``entered_at``, left at ``left_at`` (``None``: still there)."""

    stage: str
    entered_at: datetime
    left_at: datetime | None

    @renamed_params(now="as_of")
    def duration(self, as_of: datetime) -> timedelta:
        """How long the stay lasted, or has lasted until ``as_of`` (the evaluation instant) if it
        is the current one. ``now=`` is the deprecated name of ``as_of``."""
        return (self.left_at if self.left_at is not None else as_of) - self.entered_at


def check_events(events: Iterable[StageEvent]) -> tuple[StageEvent, ...]:
    """The events as a tuple if they form one opportunity's valid history; else ``ValidationError``.

    Rules: at least one event; one ``opportunity_id``; events in
    :func:`pipeline_core.facts.event_order` (instant at full precision, then ``seq``: an event
    earlier than the one before it is refused, naming both); each event's ``from_stage`` is the previous
    event's ``to_stage`` (the first event's ``from_stage`` is free: usually ``None``).
    """
    evs = tuple(events)
    problems: list[Problem] = []
    if not evs:
        raise ValidationError(
            "stage history", [Problem((), "no stage events", [], "empty_history")]
        )
    first = next((e for e in evs if isinstance(e, StageEvent)), None)
    if first is None:
        raise ValidationError(
            "stage history", [Problem((0,), "expected a StageEvent", evs[0], "event_type")]
        )
    for i, ev in enumerate(evs):
        if not isinstance(ev, StageEvent):
            problems.append(Problem((i,), "expected a StageEvent", ev, "event_type"))
            continue
        if ev.opportunity_id != first.opportunity_id:
            problems.append(
                Problem(
                    (i, "opportunity_id"),
                    f"every event must be of opportunity {first.opportunity_id!r}",
                    ev.opportunity_id,
                    "mixed_opportunities",
                )
            )
        if i == 0:
            continue
        prev = evs[i - 1]
        if not isinstance(prev, StageEvent):
            continue
        if event_order(ev) < event_order(prev):
            problems.append(
                Problem(
                    (i, "at"),
                    f"out of order: earlier than event {i - 1} ({prev.id!r} at {prev.at.isoformat()}, "
                    f"seq {prev.seq}); pass events oldest first (pipeline_core.facts.sorted_events)",
                    ev.at,
                    "out_of_order",
                )
            )
        if ev.from_stage != prev.to_stage:
            problems.append(
                Problem(
                    (i, "from_stage"),
                    f"does not continue from the previous event's stage {prev.to_stage!r}",
                    ev.from_stage,
                    "broken_chain",
                )
            )
    if problems:
        raise ValidationError("stage history", problems)
    return evs


@attrs.frozen
class History:
    """The checked stage history of one opportunity. Build with :meth:`of`.

    >>> from datetime import datetime, UTC
    >>> t = lambda d: datetime(2025, 3, d, tzinfo=UTC)
    >>> ev = lambda i, a, b, d: StageEvent(id=f"e{i}", opportunity_id="o1", from_stage=a,
    ...                                    to_stage=b, at=t(d), by="u1")
    >>> h = History.of([ev(1, None, "new", 1), ev(2, "new", "quote", 3), ev(3, "quote", "new", 4),
    ...                 ev(4, "new", "quote", 6)])
    >>> h.path, h.current.stage, h.time_in_stages(t(10))["quote"].days
    (('new', 'quote', 'new', 'quote'), 'quote', 5)
    """

    events: tuple[StageEvent, ...]
    _times: tuple[datetime, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_times", tuple(e.at for e in self.events))

    @classmethod
    def of(cls, events: Iterable[StageEvent]) -> History:
        """Check ``events`` (see :func:`check_events`) and wrap them."""
        return cls(check_events(events))

    @property
    def opportunity_id(self) -> str:
        """The opportunity these events belong to."""
        return self.events[0].opportunity_id

    @property
    def created_at(self) -> datetime:
        """When the history starts (the first event)."""
        return self.events[0].at

    @property
    def current(self) -> StageState:
        """The state after the last event."""
        last = self.events[-1]
        return StageState(last.to_stage, last.at, len(self.events), last.pipeline)

    @property
    def path(self) -> tuple[str, ...]:
        """Every stage in the order visited, repeats included."""
        return tuple(e.to_stage for e in self.events)

    @property
    def visits(self) -> tuple[Visit, ...]:
        """Every stay in a stage, oldest first; the last one is still open."""
        evs = self.events
        out = [Visit(e.to_stage, e.at, evs[i + 1].at) for i, e in enumerate(evs[:-1])]
        out.append(Visit(evs[-1].to_stage, evs[-1].at, None))
        return tuple(out)

    def _as_of(self, as_of: datetime) -> datetime:
        """``as_of`` if it is aware and not before the last event; else ``ValidationError``."""
        require_aware(as_of, "as_of")
        if as_of < self._times[-1]:
            raise ValidationError(
                "stage history",
                [
                    Problem(
                        ("as_of",),
                        f"is before the last stage event ({self._times[-1].isoformat()})",
                        as_of,
                        "before_last_event",
                    )
                ],
            )
        return as_of

    @renamed_params(now="as_of")
    def age(self, as_of: datetime) -> timedelta:
        """Time from the first event to ``as_of`` (the evaluation instant, aware, not before the
        last event). ``now=`` is the deprecated name of ``as_of``."""
        return self._as_of(as_of) - self.created_at

    @renamed_params(now="as_of")
    def stage_age(self, as_of: datetime) -> timedelta:
        """How long the opportunity has been in its current stage at ``as_of``. ``now=`` is the
        deprecated name of ``as_of``."""
        return self._as_of(as_of) - self._times[-1]

    @renamed_params(now="as_of")
    def time_in_stages(self, as_of: datetime) -> dict[str, timedelta]:
        """Time spent in each visited stage, summed over repeated visits, counting the current
        stay up to ``as_of``. The values sum exactly to :meth:`age`. ``now=`` is the deprecated
        name of ``as_of``."""
        self._as_of(as_of)
        out: dict[str, timedelta] = {}
        for visit in self.visits:
            out[visit.stage] = out.get(visit.stage, timedelta(0)) + visit.duration(as_of)
        return out

    @renamed_params(t="as_of")
    def state_at(self, as_of: datetime) -> StageState | None:
        """The state at instant ``as_of`` (events *at* ``as_of`` included); ``None`` before the
        first event. ``t=`` is the deprecated name of ``as_of``."""
        require_aware(as_of, "as_of")
        n = bisect_right(self._times, as_of)
        if n == 0:
            return None
        ev = self.events[n - 1]
        return StageState(ev.to_stage, ev.at, n, ev.pipeline)

    def matches(self, opportunity: Opportunity) -> bool:
        """True if replaying the events gives ``opportunity``'s stage and stage entry time."""
        cur = self.current
        return (
            opportunity.id == self.opportunity_id
            and opportunity.stage == cur.stage
            and opportunity.stage_entered_at == cur.entered_at
        )


@renamed_params(t="as_of")
def state_at(events: Sequence[StageEvent], as_of: datetime) -> StageState | None:
    """The state of an opportunity at instant ``as_of`` from its events (oldest first);
    ``t=`` is the deprecated name of ``as_of``."""
    return History.of(events).state_at(as_of)


def current_stage(events: Sequence[StageEvent]) -> StageState:
    """The current state from an opportunity's events."""
    return History.of(events).current


def path(events: Sequence[StageEvent]) -> tuple[str, ...]:
    """The stages visited, in order, repeats included."""
    return History.of(events).path


@renamed_params(now="as_of")
def time_in_stages(events: Sequence[StageEvent], as_of: datetime) -> dict[str, timedelta]:
    """Time in each stage, summed over visits, the current stay counted up to ``as_of``;
    ``now=`` is the deprecated name of ``as_of``."""
    return History.of(events).time_in_stages(as_of)


_EVENT_FIELDS: tuple[str, ...] = field_names(StageEvent)


class EventLog:
    """An append-only, compact log of many opportunities' stage events (full history in memory).

    The log keeps one list per event field (columns) rather than one object per event. Appending
    an event only appends existing values to those lists and creates no new container, so a log
    of millions of events gives Python's cyclic garbage collector nothing to track or re-scan
    (a list of millions of record objects is re-scanned by every full collection, and even one
    small tuple per event sets off a young-generation collection every few hundred events). It
    also takes about half the memory of one tuple per event. Events come back as
    :class:`~pipeline_core.records.StageEvent` records, equal to those appended, and
    :meth:`columns` hands the columns to a dataframe as they are.

    >>> log = EventLog()
    >>> len(log)
    0
    """

    __slots__ = ("_cols",)

    def __init__(self, events: Iterable[StageEvent] = ()) -> None:
        self._cols: tuple[list[Any], ...] = tuple([] for _ in _EVENT_FIELDS)
        self.extend(events)

    def append(self, event: StageEvent) -> None:
        """Add one event (any order across opportunities; per opportunity, oldest first)."""
        if event.__class__ is not StageEvent and not isinstance(event, StageEvent):
            raise _not_an_event(event)
        _APPEND(self._cols, event)

    def extend(self, events: Iterable[StageEvent]) -> None:
        """Add many events: all of them, or none if one is not a :class:`StageEvent`."""
        batch = events if isinstance(events, list | tuple) else list(events)
        for event in batch:
            if not isinstance(event, StageEvent):
                raise _not_an_event(event)
        for col, name in zip(self._cols, _EVENT_FIELDS, strict=True):
            col.extend(map(operator.attrgetter(name), batch))

    def __len__(self) -> int:
        return len(self._cols[0])

    def __iter__(self) -> Iterator[StageEvent]:
        trusted = functools.partial(build_trusted, StageEvent)
        for row in zip(*self._cols, strict=True):
            yield trusted(dict(zip(_EVENT_FIELDS, row, strict=True)))

    def events(self, opportunity_id: str) -> list[StageEvent]:
        """The events of one opportunity, in the order appended (a scan of the log)."""
        trusted = functools.partial(build_trusted, StageEvent)
        return [
            trusted(dict(zip(_EVENT_FIELDS, row, strict=True)))
            for row in zip(*self._cols, strict=True)
            if row[_OPPORTUNITY] == opportunity_id
        ]

    def histories(self) -> Iterator[History]:
        """A checked :class:`History` per opportunity, in order of first appearance."""
        groups: dict[str, list[StageEvent]] = {}
        for e in self:
            groups.setdefault(e.opportunity_id, []).append(e)
        for events in groups.values():
            yield History.of(events)

    def columns(self) -> dict[str, list[Any]]:
        """The events as columns (``{"id": [...], "opportunity_id": [...], ...}``) for dataframes.

        The lists are copies: changing them does not change the log."""
        return {name: list(col) for name, col in zip(_EVENT_FIELDS, self._cols, strict=True)}


def _not_an_event(value: object) -> ValidationError:
    return ValidationError("event log", [Problem((), "expected a StageEvent", value, "event_type")])


def _appender() -> Any:
    """``append(cols, event)``: one ``list.append`` per field, unrolled (generated from the
    record's field list, so a field added to :class:`StageEvent` is logged too)."""
    lines = ["def append(cols, event):"]
    lines.append(f"    ({', '.join(f'c{i}' for i in range(len(_EVENT_FIELDS)))},) = cols")
    lines += [f"    c{i}.append(event.{name})" for i, name in enumerate(_EVENT_FIELDS)]
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)  # generated from the record definition
    return namespace["append"]


_APPEND = _appender()
_OPPORTUNITY = _EVENT_FIELDS.index("opportunity_id")
