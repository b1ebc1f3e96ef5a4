"""Id generation, injectable and deterministic under a seed.

Ids are plain strings. Production code uses :class:`UuidIds` (random UUID4 hex); tests and the
sample generator use :class:`SeededIds` (reproducible for a seed) or :class:`SequentialIds`
(``"lead-000001"``, readable in assertions).
"""

from __future__ import annotations

import os
import random
import uuid
import weakref
from typing import Final, Protocol, runtime_checkable

__all__ = ["IdFactory", "SeededIds", "SequentialIds", "UuidIds"]


@runtime_checkable
class IdFactory(Protocol):
    """Anything that makes a new id string for a kind of record (``"lead"``, ``"event"``, ...)."""

    def new(self, kind: str) -> str:
        """A fresh id for a record of ``kind``; never repeats within one factory."""
        ...


class UuidIds:
    """Random UUID4 ids, ``"<kind>_<32 hex>"``: unique across processes and machines.

    Each id is a valid version-4 UUID (RFC 9562: 122 random bits from ``os.urandom``, version and
    variant bits set), the same as ``uuid.uuid4().hex``. The random bytes are read 256 ids at a
    time and cut into ids, which makes an id about ten times cheaper than one ``uuid.uuid4()``
    call (that matters on hot paths such as a million stage moves). Ids not yet handed out are
    discarded in a forked child process and never copied or pickled, so two processes or two
    copies of a factory never share them.
    """

    __slots__ = ("__weakref__", "_pool")

    def __init__(self) -> None:
        self._pool: list[str] = []
        _LIVE_POOLS.add(self)

    def new(self, kind: str) -> str:
        """A random id such as ``"lead_9f1c..."``."""
        pool = self._pool
        if not pool:
            pool.extend(_uuid4_hexes(_BATCH))
        return f"{kind}_{pool.pop()}"

    def _forget(self) -> None:
        self._pool.clear()

    def __reduce__(self) -> tuple[type[UuidIds], tuple[()]]:
        return (UuidIds, ())  # a copy starts with its own, fresh randomness

    def __repr__(self) -> str:
        return "UuidIds()"


_BATCH: Final = 256
# Byte 6 carries the version (0100xxxx), byte 8 the RFC 9562 variant (10xxxxxx).
_VERSION_4: Final = bytes((b & 0x0F) | 0x40 for b in range(256))
_VARIANT_10: Final = bytes((b & 0x3F) | 0x80 for b in range(256))
_LIVE_POOLS: Final[weakref.WeakSet[UuidIds]] = weakref.WeakSet()


def _uuid4_hexes(count: int) -> list[str]:
    """``count`` random version-4 UUIDs as 32-digit lowercase hex strings."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT_10)
    h = raw.hex()
    return [h[i : i + 32] for i in range(0, 32 * count, 32)]


def _after_fork_in_child() -> None:
    for factory in list(_LIVE_POOLS):
        factory._forget()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
