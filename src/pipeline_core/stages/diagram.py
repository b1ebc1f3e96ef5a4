"""Diagrams of a pipeline: Mermaid ``stateDiagram-v2`` and Graphviz DOT.

Both show every stage (English and Chinese label, the fields required to enter it) and every
allowed move; an edge is labelled with its guards beyond the target's required fields. Won stages
are green, lost stages red. The output is deterministic, so docs can embed it and tests can check
that the embedded text still equals what the code produces.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pipeline_core.stages.definition import Pipeline, Stage

__all__ = ["to_dot", "to_mermaid"]

_RESERVED: Final = frozenset({"end", "state", "note", "direction", "class", "classdef", "style"})


def _mermaid_ids(pipeline: Pipeline) -> dict[str, str]:
    out: dict[str, str] = {}
    used: set[str] = set()
    for stage in pipeline.stages:
        base = re.sub(r"[^A-Za-z0-9_]", "_", stage.id)
        if base.lower() in _RESERVED or base[0].isdigit():
            base = f"s_{base}"
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        out[stage.id] = name
    return out


def _title(stage: Stage, sep: str) -> str:
    """The stage's label, its Chinese label and the fields it requires, joined by ``sep``."""
    text = stage.label if not stage.label_zh else f"{stage.label}{sep}{stage.label_zh}"
    if stage.required_fields:
        text += f"{sep}(requires {', '.join(stage.required_fields)})"
    return text


def _labelled_edges(pipeline: Pipeline) -> Iterator[tuple[str, str, str]]:
    """Every edge as ``(source, target, label)``: the label names its guards beyond the
    target's required fields (empty when there are none)."""
    for source, target, checks in pipeline.edges:
        required = {f"{f} present" for f in pipeline.stage(target).required_fields}
        yield source, target, ", ".join(c for c in checks if c not in required)


# Line breaks and other control characters would end a diagram line and start a new statement
# (a label "New\nclassDef evil ..." would inject one): in Mermaid they become spaces.
# Bidirectional controls (U+202E ...) and the BOM would reorder or hide text in the rendered
# diagram: they become spaces too.
_CONTROL: Final = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def _mermaid_text(text: str) -> str:
    text = _CONTROL.sub(" ", text)
    return text.replace('"', "'").replace(":", " ").replace(";", ",").replace("#", "no.")


def to_mermaid(pipeline: Pipeline) -> str:
    """A Mermaid ``stateDiagram-v2`` (left to right) of ``pipeline``."""
    ids = _mermaid_ids(pipeline)
    lines = ["stateDiagram-v2", "    direction LR"]
    for stage in pipeline.stages:
        lines.append(f'    state "{_mermaid_text(_title(stage, " "))}" as {ids[stage.id]}')
    lines.append(f"    [*] --> {ids[pipeline.first.id]}")
    for source, target, label in _labelled_edges(pipeline):
        suffix = f" : {_mermaid_text(label)}" if label else ""
        lines.append(f"    {ids[source]} --> {ids[target]}{suffix}")
    for stage in pipeline.stages:
        if stage.is_closed:
            lines.append(f"    {ids[stage.id]} --> [*]")
    won = [ids[s] for s in pipeline.won_stage_ids]
    lost = [ids[s] for s in pipeline.lost_stage_ids]
    lines.append("    classDef wonStage fill:#d9f2d9,stroke:#2e7d32")
    lines.append("    classDef lostStage fill:#f8d7da,stroke:#b71c1c")
    lines.append(f"    class {','.join(won)} wonStage")
    lines.append(f"    class {','.join(lost)} lostStage")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r\n", "\n")
    # a line break is DOT's own escape \n; other control characters become spaces
    return (
        '"'
        + _CONTROL.sub(lambda m: "\\n" if m.group() in "\n\r\u2028\u2029\u0085" else " ", text)
        + '"'
    )


def to_dot(pipeline: Pipeline) -> str:
    """A Graphviz DOT ``digraph`` (left to right) of ``pipeline``."""
    lines = [
        f"digraph {_dot_quote(pipeline.id)} {{",
        "    rankdir=LR;",
        f"    label={_dot_quote(pipeline.name)};",
        '    node [shape=box, style="rounded,filled", fillcolor="#ffffff"];',
        '    "__start__" [shape=point, label=""];',
    ]
    for stage in pipeline.stages:
        attrs = "label=" + _dot_quote(_title(stage, "\n"))
        if stage.kind == "won":
            attrs += ', shape=doubleoctagon, fillcolor="#d9f2d9"'
        elif stage.kind == "lost":
            attrs += ', shape=doubleoctagon, fillcolor="#f8d7da"'
        lines.append(f"    {_dot_quote(stage.id)} [{attrs}];")
    lines.append(f"    {_dot_quote('__start__')} -> {_dot_quote(pipeline.first.id)};")
    for source, target, label in _labelled_edges(pipeline):
        extra = f" [label={_dot_quote(label)}]" if label else ""
        lines.append(f"    {_dot_quote(source)} -> {_dot_quote(target)}{extra};")
    lines.append("}")
    return "\n".join(lines) + "\n"
