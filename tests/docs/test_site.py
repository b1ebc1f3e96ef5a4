"""The documentation site builds with ``mkdocs build --strict`` (broken links and API pages fail)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists() and shutil.which("mkdocs") is None:
        pytest.fail("mkdocs is not installed: install the dev extra (pip install -e '.[dev]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run(
        [
            str(mkdocs) if mkdocs.exists() else "mkdocs",
            "build",
            "--strict",
            "-d",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "records" / "index.html").exists()
    _check_rendered(tmp_path / "site")


_RAW_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj|const|ref):`")


def _check_rendered(site: Path) -> None:
    """What a reader of the built site sees: no raw Sphinx roles, doctests as code, every
    record's fields, the pages of every public module, the notebook in the navigation."""
    pages = {p: p.read_text(encoding="utf-8") for p in site.rglob("*.html")}
    raw = {str(p.relative_to(site)): len(_RAW_ROLE.findall(t)) for p, t in pages.items()}
    assert {p: n for p, n in raw.items() if n} == {}
    reference = [t for p, t in pages.items() if "reference" in p.parts]
    assert not any("<blockquote>\n<blockquote>" in t for t in reference)  # doctests were quotes
    assert any("language-pycon" in t or "&gt;&gt;&gt;" in t for t in reference)
    records = (site / "reference" / "records" / "index.html").read_text(encoding="utf-8")
    for field in ("budget", "authority", "owner_id", "created_at"):  # fields of a Lead
        assert f'id="pipeline_core.records.Lead.{field}"' in records, field
    for page in ("storage_io", "storage_frames", "charts", "templates", "testing", "cli"):
        assert (site / "reference" / page / "index.html").exists(), page
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "as it lands" not in index
    assert 'href="notebook/"' in index
    assert (site / "notebooks" / "pipeline-review.ipynb").exists()
