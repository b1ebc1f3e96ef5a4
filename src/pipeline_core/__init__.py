"""pipeline_core: sales follow-up management as a library."""

from pipeline_core._version import __version__

__all__ = ["__version__"]
