"""A database file the command creates is removed again when the command fails.

``pipeline-core import ... --store sqlite:///new.db`` must not leave an empty (or half-written)
database behind when the import is refused: :func:`new_sqlite_file` notes which of the file and
its companions (``-wal``, ``-shm``, ``-journal``) did not exist before, and removes those on an
exception.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = ["new_sqlite_file", "sqlite_path"]

_PREFIX: Final = "sqlite:///"
_COMPANIONS: Final = ("", "-wal", "-shm", "-journal")


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` store URL (``sqlite:///a.db`` → ``a.db``,
    ``sqlite:////tmp/a.db`` → ``/tmp/a.db``); ``None`` for an in-memory or non-SQLite store."""
    if not url.startswith(_PREFIX) or url == _PREFIX + ":memory:":
        return None
    rest = url[len(_PREFIX) :].split("?", 1)[0]
    return Path(rest) if rest else None


@contextlib.contextmanager
def new_sqlite_file(url: str) -> Iterator[bool]:
    """Run the body; if it raises, remove the store's database file and its companions when they
    did not exist before it. Yields whether the database file is new (``False`` for stores that are
    not SQLite files). The store must be closed inside the body (a failing body closes it in its
    own ``finally``)."""
    path = sqlite_path(url)
    if path is None:
        yield False
        return
    fresh = [Path(f"{path}{suffix}") for suffix in _COMPANIONS]
    fresh = [p for p in fresh if not p.exists()]
    try:
        yield path in fresh
    except BaseException:
        for p in fresh:
            with contextlib.suppress(OSError):
                os.unlink(p)
        raise
