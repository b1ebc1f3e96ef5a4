"""docs/stages.md: its code runs, and its template diagrams equal what the code draws."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pipeline_core.stages import templates

DOC = Path(__file__).resolve().parents[2] / "docs" / "stages.md"
BEGIN = "<!-- BEGIN TEMPLATE DIAGRAMS"
END = "<!-- END TEMPLATE DIAGRAMS -->"


def render_diagrams() -> str:
    """The generated section: one heading and Mermaid block per template."""
    parts = []
    for name in templates.names():
        p = templates.get(name)
        title = p.name if not p.name_zh else f"{p.name} ({p.name_zh})"
        roles = ", ".join(f"{s.id}: {s.role}" for s in p.stages if s.role is not None)
        parts.append(
            f"### `{name}`: {title}\n\nRoles: {roles}.\n\n```mermaid\n{p.to_mermaid()}```\n"
        )
    return "\n".join(parts)


def _bounds(text: str) -> tuple[int, int]:
    start = text.index("\n", text.index(BEGIN)) + 1
    return start, text.index(END)


def _section(text: str) -> str:
    start, end = _bounds(text)
    return text[start:end]


def test_template_diagrams_are_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    fresh = render_diagrams()
    if os.environ.get("UPDATE_DOCS") == "1":
        start, end = _bounds(text)
        text = text[:start] + fresh + text[end:]
        DOC.write_text(text, encoding="utf-8")
    assert _section(text) == fresh, (
        "regenerate with: UPDATE_DOCS=1 pytest tests/stages/test_docs.py"
    )
    blocks = re.findall(r"```mermaid\n(.*?)```", _section(text), re.S)
    assert blocks == [templates.get(n).to_mermaid() for n in templates.names()]


def test_code_examples_run() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 6
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
