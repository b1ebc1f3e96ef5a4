"""The benchmark harness: median timings, peak memory, and the one markdown table.

Each ``benchmarks/bench_*.py`` module defines ``run(scale: float) -> list[Row]``. ``scale`` is 1.0 for
the sizes the issues ask for; ``python -m benchmarks --scale 0.1`` runs everything ten times smaller
(for a quick look). ``ratio`` is ours / baseline time (lower is better for us).
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    ours: float | None  # seconds (median)
    baseline: float | None = None  # seconds (median)
    baseline_name: str = ""
    note: str = ""
    unit: str = "s"

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline


def median_time(fn: Callable[[], Any], *, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn()`` once under tracemalloc; return its result and the peak of Python allocations."""
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def fmt_seconds(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "—"
    if unit != "s":
        return f"{value:,.1f} {unit}"
    if value < 1e-3:
        return f"{value * 1e6:,.1f} µs"
    if value < 1:
        return f"{value * 1e3:,.1f} ms"
    return f"{value:,.2f} s"


def table(rows: list[Row]) -> str:
    """The markdown table ``| benchmark | ours | baseline | ratio |`` (plus a note column)."""
    out = [
        "| benchmark | ours | baseline | ratio | note |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        base = fmt_seconds(r.baseline, r.unit)
        if r.baseline_name and r.baseline is not None:
            base = f"{base} ({r.baseline_name})"
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}"
        out.append(
            f"| {r.benchmark} | {fmt_seconds(r.ours, r.unit)} | {base} | {ratio} | {r.note} |"
        )
    return "\n".join(out)
