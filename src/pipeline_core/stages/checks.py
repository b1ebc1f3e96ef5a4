"""The semantic checks of a pipeline definition: small named checks, each listing its problems.

:data:`CHECKS` run in order when a :class:`~pipeline_core.stages.definition.Pipeline` is built
(:func:`pipeline_core._definition.raise_problems`), so a pipeline built in code and one read from
plain data are checked by the same code and every problem is reported at once, with its path:
ids and names, each stage and its actions, the currency, the won/lost/open ends, the start,
explicit transitions, entry guards, then the graph (every stage reachable from the start, none a
trap that cannot reach an end). The checks of the graph run only when the rules and the stage
list can be read; a check never raises.

The shape of these checks follows python-statemachine's named checks (``_check_initial_state``,
``_check_trap_states`` ...): one question each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Final

import attrs

from pipeline_core._definition import Check
from pipeline_core._values import currency_problems
from pipeline_core.errors import Problem
from pipeline_core.records import Role
from pipeline_core.stages.compiled import all_edges
from pipeline_core.stages.guards import (
    Condition,
    EntryGuard,
    describe_guard,
    guard_field_problems,
)
from pipeline_core.stages.values import (
    FORECAST_CATEGORIES,
    NOT_SERIALIZABLE,
    STAGE_ID,
    Stage,
    StageAction,
    StageKind,
    Transition,
    TransitionRules,
)

if TYPE_CHECKING:
    from pipeline_core.stages.definition import Pipeline

__all__ = [
    "CHECKS",
    "check_action",
    "check_currency",
    "check_ends",
    "check_entry_guards",
    "check_identity",
    "check_no_traps",
    "check_plain",
    "check_reachable",
    "check_rules_type",
    "check_stage",
    "check_stages",
    "check_start",
    "check_transitions",
    "opportunity_fields",
]

_ACTION_ID: Final = re.compile(r"^\S{1,128}$")

Path = tuple[str | int, ...]


def opportunity_fields() -> frozenset[str]:
    """The names a guard or a required field may use (every Opportunity field)."""
    from pipeline_core.records import Opportunity

    return Opportunity.__pc_names__


def _rules_ok(p: Pipeline) -> bool:
    return isinstance(p.rules, TransitionRules)


def _graph_ok(p: Pipeline) -> bool:
    return _rules_ok(p) and bool(p.stages)


def _kinds(p: Pipeline) -> dict[str, StageKind | str]:
    return {s.id: s.kind for s in p.stages if isinstance(s, Stage)}


def _first_index(p: Pipeline) -> dict[str, int]:
    """Each stage id's first position in ``p.stages`` (a duplicate is reported there once)."""
    out: dict[str, int] = {}
    for i, s in enumerate(p.stages):
        if isinstance(s, Stage) and isinstance(s.id, str) and STAGE_ID.match(s.id):
            out.setdefault(s.id, i)
    return out


# --------------------------------------------------------------------------- values


def check_identity(p: Pipeline) -> Iterator[Problem]:
    """The pipeline's id follows :data:`~pipeline_core.stages.values.STAGE_ID`; it has a name."""
    if not isinstance(p.id, str) or not STAGE_ID.match(p.id):
        yield Problem(
            ("id",), "a pipeline id is 1-64 letters, digits, '_', '-' or '.'", p.id, "bad_id"
        )
    if not isinstance(p.name, str) or not p.name.strip():
        yield Problem(("name",), "a pipeline needs a name", p.name, "empty")


def check_rules_type(p: Pipeline) -> Iterator[Problem]:
    """``rules`` is a :class:`TransitionRules` (otherwise nothing further is checked)."""
    if not _rules_ok(p):
        yield Problem(("rules",), "expected TransitionRules", p.rules, "rules_type")


def check_action(a: StageAction) -> Iterator[Problem]:
    """One action: an id of 1-128 non-space characters, a label, a positive time limit."""
    if not isinstance(a.id, str) or not _ACTION_ID.match(a.id):
        yield Problem(("id",), "an action id is 1-128 non-space characters", a.id, "bad_id")
    if not isinstance(a.label, str) or not a.label.strip():
        yield Problem(("label",), "an action needs a label", a.label, "empty")
    if a.within is not None and (not isinstance(a.within, timedelta) or a.within <= timedelta(0)):
        yield Problem(("within",), "a time limit is a positive timedelta", a.within, "bad_duration")


def check_stage(s: Stage, known: frozenset[str] | None = None) -> Iterator[Problem]:
    """One stage on its own (paths relative to it): its id, label, kind, probability (0-1),
    forecast category, role, rotting days (at least 1), actions (unique ids) and required fields
    (``known`` opportunity fields, default every one)."""
    if not isinstance(s.id, str) or not STAGE_ID.match(s.id):
        yield Problem(
            ("id",),
            "a stage id is 1-64 letters, digits, '_', '-' or '.', starting with a letter, digit or '_'",
            s.id,
            "bad_id",
        )
    if not isinstance(s.label, str) or not s.label.strip():
        yield Problem(("label",), "a stage needs a label", s.label, "empty")
    if not isinstance(s.kind, StageKind):
        yield Problem(("kind",), "expected 'open', 'won' or 'lost'", s.kind, "bad_kind")
    prob = s.probability
    if isinstance(prob, bool) or not isinstance(prob, int | float) or not 0.0 <= prob <= 1.0:
        yield Problem(
            ("probability",), "a probability is a number from 0 to 1", prob, "probability_range"
        )
    if s.forecast_category not in FORECAST_CATEGORIES:
        yield Problem(
            ("forecast_category",),
            f"expected one of {', '.join(FORECAST_CATEGORIES)}",
            s.forecast_category,
            "bad_forecast_category",
        )
    if s.role is not None and not isinstance(s.role, Role):
        yield Problem(
            ("role",),
            f"unknown role: expected one of {', '.join(r.value for r in Role)}",
            s.role,
            "bad_role",
        )
    days = s.rotting_days
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        yield Problem(("rotting_days",), "a whole number of days, at least 1", days, "bad_days")
    action_ids: set[str] = set()
    for j, a in enumerate(s.actions):
        if not isinstance(a, StageAction):
            yield Problem(("actions", j), "expected a StageAction", a, "action_type")
            continue
        problems = list(check_action(a))
        if not problems or problems[0].path != ("id",):  # a valid id: unique in the stage?
            if a.id in action_ids:
                yield Problem(
                    ("actions", j, "id"), "duplicate action id in this stage", a.id, "duplicate_id"
                )
            action_ids.add(a.id)
        yield from _under(("actions", j), problems)
    known = opportunity_fields() if known is None else known
    for j, f in enumerate(s.required_fields):
        for problem in guard_field_problems(Condition(f, "present"), (), known=known):
            yield attrs.evolve(problem, path=("required_fields", j))


def check_stages(p: Pipeline) -> Iterator[Problem]:
    """Every stage (see :func:`check_stage`), and no stage id twice."""
    if not _rules_ok(p):
        return
    known = opportunity_fields()
    first = _first_index(p)
    for i, s in enumerate(p.stages):
        if not isinstance(s, Stage):
            yield Problem(("stages", i), "expected a Stage", s, "stage_type")
            continue
        if first.get(s.id, i) != i:
            yield Problem(
                ("stages", i, "id"),
                f"duplicate stage id (also stages[{first[s.id]}])",
                s.id,
                "duplicate_id",
            )
        yield from _under(("stages", i), check_stage(s, known))


def check_currency(p: Pipeline) -> Iterator[Problem]:
    """``currency``, when given, is an ISO 4217 code."""
    if _rules_ok(p):
        yield from currency_problems(p.currency)


def check_ends(p: Pipeline) -> Iterator[Problem]:
    """Stages, at least one of them open, one won and one lost."""
    if not _rules_ok(p):
        return
    if not p.stages:
        yield Problem(("stages",), "a pipeline needs stages", [], "no_stages")
        return
    kinds = set(_kinds(p).values())
    if StageKind.OPEN not in kinds:
        yield Problem(
            ("stages",), "a pipeline needs at least one open stage", None, "no_open_stage"
        )
    if StageKind.WON not in kinds:
        yield Problem(
            ("stages",), "a pipeline needs a won stage (kind 'won')", None, "no_won_stage"
        )
    if StageKind.LOST not in kinds:
        yield Problem(
            ("stages",), "a pipeline needs a lost stage (kind 'lost')", None, "no_lost_stage"
        )


def _start(p: Pipeline) -> str | None:
    """The start stage's id when it is a known open stage (default: the first open stage)."""
    kinds = _kinds(p)
    if p.start is None:
        return next((k for k, v in kinds.items() if v is StageKind.OPEN), None)
    return p.start if kinds.get(p.start) is StageKind.OPEN else None


def check_start(p: Pipeline) -> Iterator[Problem]:
    """``start``, when given, is an open stage of the pipeline."""
    if not _graph_ok(p) or p.start is None:
        return
    kinds = _kinds(p)
    if p.start not in kinds:
        yield Problem(("start",), "unknown stage", p.start, "unknown_stage")
    elif kinds[p.start] is not StageKind.OPEN:
        yield Problem(
            ("start",), "the start stage must be an open stage", p.start, "start_not_open"
        )


def _guards(
    guards: Sequence[EntryGuard], path: Path, known: frozenset[str], currency: str | None
) -> Iterator[Problem]:
    for j, g in enumerate(guards):
        yield from guard_field_problems(g, (*path, j), known=known, currency=currency)


def check_transitions(p: Pipeline) -> Iterator[Problem]:
    """Each explicit transition joins two known, different stages, once; leaves a won or lost
    stage only with ``rules.reopen``; and its guards are valid."""
    if not _graph_ok(p):
        return
    kinds = _kinds(p)
    known = opportunity_fields()
    seen: dict[tuple[str, str], int] = {}
    for i, t in enumerate(p.transitions):
        path: Path = ("transitions", i)
        if not isinstance(t, Transition):
            yield Problem(path, "expected a Transition", t, "transition_type")
            continue
        unknown = [
            (end, key) for end, key in ((t.source, "from"), (t.target, "to")) if end not in kinds
        ]
        for end, key in unknown:
            yield Problem((*path, key), "edge to or from an unknown stage", end, "unknown_stage")
        if unknown:
            continue
        edge = f"{t.source} -> {t.target}"
        if t.source == t.target:
            yield Problem(path, "a stage cannot move to itself", t.source, "self_loop")
        if (t.source, t.target) in seen:
            also = seen[(t.source, t.target)]
            yield Problem(
                path,
                f"duplicate transition (also transitions[{also}])",
                edge,
                "duplicate_transition",
            )
        seen[(t.source, t.target)] = i
        if kinds[t.source] is not StageKind.OPEN and not p.rules.reopen:
            yield Problem(
                path,
                f"stage {t.source!r} is an end ({kinds[t.source]}); moves out of it need rules.reopen",
                edge,
                "exit_from_final",
            )
        yield from _guards(t.guards, (*path, "guards"), known, p.currency)


def check_entry_guards(p: Pipeline) -> Iterator[Problem]:
    """Entry guards name known stages and are valid."""
    if not _graph_ok(p):
        return
    kinds = _kinds(p)
    known = opportunity_fields()
    for key, guards in p.entry_guards:
        if key not in kinds:
            yield Problem(
                ("entry_guards", key), "guards for an unknown stage", key, "unknown_stage"
            )
        yield from _guards(guards, ("entry_guards", key), known, p.currency)


def _graph(p: Pipeline) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The moves as adjacency lists, forward and reverse (no exits from ends without reopen)."""
    kinds = _kinds(p)
    forward: dict[str, list[str]] = {k: [] for k in kinds}
    reverse: dict[str, list[str]] = {k: [] for k in kinds}
    for src, dst in all_edges(p.stages, p.rules, p.transitions):
        if src in kinds and dst in kinds and src != dst:
            if kinds[src] is not StageKind.OPEN and not p.rules.reopen:
                continue
            forward[src].append(dst)
            reverse[dst].append(src)
    return forward, reverse


def _closure(starts: Sequence[str], graph: Mapping[str, Sequence[str]]) -> set[str]:
    seen = set(starts)
    todo = list(starts)
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _outside(p: Pipeline, reached: set[str], message: str, code: str) -> Iterator[Problem]:
    """A problem for each stage (at its first position) that is not in ``reached``."""
    for stage_id, i in _first_index(p).items():
        if stage_id not in reached:
            yield Problem(("stages", i, "id"), message, stage_id, code)


def check_reachable(p: Pipeline) -> Iterator[Problem]:
    """Every stage can be reached from the start stage."""
    start = _start(p) if _graph_ok(p) else None
    if start is not None:
        reached = _closure([start], _graph(p)[0])
        yield from _outside(
            p, reached, f"stage cannot be reached from the start stage {start!r}", "unreachable"
        )


def check_no_traps(p: Pipeline) -> Iterator[Problem]:
    """Every stage can reach a won or lost stage (none is a trap)."""
    if not _graph_ok(p):
        return
    ends = [k for k, v in _kinds(p).items() if v is not StageKind.OPEN]
    if ends:
        can_end = _closure(ends, _graph(p)[1])
        yield from _outside(p, can_end, "stage cannot reach a won or lost stage (a trap)", "trap")


CHECKS: Final[tuple[Check, ...]] = (
    check_identity,
    check_rules_type,
    check_stages,
    check_currency,
    check_ends,
    check_start,
    check_transitions,
    check_entry_guards,
    check_reachable,
    check_no_traps,
)
"""The checks a pipeline runs when built, in the order its problems are listed."""


def check_plain(p: Pipeline) -> Iterator[Problem]:
    """Every guard has a plain form (a Python callable has none): run before writing plain data."""
    for i, t in enumerate(p.transitions):
        for j, g in enumerate(t.guards):
            if not isinstance(g, Condition):
                yield _callable(("transitions", i, "guards", j), g)
    for key, guards in p.entry_guards:
        for j, g in enumerate(guards):
            if not isinstance(g, Condition):
                yield _callable(("entry_guards", key, j), g)


def _callable(path: Path, guard: EntryGuard) -> Problem:
    return Problem(path, NOT_SERIALIZABLE, describe_guard(guard), "not_serializable")


def _under(prefix: Path, problems: Iterable[Problem]) -> Iterator[Problem]:
    for p in problems:
        yield attrs.evolve(p, path=(*prefix, *p.path))
