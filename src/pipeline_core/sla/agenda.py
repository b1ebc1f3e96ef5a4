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
from itertools import repeat
from typing import Any, Final

from pipeline_core._deprecation import renamed_params
from pipeline_core._optional import require
from pipeline_core.clock import require_aware
from pipeline_core.errors import Problem, ValidationError
from pipeline_core.records import SlaOutcome
from pipeline_core.sla.engine import SlaEngine
from pipeline_core.sla.instants import from_us, to_us
from pipeline_core.sla.items import Item
from pipeline_core.sla.state import SlaState

__all__ = ["Agenda"]

_NEVER: Final = -(2**62)


_Key = tuple[str, int, str]  # an item's identity within its subject: (rule, clock start, step)


def _key(item: Item) -> _Key:
    return (item.rule, item.start_us, item.step)


class _Entry:
    __slots__ = ("previous", "scheduled", "state", "watermark")

    def __init__(self, state: SlaState) -> None:
        self.state = state
        self.watermark = _NEVER  # every item due at or before it has been reported
        # the entry this one replaced, until this one is evaluated: what it reported is worked
        # out then (lazily, and for many subjects at once), not at every change
        self.previous: _Entry | None = None
        self.scheduled: int | None = _NEVER

    def earlier(self) -> list[tuple[SlaState, int]]:
        """(state, watermark) of each earlier entry this one replaced that was evaluated: what was
        reported for the subject is what those states had due at their watermarks."""
        out = []
        p = self.previous
        while p is not None:
            if p.watermark != _NEVER:
                out.append((p.state, p.watermark))
            p = p.previous
        return out


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
        batch_from: int = 128,
    ) -> None:
        self.engine = engine
        self.batch_from = batch_from
        """From this many subjects due in one :meth:`advance`, they are evaluated column-wise
        (:func:`~pipeline_core.sla.batch.scan_columns`, with numpy); fewer go one by one. The
        items are the same either way."""
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[int, int, str]] = []
        # subjects added or changed since the last advance (due at once: kept out of the heap)
        self._changed: list[str] = []
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

    def subject_ids(self) -> list[str]:
        """The ids of the subjects held, in the order they were first added."""
        return list(self._entries)

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
        changed = self._changed
        for state in states:
            entry = _Entry(state)
            old = entries.get(state.subject_id)
            entries[state.subject_id] = entry
            if old is not None:
                entry.previous = old
            changed.append(state.subject_id)
            count += 1
        return count

    def _reported(self, entry: _Entry) -> set[_Key] | None:
        """What was reported under the states ``entry`` replaced (one by one)."""
        earlier = entry.earlier()
        if not earlier:
            return None
        scan = self.engine.scan
        return {_key(item) for state, mark in earlier for item in scan(state, mark)[0]}

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
            entry.previous = old
            outcomes = engine.change(old.state, state)
        self._entries[state.subject_id] = entry
        self._changed.append(state.subject_id)
        if self._on_outcome is not None:
            for outcome in outcomes:
                self._on_outcome(outcome)
        return outcomes

    def remove(self, subject_id: str) -> SlaState | None:
        """Forget a subject (e.g. deleted); return its last state, if it was known."""
        entry = self._entries.pop(subject_id, None)
        return None if entry is None else entry.state

    @renamed_params(now="as_of")
    def advance(self, as_of: datetime) -> list[Item]:
        """The items that became due since the last call, up to ``as_of``, each reported exactly
        once (``now=`` is the deprecated name of ``as_of``). The one entry point of a running
        host; ``ValidationError`` when ``as_of`` is before the last call's."""
        now = as_of
        now_us = to_us(require_aware(as_of, "as_of"))
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
        due: list[tuple[str, _Entry]] = []
        seen: set[str] = set()
        for subject_id in self._changed:
            entry = entries.get(subject_id)
            if entry is None or entry.scheduled != _NEVER or subject_id in seen:
                continue  # removed, or changed again (listed once)
            seen.add(subject_id)
            due.append((subject_id, entry))
        self._changed = []
        while heap and heap[0][0] <= now_us:
            when, _, subject_id = heapq.heappop(heap)
            entry = entries.get(subject_id)
            if entry is None or entry.scheduled != when or subject_id in seen:
                continue  # stale heap entry: the subject changed or was removed (or is listed)
            seen.add(subject_id)
            due.append((subject_id, entry))
        if len(due) >= self.batch_from and _has_numpy():
            out = self._advance_batch(due, now_us)
        else:
            out = self._advance_each(due, now_us)
        if self._on_item is not None:
            for item in out:
                self._on_item(item)
        return out

    def _done(self, subject_id: str, entry: _Entry, now_us: int, nxt: int | None) -> None:
        entry.watermark = now_us
        entry.previous = None
        self._push(entry, subject_id, nxt)

    def _advance_each(self, due: list[tuple[str, _Entry]], now_us: int) -> list[Item]:
        scan = self.engine.scan
        out: list[Item] = []
        for subject_id, entry in due:
            items, nxt = scan(entry.state, now_us)
            watermark = entry.watermark
            reported = self._reported(entry)
            for item in items:
                if item.at_us > watermark and (reported is None or _key(item) not in reported):
                    out.append(item)
            self._done(subject_id, entry, now_us, nxt)
        return out

    def _advance_batch(self, due: list[tuple[str, _Entry]], now_us: int) -> list[Item]:
        """``_advance_each`` for many subjects at once, column-wise; the same items, grouped by
        subject in the order the subjects fell due."""
        require("numpy", "frames")
        import numpy as np

        from pipeline_core.sla.batch import scan_columns

        m = len(due)
        # the subjects now, and every earlier state they replaced that was evaluated, re-scanned
        # at its own watermark (what was reported then), in one column-wise run
        states = [entry.state for _, entry in due]
        marks = [now_us] * m
        owner = list(range(m))
        for k, (_, entry) in enumerate(due):
            for state, mark in entry.earlier():
                states.append(state)
                marks.append(mark)
                owner.append(k)
        found, nxt = scan_columns(self.engine, states, marks)
        owners = np.array(owner, dtype=np.int64)
        watermarks = np.array([entry.watermark for _, entry in due], dtype=np.int64)
        # keys (subject position, rule, step, clock start) reported under the earlier states
        seen: set[tuple[int, str, str, int]] = set()
        for chunk in found.chunks:
            earlier = chunk.index >= m
            if earlier.any():
                seen.update(
                    zip(
                        owners[chunk.index[earlier]].tolist(),
                        repeat(chunk.rule),
                        repeat(chunk.step),
                        chunk.start[earlier].tolist(),
                        strict=False,
                    )
                )
        objects = found.objects
        positions = found.object_index or []
        for i, item in zip(positions, objects, strict=True):
            if i >= m:
                seen.add((owner[i], item.rule, item.step, item.start_us))
        # what is new now: due after the subject's watermark and not reported before
        subjects: list[Any] = []
        numbers: list[Any] = []
        rows_at: list[Any] = []
        ranks: list[Any] = []
        for c, chunk in enumerate(found.chunks):
            index = chunk.index
            fresh = index < m
            fresh[fresh] = chunk.fire[fresh] > watermarks[index[fresh]]
            rows = np.flatnonzero(fresh)
            if not len(rows):
                continue
            if seen:
                rule, step = chunk.rule, chunk.step
                unseen = [
                    (i, rule, step, start) not in seen
                    for i, start in zip(
                        index[rows].tolist(), chunk.start[rows].tolist(), strict=True
                    )
                ]
                rows = rows[np.array(unseen, dtype=bool)]
            subjects.append(index[rows])
            numbers.append(np.full(len(rows), c, dtype=np.int64))
            rows_at.append(rows)
            ranks.append(
                np.full(
                    len(rows), self.engine.compiled.rank(chunk.rule, chunk.step), dtype=np.int64
                )
            )
        no_chunk = len(found.chunks)
        extra = [
            (i, row)
            for row, (i, item) in enumerate(zip(positions, objects, strict=True))
            if i < m
            and item.at_us > watermarks[i]
            and (i, item.rule, item.step, item.start_us) not in seen
        ]
        if extra:
            subjects.append(np.array([i for i, _ in extra], dtype=np.int64))
            numbers.append(np.full(len(extra), no_chunk, dtype=np.int64))
            rows_at.append(np.array([row for _, row in extra], dtype=np.int64))
            ranks.append(
                np.array(
                    [
                        self.engine.compiled.rank(objects[row].rule, objects[row].step)
                        for _, row in extra
                    ],
                    dtype=np.int64,
                )
            )
        for (subject_id, entry), when in zip(due, nxt[:m], strict=True):
            self._done(subject_id, entry, now_us, when)
        if not subjects:
            return []
        # grouped by subject in the order the subjects fell due, and within a subject in the
        # engine's order (rules, their steps, then risks), as one by one
        subject_of, number, row_of, rank = (
            np.concatenate(a) for a in (subjects, numbers, rows_at, ranks)
        )
        order = np.lexsort((rank, subject_of))
        return found.materialise(number[order].tolist(), row_of[order].tolist())

    def next_due(self) -> datetime | None:
        """The earliest instant at which :meth:`advance` would have something to evaluate."""
        for subject_id in self._changed:
            entry = self._entries.get(subject_id)
            if entry is not None and entry.scheduled == _NEVER:
                return from_us(max(_NEVER, self._now))
        heap = self._heap
        while heap:
            due, _, subject_id = heap[0]
            entry = self._entries.get(subject_id)
            if entry is not None and entry.scheduled == due:
                return from_us(max(due, self._now))
            heapq.heappop(heap)
        return None


def _has_numpy() -> bool:
    try:
        require("numpy", "frames")
        import numpy  # noqa: F401
    except ImportError:  # pragma: no cover - numpy comes with the dev extras
        return False
    return True
