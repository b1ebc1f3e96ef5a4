"""Run every ``benchmarks/bench_*.py`` and print one markdown table.

python -m benchmarks                 # the sizes the issues ask for
python -m benchmarks --scale 0.1     # ten times smaller, for a quick look
python -m benchmarks --only stages   # modules whose name contains "stages"
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import benchmarks
from benchmarks._harness import Row, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    for name in names:
        if args.only and args.only not in name:
            continue
        start = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        rows.extend(module.run(args.scale))
        print(f"  done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
