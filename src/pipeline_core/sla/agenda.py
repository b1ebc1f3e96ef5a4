"""The agenda: a stateful wrapper around the pure engine that reports each item exactly once.

The host keeps one :class:`Agenda`, feeds it the current state of each subject (:meth:`Agenda.put`
after every change, or :meth:`Agenda.load` in bulk) and calls :meth:`Agenda.advance` with the
current time (from its clock or a scheduler). ``advance`` returns the items that became due since
the last call, each exactly once, and only re-evaluates the subjects that changed or whose next due
time has come: a heap keyed by next due time holds one entry per subject. ``put`` returns the
:class:`~pipeline_core.records.SlaOutcome` of every clock the change finished, for the metrics.

Nothing is sent: the host delivers the items (e.g. to the owner's inbox) from what ``advance``
returns, or by passing ``on_item``/``on_outcome`` hooks.

    agenda = Agenda(SlaEngine(default_policy()))
    agenda.load(states)                      # at start-up
    for item in agenda.advance(clock.now()): # every minute, say
        deliver(item)
    outcomes = agenda.put(new_state)         # after a change to one record
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final

from pipeline_core.clock import require_aware
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.records import SlaOutcome
from pipeline_core.sla.calendar import from_us, to_us
from pipeline_core.sla.engine import SlaEngine
from pipeline_core.sla.items import Item
from pipeline_core.sla.state import SlaState

__all__ = ["Agenda"]

_NEVER: Final = -(2**62)


class _Entry:
    __slots__ = ("reported", "scheduled", "state", "watermark")

    def __init__(self, state: SlaState) -> None:
        self.state = state
        self.watermark = _NEVER  # every item due at or before it has been reported
        self.reported: set[str] | None = None  # ids reported under earlier states of the subject
        self.scheduled: int | None = _NEVER


class Agenda:
    """Reports each item of each subject exactly once across successive ``advance(now)`` calls.

    Invariants: for the current state of a subject, every item due at or before the subject's
    watermark has been reported; items reported under an earlier state are remembered by id until
    the subject has been re-evaluated, so a change never repeats an item. ``advance`` may not go
    back in time. (An item whose clock disappears with one change and comes back, with the same
    start, after a later one would be reported again: that needs the same trigger instant twice.)
    """

    def __init__(
        self,
        engine: SlaEngine,
        *,
        on_item: Callable[[Item], None] | None = None,
        on_outcome: Callable[[SlaOutcome], None] | None = None,
    ) -> None:
        self.engine = engine
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._seq = 0
        self._now = _NEVER
        self._on_item = on_item
        self._on_outcome = on_outcome

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._entries

    @property
    def now(self) -> datetime | None:
        """The instant of the last :meth:`advance`, or ``None`` before the first."""
        return None if self._now == _NEVER else from_us(self._now)

    def state(self, subject_id: str) -> SlaState:
        """The current state of a subject (``KeyError`` if unknown)."""
        return self._entries[subject_id].state

    def _push(self, entry: _Entry, subject_id: str, due: int | None) -> None:
        entry.scheduled = due
        if due is not None:
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, subject_id))

    def load(self, states: Iterable[SlaState]) -> int:
        """Add many subjects at once (no outcomes computed); they are evaluated at the next
        :meth:`advance`. Returns how many were added or replaced."""
        count = 0
        entries = self._entries
        heap = self._heap
        seq = self._seq
        for state in states:
            entry = _Entry(state)
            old = entries.get(state.subject_id)
            entries[state.subject_id] = entry
            if old is not None:
                entry.reported = self._reported(old)
            seq += 1
            heap.append((_NEVER, seq, state.subject_id))
            count += 1
        self._seq = seq
        heapq.heapify(heap)
        return count

    def _reported(self, entry: _Entry) -> set[str]:
        ids = set(entry.reported or ())
        if entry.watermark != _NEVER:
            ids.update(item.id for item in self.engine.scan(entry.state, entry.watermark)[0])
        return ids

    def put(self, state: SlaState) -> list[SlaOutcome]:
        """Add or replace a subject's state; return the outcomes of the clocks this change finished.

        The subject is re-evaluated at the next :meth:`advance` (only it, not the others).
        """
        engine = self.engine
        old = self._entries.get(state.subject_id)
        entry = _Entry(state)
        if old is None:
            outcomes = engine.outcomes(state)
        else:
            entry.reported = self._reported(old)
            before = engine.finished_ids(old.state)
            outcomes = engine.transition(old.state, state) + engine.outcomes(state, skip=before)
        self._entries[state.subject_id] = entry
        self._push(entry, state.subject_id, _NEVER)
        if self._on_outcome is not None:
            for outcome in outcomes:
                self._on_outcome(outcome)
        return outcomes

    def remove(self, subject_id: str) -> SlaState | None:
        """Forget a subject (e.g. deleted); return its last state, if it was known."""
        entry = self._entries.pop(subject_id, None)
        return None if entry is None else entry.state

    def advance(self, now: datetime) -> list[Item]:
        """The items that became due since the last call, each reported exactly once."""
        now_us = to_us(require_aware(now, "now"))
        if now_us < self._now:
            raise ValidationError(
                "now",
                [
                    Problem(
                        ("now",),
                        f"the agenda cannot go back from {from_us(self._now).isoformat()}",
                        now,
                        "clock_backwards",
                    )
                ],
            )
        self._now = now_us
        heap = self._heap
        entries = self._entries
        scan = self.engine.scan
        out: list[Item] = []
        while heap and heap[0][0] <= now_us:
            due, _, subject_id = heapq.heappop(heap)
            entry = entries.get(subject_id)
            if entry is None or entry.scheduled != due:
                continue  # stale heap entry: the subject changed or was removed
            items, nxt = scan(entry.state, now_us)
            watermark = entry.watermark
            reported = entry.reported
            for item in items:
                if item.at_us > watermark and (reported is None or item.id not in reported):
                    out.append(item)
            entry.watermark = now_us
            entry.reported = None
            self._push(entry, subject_id, nxt)
        if self._on_item is not None:
            for item in out:
                self._on_item(item)
        return out

    def next_due(self) -> datetime | None:
        """The earliest instant at which :meth:`advance` would have something to evaluate."""
        heap = self._heap
        while heap:
            due, _, subject_id = heap[0]
            entry = self._entries.get(subject_id)
            if entry is not None and entry.scheduled == due:
                return from_us(max(due, self._now))
            heapq.heappop(heap)
        return None
