"""docs/notebooks/pipeline-review.ipynb runs from top to bottom, draws its charts, and prints the
library's own numbers.

The notebook is executed with nbclient in a kernel of *this* interpreter: a kernelspec pointing at
``sys.executable`` is installed into a temporary folder (``ipykernel.kernelspec.install(prefix=)``)
and found through ``JUPYTER_PATH``, so the test works in a fresh clone after
``pip install -e .[dev]`` and never picks up some other Python's ``python3`` kernel.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")
pytest.importorskip("matplotlib")

from pipeline_core import metrics as m  # noqa: E402
from pipeline_core.samples import SampleConfig, generate  # noqa: E402
from pipeline_core.stages import templates  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebooks" / "pipeline-review.ipynb"
KERNEL = "pipeline-core-notebook-test"
STRICT = (
    "import warnings\n"
    "warnings.filterwarnings('error', category=DeprecationWarning, module=r'(__main__|pipeline_core)\\b')"
)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The notebook after execution (cells run in a scratch folder)."""
    root = tmp_path_factory.mktemp("kernel")
    kernelspec.install(kernel_name=KERNEL, prefix=str(root), display_name="pipeline_core test")
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(root / "share" / "jupyter"), *([previous] if previous else [])]
    )
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        # as in the suite (pyproject filterwarnings): a deprecated name used by a cell or by the
        # library fails the cell that used it
        nb.cells.insert(0, nbformat.v4.new_code_cell(STRICT))
        work = tmp_path_factory.mktemp("run")
        client = nbclient.NotebookClient(
            nb, timeout=300, kernel_name=KERNEL, resources={"metadata": {"path": str(work)}}
        )
        client.execute()  # raises CellExecutionError on the first failing cell
        yield nb
    finally:
        if previous is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = previous


def outputs(nb: Any) -> list[Any]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def text(nb: Any) -> str:
    parts = []
    for o in outputs(nb):
        if o.output_type == "stream" and o.name == "stdout":
            parts.append(o.text)
        elif "data" in o and "text/plain" in o.data:
            parts.append(o.data["text/plain"])
    return "\n".join(parts)


def test_every_cell_ran_without_errors(executed: Any) -> None:
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code)
    assert not [o for o in outputs(executed) if o.output_type == "error"]


def test_charts_are_rendered_inline(executed: Any) -> None:
    images = [o for o in outputs(executed) if "image/png" in o.get("data", {})]
    # funnel, time in stage, A/B, forecast fan
    assert len(images) >= 4
    assert all(len(o.data["image/png"]) > 1_000 for o in images)
    tables = [o for o in outputs(executed) if "text/html" in o.get("data", {})]
    assert len(tables) >= 3  # funnel, time in stage, SLA attainment as HTML tables


def _recomputed() -> dict[str, Any]:
    """The notebook's key numbers, computed here with the library from the same sample config."""
    pipeline = templates.get("small_team")
    config = SampleConfig.for_pipeline(
        pipeline, seed=11, n_leads=1_500, days=91,
        start=datetime(2025, 1, 6, tzinfo=ZoneInfo("Asia/Shanghai")),
    )  # fmt: skip
    company = generate(config)
    opportunities = list(company.opportunities())
    events = list(company.stage_events())
    funnel = m.cohort_funnel(
        opportunities, events, stages=pipeline, start=config.origin, end=config.end
    )
    return {
        "weighted": m.weighted_forecast(opportunities, stages=pipeline).records()[0]["weighted"],
        "bottleneck": funnel.conversion().bottleneck(),
        "leads": sum(1 for _ in company.leads()),
    }


def test_key_numbers_equal_the_library(executed: Any) -> None:
    out = text(executed)
    expected = _recomputed()
    match = re.search(r"Weighted forecast: ([\d,]+\.\d\d) CNY", out)
    assert match, out
    assert float(match.group(1).replace(",", "")) == pytest.approx(expected["weighted"], abs=0.005)
    b = expected["bottleneck"]
    label = {s.id: s.label_zh for s in templates.get("small_team").stages}  # people read labels
    assert (
        f"Bottleneck: {label[b['from_stage']]} → {label[b['to_stage']]}: "
        f"{b['progressed']} of {b['entered']}" in out
    )
    assert out.startswith(f"{expected['leads']} leads")
