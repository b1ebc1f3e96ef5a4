"""Diagrams: Mermaid and DOT show every stage and every allowed move, and nothing else."""

from __future__ import annotations

import re

import pytest

from pipeline_core.stages import Condition, Pipeline, Stage, Transition, templates


@pytest.mark.parametrize("name", templates.names())
def test_mermaid_has_every_stage_and_edge(name: str) -> None:
    p = templates.get(name)
    text = p.to_mermaid()
    assert text.startswith("stateDiagram-v2\n")
    arrows = re.findall(r"^    (\w+) --> (\w+)(?: : (.*))?$", text, re.M)
    assert {(a, b) for a, b, _ in arrows} == {(a, b) for a, b, _ in p.edges}
    assert re.findall(r"^    \[\*\] --> (\w+)$", text, re.M) == [p.first.id]
    assert sorted(re.findall(r"^    (\w+) --> \[\*\]$", text, re.M)) == sorted(
        p.won_stage_ids + p.lost_stage_ids
    )
    for s in p.stages:
        assert f"as {s.id}\n" in text and s.label in text and (s.label_zh or "") in text


@pytest.mark.parametrize("name", templates.names())
def test_dot_has_every_stage_and_edge(name: str) -> None:
    p = templates.get(name)
    text = p.to_dot()
    assert text.startswith(f'digraph "{name}" {{') and text.rstrip().endswith("}")
    edges = set(re.findall(r'^    "(\w+)" -> "(\w+)"', text, re.M))
    assert edges == {(a, b) for a, b, _ in p.edges} | {("__start__", p.first.id)}


def test_guard_labels_and_awkward_ids() -> None:
    p = Pipeline(
        "p",
        'Say "hi"',
        [
            Stage("end", "End?"),
            Stage("2nd-step", "Second"),
            Stage("2nd.step", "Second too"),
            Stage("won", "Won", kind="won"),
            Stage("lost", "Lost", kind="lost"),
        ],
        transitions=[Transition("end", "2nd-step", Condition("expected_amount", "ge", 100))],
    )
    mermaid = p.to_mermaid()
    assert 'state "End?" as s_end' in mermaid  # "end" is a Mermaid keyword
    assert "as s_2nd_step\n" in mermaid and "as s_2nd_step_2\n" in mermaid
    assert "s_end --> s_2nd_step : expected_amount >= 100" in mermaid
    dot = p.to_dot()
    assert 'label="Say \\"hi\\""' in dot
    assert '"end" -> "2nd-step" [label="expected_amount >= 100"];' in dot
