"""What a person sees, in a real browser: ``report.html``, the docs index and the review notebook
rendered by headless Chromium (Debian's ``chromium``).

Each page is checked from inside the browser (a small script appended to a copy of the page writes
its findings into the DOM, read back with ``--dump-dom``): the page's language, no table wider
than the window or its scrolling box, times shown locally with their offset, labels instead of
ids. A screenshot of each page is kept for a person to look at, under ``artifacts/browser/``
(git-ignored; ``PIPELINE_CORE_ARTIFACTS`` moves it); the paths are printed.

Without Chromium the tests skip, saying how to run them; under CI (``CI=true``) they fail instead:
``.ci/run`` installs Chromium.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NARROW, WIDE = 820, 1280  # window widths (px): a laptop split screen, a desktop
LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d")
CUT_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?![:\d])")  # '2025-04-05T14:12': offset cut off


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    message = (
        "headless Chromium not found: install Debian's chromium (apt-get install chromium "
        "fonts-wqy-zenhei) or run .ci/run, then run pytest tests/browser"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)  # CI installs it: a missing browser must not pass silently
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> str:
    return _chromium()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    out = Path(os.environ.get("PIPELINE_CORE_ARTIFACTS", ROOT / "artifacts")) / "browser"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _run(browser: str, *args: str) -> str:
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=3000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


_PROBE = """
<script>
(function () {
  const vw = document.documentElement.clientWidth;
  const tables = Array.from(document.querySelectorAll('table'));
  const overflowing = tables.filter(t => {
    let box = t.parentElement;
    while (box && box !== document.body) {
      const s = getComputedStyle(box);
      if (s.overflowX === 'auto' || s.overflowX === 'scroll') break;
      box = box.parentElement;
    }
    // a table in its own scrolling box may be wider than the box (the box scrolls, not the page):
    // then the box itself must fit the window; any other table must fit the window
    if (box && box !== document.body) return box.getBoundingClientRect().right > vw + 1;
    return t.getBoundingClientRect().right > vw + 1;
  }).map(t => (t.innerText || '').slice(0, 60));
  const wrapped = Array.from(document.querySelectorAll('td')).filter(td => {
    const s = getComputedStyle(td);
    return s.whiteSpace !== 'normal' && td.getClientRects().length &&
      td.scrollHeight > parseFloat(s.lineHeight || '20') * 1.8;
  }).length;
  const out = {
    lang: document.documentElement.lang,
    viewport: vw,
    page_width: document.documentElement.scrollWidth,
    tables: tables.length,
    overflowing: overflowing,
    wrapped_cells: wrapped,
    text: document.body.innerText,
  };
  const pre = document.createElement('pre');
  pre.id = '__probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def _probe(browser: str, page: Path, width: int) -> dict[str, Any]:
    """Open a copy of ``page`` with the probe script at ``width`` px; the probe's findings."""
    text = page.read_text(encoding="utf-8")
    probed = page.with_name(f".probe-{page.name}")
    cut = text.rfind("</body>")
    probed.write_text(
        text[:cut] + _PROBE + text[cut:] if cut >= 0 else text + _PROBE, encoding="utf-8"
    )
    try:
        dom = _run(browser, f"--window-size={width},900", "--dump-dom", probed.as_uri())
    finally:
        probed.unlink()
    found = re.search(r'<pre id="__probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return dict(json.loads(html.unescape(found.group(1))))


def _screenshot(browser: str, page: Path, out: Path, width: int, height: int) -> Path:
    _run(browser, f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri())
    assert out.exists() and out.stat().st_size > 10_000
    print(f"screenshot: {out}")
    return out


# -- the demo report --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline_core.cli.demo import DemoOptions, run_demo

    work = tmp_path_factory.mktemp("report")
    options = DemoOptions(leads=800, db=work / "pipeline.db", report=work / "report.html")
    run_demo(options)
    return work / "report.html"


@pytest.mark.parametrize("width", [NARROW, WIDE])
def test_report_reads_as_a_person_expects(
    browser: str, report: Path, artifacts: Path, width: int
) -> None:
    found = _probe(browser, report, width)
    assert found["lang"] == "zh-CN"
    assert found["tables"] >= 5
    assert found["overflowing"] == []  # every table fits the window or scrolls in its own box
    assert found["page_width"] <= found["viewport"]  # and the page itself does not scroll sideways
    assert found["wrapped_cells"] == 0  # no cell breaks over lines
    text = found["text"]
    # instants as the Shanghai team reads them, with the offset; none cut off at the minute in UTC
    assert LOCAL_TIME.search(text), text[:500]
    assert "+08:00" in text and not CUT_UTC.search(text)
    # stage labels of the small_team template and rule titles, not ids
    for label in ("首次沟通", "需求确认", "成交"):
        assert label in text
    assert "first_contact" not in text and "lead.first_touch" not in text
    assert not re.search(r"\buser-\d+\b", text)  # reps by name
    assert "¥" in text and "1e6" not in text
    _screenshot(browser, report, artifacts / f"report-{width}.png", width, 3400)


# -- the docs index ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site") / "site"
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_docs_index_renders(browser: str, site: Path, artifacts: Path) -> None:
    index = site / "index.html"
    found = _probe(browser, index, WIDE)
    assert found["lang"] == "en"
    assert found["overflowing"] == []
    text = found["text"]
    assert "Quickstart" in text and "Weekly review notebook" in text
    assert "as it lands" not in text
    assert "首次沟通" in text  # the CJK font renders; the text is there
    _screenshot(browser, index, artifacts / "docs-index.png", WIDE, 1800)


# -- the review notebook ----------------------------------------------------------------------


def _notebook_html(path: Path) -> str:
    """The stored, executed notebook as one plain HTML page (markdown as text, code, outputs)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    parts = [
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><style>"
        "body{font-family:sans-serif;max-width:1000px;margin:1rem auto}"
        "pre{background:#f6f6f6;padding:.4rem;white-space:pre-wrap}"
        ".md{white-space:pre-wrap}td,th{padding:.1rem .5rem;border-bottom:1px solid #eee}"
        "img{max-width:100%}</style></head><body>"
    ]
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            parts.append(f"<div class='md'>{html.escape(source)}</div>")
            continue
        parts.append(f"<pre>{html.escape(source)}</pre>")
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                png = data["image/png"]
                png = "".join(png) if isinstance(png, list) else png
                base64.b64decode(png)  # a real image
                parts.append(f"<img src='data:image/png;base64,{png}'>")
            elif "text/html" in data:
                parts.append("".join(data["text/html"]))
            elif "text" in out:
                parts.append(f"<pre>{html.escape(''.join(out['text']))}</pre>")
    parts.append("</body></html>")
    return "".join(parts)


def test_notebook_output_reads_as_a_person_expects(
    browser: str, tmp_path: Path, artifacts: Path
) -> None:
    page = tmp_path / "pipeline-review.html"
    page.write_text(
        _notebook_html(ROOT / "docs" / "notebooks" / "pipeline-review.ipynb"), encoding="utf-8"
    )
    found = _probe(browser, page, WIDE)
    assert found["overflowing"] == []
    text = found["text"]
    assert "review at 2025-04-07 00:00 +08:00" in text
    assert "首次沟通" in text and "Bottleneck: 需求确认 → 方案报价" in text
    assert not re.search(r"\d\.\d+e\+\d\d", text)  # no 6.169e+07
    assert not re.search(r"\b0\.\d{4}\b", text)  # shares as percentages, not 0.4596
    assert "findfont" not in text and "first_contact" not in text.split("import html")[-1]
    _screenshot(browser, page, artifacts / "notebook.png", WIDE, 6000)
