"""Id generation, injectable and deterministic under a seed.

Ids are plain strings. Production code uses :class:`UuidIds` (random UUID4 hex); tests and the
sample generator use :class:`SeededIds` (reproducible for a seed) or :class:`SequentialIds`
(``"lead-000001"``, readable in assertions).
"""

from __future__ import annotations

import random
import uuid
from typing import Protocol, runtime_checkable

__all__ = ["IdFactory", "SeededIds", "SequentialIds", "UuidIds"]


@runtime_checkable
class IdFactory(Protocol):
    """Anything that makes a new id string for a kind of record (``"lead"``, ``"event"``, ...)."""

    def new(self, kind: str) -> str:
        """A fresh id for a record of ``kind``; never repeats within one factory."""
        ...


class UuidIds:
    """Random UUID4 ids, ``"<kind>_<32 hex>"``: unique across processes and machines."""

    __slots__ = ()

    def new(self, kind: str) -> str:
        """A random id such as ``"lead_9f1c..."``."""
        return f"{kind}_{uuid.uuid4().hex}"

    def __repr__(self) -> str:
        return "UuidIds()"


class SeededIds:
    """UUID-shaped ids drawn from a seeded generator: the same seed gives the same sequence."""

    __slots__ = ("_rng", "_seed")

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rng = random.Random(seed)

    def new(self, kind: str) -> str:
        """The next id of the seeded sequence, ``"<kind>_<32 hex>"``."""
        return f"{kind}_{uuid.UUID(int=self._rng.getrandbits(128), version=4).hex}"

    def __repr__(self) -> str:
        return f"SeededIds(seed={self._seed})"


class SequentialIds:
    """Readable counting ids per kind: ``"lead-000001"``, ``"lead-000002"``, ``"event-000001"``."""

    __slots__ = ("_counters", "_width")

    def __init__(self, width: int = 6) -> None:
        self._width = width
        self._counters: dict[str, int] = {}

    def new(self, kind: str) -> str:
        """The next number for ``kind``, zero-padded to ``width`` digits."""
        n = self._counters.get(kind, 0) + 1
        self._counters[kind] = n
        return f"{kind}-{n:0{self._width}d}"

    def __repr__(self) -> str:
        return f"SequentialIds(width={self._width})"
