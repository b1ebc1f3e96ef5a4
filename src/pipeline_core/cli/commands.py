"""The working commands, registered in the order ``--help`` lists them.

``score``, ``sla``, ``funnel``, ``import``, ``export``, ``mapping``, ``validate``, ``diagram``, ``check``: each
lives in its own module of :mod:`pipeline_core.cli` and is a thin wrapper over the library's public
API; ``--json`` prints the same result as plain data.
"""

from __future__ import annotations

import argparse
from typing import Any

from pipeline_core._deprecation import moved
from pipeline_core.cli import check, definitions, files, funnel, mapping, score, sla

__all__ = ["add_parsers"]


def add_parsers(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Register every working command on the sub-parser action ``sub``."""
    score.add_parser(sub, formatter)
    sla.add_parser(sub, formatter)
    funnel.add_parser(sub, formatter)
    files.add_parsers(sub, formatter)
    mapping.add_parser(sub, formatter)
    definitions.add_parsers(sub, formatter)
    check.add_parser(sub, formatter)


# Names that moved to the command modules, kept working for one release (not in ``__all__``).
__getattr__ = moved(
    __name__,
    {
        "load_leads": "pipeline_core.cli.score:load_leads",
        "score_leads": "pipeline_core.cli.score:score_leads",
        "infer_pipeline": "pipeline_core.cli._common:infer_pipeline",
        "EXIT_FOUND": "pipeline_core.cli.check:EXIT_FOUND",
    },
)
