"""Items due for many subjects kept as columns: :class:`DueItems` and its :class:`Chunk` s.

What a column-wise evaluation (:mod:`pipeline_core.sla.batch`) returns: the items of each rule step
as numpy columns, an :class:`~pipeline_core.sla.items.Item` built only when it is read.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final

from pipeline_core._deprecation import REMOVED_IN
from pipeline_core.sla.items import FAST, Breach, Escalation, Item, Reminder, RiskFlag, route_up
from pipeline_core.sla.state import SlaState

__all__ = ["Chunk", "DueItems"]


class Chunk:
    """Items of one rule step (or one risk level) for many subjects, as columns: ``index`` (the
    position of each row's state), ``start``, ``fire`` and ``due`` (µs, numpy int64); ``cls``,
    ``rule``, ``step`` and ``manager`` (whether it goes up the chain) are common to the rows."""

    __slots__ = (
        "cls",
        "due",
        "extra",
        "fallback",
        "fire",
        "index",
        "manager",
        "rule",
        "start",
        "step",
    )

    def __init__(
        self,
        cls: type[Item],
        rule: str,
        step: str,
        manager: bool,
        extra: tuple[Any, ...],
        index: Any,
        start: Any,
        fire: Any,
        due: Any | None,
        fallback: str | None = None,
    ) -> None:
        """Columns of one chunk (see the class); ``extra``: the trailing fields of the item class
        (a risk flag's signal, level and values column; an escalation's reassign flag)."""
        self.cls, self.rule, self.step, self.manager, self.extra = cls, rule, step, manager, extra
        self.index, self.start, self.fire, self.due = index, start, fire, due
        self.fallback = fallback  # the policy's fallback_recipient (items to the manager)

    def __len__(self) -> int:
        """The number of rows (items)."""
        return len(self.index)

    def maker(self, states: Sequence[SlaState]) -> Callable[[int], Item]:
        """``make(row)``: the item of one row, built from the columns and its state."""
        build = FAST[self.cls]
        rule, step, manager, fallback = self.rule, self.step, self.manager, self.fallback
        index, starts, fires = self.index.tolist(), self.start.tolist(), self.fire.tolist()
        dues = [None] * len(starts) if self.due is None else self.due.tolist()
        if self.cls is RiskFlag:  # signal, level, value
            signal, level, values = self.extra[0], self.extra[1], self.extra[2].tolist()

            def tail(r: int) -> tuple[Any, ...]:
                return (signal, level, values[r])
        else:  # an escalation's reassign flag, or nothing
            fixed = self.extra

            def tail(r: int) -> tuple[Any, ...]:
                return fixed

        def make(r: int) -> Item:
            s = states[index[r]]
            who, whom = route_up(s.manager_id, fallback) if manager else ("owner", s.owner_id)
            return build(  # type: ignore[no-any-return]
                rule, s.subject_id, s.kind, step, starts[r], fires[r], dues[r], who, whom, *tail(r)
            )

        return make

    def items(self, states: Sequence[SlaState]) -> Iterator[Item]:
        """Every item of the chunk, in row order."""
        return map(self.maker(states), range(len(self)))


class DueItems:
    """The items due at one instant for many subjects, as :func:`evaluate_batch` returns them.

    Iterating builds the :class:`~pipeline_core.sla.items.Item` objects one by one (the same as
    :meth:`SlaEngine.evaluate` returns); :meth:`counts` and :meth:`columns` read the columns
    directly. The order is deterministic (the same input gives the same order) and grouped by rule
    for speed, not by subject: compare by :attr:`Item.id`.
    """

    __slots__ = ("as_of", "chunks", "object_index", "objects", "states")

    def __init__(
        self,
        states: Sequence[SlaState],
        as_of: datetime,
        chunks: list[Chunk],
        objects: list[Item],
        object_index: list[int] | None = None,
    ) -> None:
        """The items of ``states`` due by ``as_of``: ``chunks`` of columns, then ready-made
        ``objects`` (the items of the states the engine evaluated itself) and the position of
        each object's state (``object_index``)."""
        self.states = states
        self.chunks = chunks
        self.objects = objects
        self.object_index = object_index
        self.as_of = as_of
        """The instant evaluated."""

    @property
    def now(self) -> datetime:
        """Deprecated (removed in 0.4): the instant evaluated, :attr:`as_of`."""
        warnings.warn(
            f"DueItems.now is deprecated: use DueItems.as_of (removed in {REMOVED_IN})",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.as_of

    def __iter__(self) -> Iterator[Item]:
        """Every item, built one by one (chunks in order, then the ready-made objects)."""
        for chunk in self.chunks:
            yield from chunk.items(self.states)
        yield from self.objects

    def __len__(self) -> int:
        """How many items."""
        return sum(len(c) for c in self.chunks) + len(self.objects)

    def materialise(self, chunk_numbers: list[int], rows: list[int]) -> list[Item]:
        """The items at (chunk number, row) pairs, in that order; chunk number
        ``len(self.chunks)`` means the ready-made objects (what the agenda reads)."""
        makers: dict[int, Callable[[int], Item]] = {}
        out: list[Item] = []
        for c, r in zip(chunk_numbers, rows, strict=True):
            make = makers.get(c)
            if make is None:
                make = makers[c] = self._maker(c)
            out.append(make(r))
        return out

    def _maker(self, c: int) -> Callable[[int], Item]:
        if c == len(self.chunks):
            return self.objects.__getitem__
        return self.chunks[c].maker(self.states)

    def ids(self) -> list[str]:
        """Every item's stable id."""
        return [item.id for item in self]

    def counts(self) -> Counter[tuple[str, str]]:
        """How many items per (rule id, item kind), without building the items."""
        out: Counter[tuple[str, str]] = Counter()
        for chunk in self.chunks:
            if len(chunk):
                out[(chunk.rule, _KIND[chunk.cls])] += len(chunk)
        for item in self.objects:
            out[(item.rule, item.kind)] += 1
        return out

    def columns(self) -> dict[str, list[Any]]:
        """The items as columns for a dataframe: ``id``, ``kind``, ``rule``, ``subject_id``,
        ``subject_kind``, ``step``, ``started_at``, ``at``, ``due_at`` (aware UTC datetimes or
        ``None``), ``recipient``, ``recipient_id``."""
        names = (
            "id",
            "kind",
            "rule",
            "subject_id",
            "subject_kind",
            "step",
            "started_at",
            "at",
            "due_at",
            "recipient",
            "recipient_id",
        )
        items = list(self)
        return {name: [getattr(item, name) for item in items] for name in names}

    def __repr__(self) -> str:
        return f"DueItems({len(self):,} items at {self.as_of.isoformat()})"


_KIND: Final[dict[type[Item], str]] = {
    Reminder: "reminder",
    Breach: "breach",
    Escalation: "escalation",
    RiskFlag: "risk",
}
