"""``python -m pipeline_core``: the ``pipeline-core`` command line (see :mod:`pipeline_core.cli`)."""

from __future__ import annotations

import sys

from pipeline_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
