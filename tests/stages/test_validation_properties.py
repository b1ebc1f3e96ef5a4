"""Property tests of definition-time validation: for random stage sets, rules and explicit edges,
the problems reported are exactly those an independent reading of the rules predicts, and a
pipeline that builds has exactly the predicted edges."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_core.errors import ConfigError
from pipeline_core.stages import Pipeline, Stage, Transition, TransitionRules, templates


@st.composite
def definitions(draw: st.DrawFn) -> tuple[list[Stage], list[tuple[str, str]], TransitionRules]:
    n_open = draw(st.integers(1, 5))
    n_won = draw(st.integers(0, 2))
    n_lost = draw(st.integers(0, 2))
    stages = [Stage(f"o{i}", f"O{i}") for i in range(n_open)]
    stages += [Stage(f"w{i}", f"W{i}", kind="won") for i in range(n_won)]
    stages += [Stage(f"l{i}", f"L{i}", kind="lost") for i in range(n_lost)]
    stages = [stages[0], *draw(st.permutations(stages[1:]))]  # o0 stays the start
    ids = [s.id for s in stages] + ["ghost"]
    pairs = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=6))
    rules = TransitionRules(**{k: draw(st.booleans()) for k in TransitionRules().to_dict()})
    return stages, pairs, rules


def oracle(
    stages: list[Stage], pairs: list[tuple[str, str]], r: TransitionRules
) -> tuple[set[str], set[tuple[str, str]]]:
    kind = {s.id: str(s.kind) for s in stages}
    opens = [s.id for s in stages if kind[s.id] == "open"]
    won = [s.id for s in stages if kind[s.id] == "won"]
    lost = [s.id for s in stages if kind[s.id] == "lost"]
    edges: set[tuple[str, str]] = set()
    for i, s in enumerate(opens):
        later = opens[i + 1 :]
        if r.forward:
            edges.update({(s, later[0])} if later else {(s, w) for w in won})
        if r.skip_forward:
            edges.update((s, t) for t in later + won)
        if r.win_from_open:
            edges.update((s, w) for w in won)
        if r.lose_from_open:
            edges.update((s, x) for x in lost)
        if r.regression:
            edges.update((s, t) for t in opens[:i])
    if r.reopen:
        edges.update((x, t) for x in lost for t in opens)
    codes: set[str] = set()
    if not won:
        codes.add("no_won_stage")
    if not lost:
        codes.add("no_lost_stage")
    seen: set[tuple[str, str]] = set()
    for a, b in pairs:
        if a not in kind or b not in kind:
            codes.add("unknown_stage")
            continue
        if a == b:
            codes.add("self_loop")
        if (a, b) in seen:
            codes.add("duplicate_transition")
        seen.add((a, b))
        if kind[a] != "open" and not r.reopen:
            codes.add("exit_from_final")
            continue
        if a != b:
            edges.add((a, b))

    def closure(start: set[str], forward: bool) -> set[str]:
        out, todo = set(start), list(start)
        while todo:
            x = todo.pop()
            for a, b in edges:
                nxt = b if forward and a == x else a if not forward and b == x else None
                if nxt is not None and nxt not in out:
                    out.add(nxt)
                    todo.append(nxt)
        return out

    if closure({"o0"}, True) != set(kind):
        codes.add("unreachable")
    ends = set(won + lost)
    if ends and closure(ends, False) != set(kind):
        codes.add("trap")
    return codes, edges


@settings(max_examples=300, deadline=None)
@given(definitions())
def test_problems_match_an_independent_reading(
    defn: tuple[list[Stage], list[tuple[str, str]], TransitionRules],
) -> None:
    stages, pairs, rules = defn
    expected, edges = oracle(stages, pairs, rules)
    try:
        p = Pipeline(
            "p", "P", stages, transitions=[Transition(a, b) for a, b in pairs], rules=rules
        )
    except ConfigError as exc:
        assert {x.code for x in exc.problems} == expected, str(exc)
        return
    assert expected == set()
    assert {(a, b) for a, b, _ in p.edges} == edges


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(templates.names()), st.data(), json_values)
def test_hostile_plain_data_gives_config_error_or_a_valid_pipeline(
    name: str, data: st.DataObject, value: Any
) -> None:
    doc = templates.data(name)
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        p = Pipeline.from_dict(json.loads(json.dumps(doc, default=str)))
    except ConfigError as exc:
        assert exc.problems
        return
    assert Pipeline.from_dict(p.to_dict()) == p
