"""The compiled edge table of a pipeline: every allowed move with its guards compiled, built once.

When a :class:`~pipeline_core.stages.definition.Pipeline` is built (after its checks pass) it
compiles itself with :func:`compile_pipeline`: the stages by id, the funnel rank of each, the
table ``source -> target -> Edge`` of every allowed move (explicit transitions and those the
rules generate) and the guards of entering each stage directly. A move is then a couple of
dictionary look-ups and the guard calls (:mod:`pipeline_core.stages.machine`).

This is an internal API of the stages package: read it through the pipeline's public look-ups
(:meth:`~pipeline_core.stages.definition.Pipeline.edge`, ``targets``, ``edges``, ``rank``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from pipeline_core.stages.guards import (
    Condition,
    EntryGuard,
    GuardTest,
    compile_guard,
    describe_guard,
)
from pipeline_core.stages.values import Stage, StageKind, Transition, TransitionRules

if TYPE_CHECKING:
    from pipeline_core.stages.definition import Pipeline

__all__ = ["Compiled", "Edge", "all_edges", "compile_pipeline", "entry_guards_of"]


class Edge:
    """A precomputed edge: compiled guards, their names, and what entering the target changes.

    ``tests`` are the compiled guards (required fields of the target, its entry guards, the
    edge's own guards, in that order) and ``checks`` their names; ``probability`` and ``kind``
    are the target's; ``closes``: the target is won or lost; ``reopens``: a closed -> open move;
    ``opens_close``: an open -> closed move (the first entry into a closed stage, which sets
    ``closed_at``).
    """

    __slots__ = (
        "checks",
        "closes",
        "kind",
        "opens_close",
        "probability",
        "reopens",
        "source",
        "target",
        "tests",
    )

    def __init__(
        self,
        source: Stage,
        target: Stage,
        tests: tuple[GuardTest, ...],
        checks: tuple[str, ...],
    ) -> None:
        self.source = source.id
        self.target = target.id
        self.tests = tests
        self.checks = checks
        self.probability = target.probability
        self.kind = target.kind
        self.closes = target.kind is not StageKind.OPEN
        self.reopens = source.kind is not StageKind.OPEN and target.kind is StageKind.OPEN
        self.opens_close = source.kind is StageKind.OPEN and self.closes


@attrs.frozen
class Compiled:
    """What a pipeline precomputes: ``by_id`` (stage id -> stage), ``rank`` (funnel order, see
    :meth:`~pipeline_core.stages.definition.Pipeline.rank`), ``table`` (source -> target ->
    :class:`Edge`, in stage order), ``entry`` (stage id -> compiled guards and their names for
    entering it directly) and ``first`` (the start stage)."""

    by_id: Mapping[str, Stage]
    rank: Mapping[str, int]
    table: Mapping[str, Mapping[str, Edge]]
    entry: Mapping[str, tuple[tuple[GuardTest, ...], tuple[str, ...]]]
    first: Stage


def generated_edges(stages: Sequence[Stage], rules: TransitionRules) -> list[tuple[str, str]]:
    """The edges ``rules`` generate over ``stages`` (funnel order), in a stable order."""
    opens = [s.id for s in stages if s.kind is StageKind.OPEN]
    won = [s.id for s in stages if s.kind is StageKind.WON]
    lost = [s.id for s in stages if s.kind is StageKind.LOST]
    r = rules
    out: list[tuple[str, str]] = []
    for i, s in enumerate(opens):
        if r.regression:
            out.extend((s, t) for t in opens[:i])
        if r.skip_forward:
            out.extend((s, t) for t in opens[i + 1 :])
        elif r.forward and i + 1 < len(opens):
            out.append((s, opens[i + 1]))
        if r.skip_forward or r.win_from_open or (r.forward and i == len(opens) - 1):
            out.extend((s, t) for t in won)
        if r.lose_from_open:
            out.extend((s, t) for t in lost)
    if r.reopen:
        out.extend((s, t) for s in lost for t in opens)
    return out


def all_edges(
    stages: Sequence[Stage], rules: TransitionRules, transitions: Sequence[Transition]
) -> list[tuple[str, str]]:
    """Every edge, generated and explicit, once each, sorted by the stage order of source then
    target (ids that are not stages last)."""
    seen: dict[tuple[str, str], None] = dict.fromkeys(generated_edges(stages, rules))
    for t in transitions:
        seen.setdefault((t.source, t.target), None)
    order = {s.id: i for i, s in enumerate(stages)}
    return sorted(seen, key=lambda e: (order.get(e[0], 1 << 30), order.get(e[1], 1 << 30)))


def entry_guards_of(stage: Stage, entry: Mapping[str, Sequence[EntryGuard]]) -> list[EntryGuard]:
    """The guards of entering ``stage``: its required fields present, then its entry guards."""
    guards: list[EntryGuard] = [Condition(f, "present") for f in stage.required_fields]
    guards.extend(entry.get(stage.id, ()))
    return guards


def _compiled(
    guards: Sequence[EntryGuard], currency: str | None
) -> tuple[tuple[GuardTest, ...], tuple[str, ...]]:
    return (
        tuple(compile_guard(g, currency=currency) for g in guards),
        tuple(describe_guard(g) for g in guards),
    )


def compile_pipeline(p: Pipeline) -> Compiled:
    """Compile a pipeline whose checks passed (ids unique, edges between known stages ...)."""
    by_id = {s.id: s for s in p.stages}
    opens = [s for s in p.stages if s.kind is StageKind.OPEN]
    rank = {s.id: i for i, s in enumerate(opens)}
    for s in p.stages:
        if s.kind is StageKind.WON:
            rank[s.id] = len(opens)
        elif s.kind is StageKind.LOST:
            rank[s.id] = -1
    explicit: dict[tuple[str, str], tuple[EntryGuard, ...]] = {}
    for t in p.transitions:
        explicit[(t.source, t.target)] = explicit.get((t.source, t.target), ()) + t.guards
    entry = dict(p.entry_guards)
    table: dict[str, dict[str, Edge]] = {s.id: {} for s in p.stages}
    for a, b in all_edges(p.stages, p.rules, p.transitions):
        guards = entry_guards_of(by_id[b], entry)
        guards.extend(explicit.get((a, b), ()))
        table[a][b] = Edge(by_id[a], by_id[b], *_compiled(guards, p.currency))
    return Compiled(
        by_id=by_id,
        rank=rank,
        table=table,
        entry={s.id: _compiled(entry_guards_of(s, entry), p.currency) for s in p.stages},
        first=by_id[p.start] if p.start else opens[0],
    )
