"""Every ```python block in README.md and docs/*.md runs, in order, one namespace per page.

A ```text block that directly follows a python block is that block's expected standard output.
A python block whose first line is ``# not run`` is shown, not run (e.g. needs a server).
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # blocks that write files write them here
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    found = blocks(page)
    for i, (lang, code) in enumerate(found):
        if lang != "python" or code.lstrip().startswith("# not run"):
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        nxt = found[i + 1] if i + 1 < len(found) else None
        if nxt is not None and nxt[0] == "text":
            assert out.getvalue().strip() == nxt[1].strip(), (
                f"{page.name} block {i} printed otherwise"
            )
