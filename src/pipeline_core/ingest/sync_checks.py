"""Checks and errors of :func:`pipeline_core.ingest.sync.sync` (split out of ``ingest.sync``).

:func:`check_config` refuses bad arguments before anything is read; :class:`Reject` carries a
row's problems from deep in the sync to the row loop, which reports them.
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

from pipeline_core.clock import require_aware
from pipeline_core.errors import ConfigError, Problem, ValidationError
from pipeline_core.records import Opportunity

__all__ = [
    "EXTERNAL_ID_PREFIX",
    "MOVED",
    "NEVER_OWNED",
    "Reject",
    "check_config",
    "from_validation",
    "no_cycle_collection",
    "plain_key",
]

EXTERNAL_ID_PREFIX: Final = "external_id:"
"""A record's external id is kept in ``custom[EXTERNAL_ID_PREFIX + column]``."""

MOVED: Final = frozenset({"stage_entered_at", "closed_at"})
"""Opportunity fields a stage move decides: never taken from a sheet for a stored deal."""
NEVER_OWNED: Final = frozenset({"id", "version"})
"""Fields that identify a record: a sheet never owns them."""


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (restored on the way out, also on
    an error; left alone when it was already off).

    A sync allocates millions of short-lived containers (mapped rows, records, table rows): the
    collector would walk the growing heap over and over (about 15 % of a large import's CPU).
    Reference counting still frees every row and record as soon as it is done with; only
    reference cycles (none on the sync's path) wait until the block ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Reject(Exception):
    """A row is rejected: its problems as (field, value, reason, code)."""

    def __init__(self, problems: list[tuple[str, Any, str, str]], id: str | None = None) -> None:
        super().__init__(problems)
        self.problems = problems
        self.id = id


def plain_key(value: Any) -> bool:
    """Whether a lookup by ``value`` could only miss in a store whose ids are all known: text
    the stores take as a key (a lookup by anything else raises, and must still be made)."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def from_validation(exc: ValidationError, id: str | None = None) -> Reject:
    """The :class:`Reject` of a record's validation problems (the record's ``id`` if known)."""
    return Reject(
        [
            (p.field, p.value, p.message if not p.missing else "required field is missing", p.code)
            for p in exc.problems
        ],
        id,
    )


def check_config(
    kind: str,
    cls: type[Any],
    owns: Collection[str] | None,
    external_id: str | None,
    by: str,
    at: datetime,
    batch_size: int,
) -> None:
    """Refuse a sync's bad arguments (:class:`~pipeline_core.errors.ConfigError` listing each;
    ``ValueError`` from :func:`~pipeline_core.clock.require_aware` for a naive ``at``)."""
    problems: list[Problem] = []
    names: frozenset[str] = cls.__pc_names__
    if owns is not None:
        if isinstance(owns, str):
            problems.append(Problem(("owns",), "a collection of field names", owns, "type"))
        else:
            for name in owns:
                if name not in names:
                    problems.append(
                        Problem(("owns",), f"not a field of {cls.__name__}", name, "unknown_field")
                    )
                elif name in NEVER_OWNED:
                    problems.append(
                        Problem(("owns",), "identifies the record; a sheet cannot own it", name,
                                "not_ownable")
                    )  # fmt: skip
                elif cls is Opportunity and name in MOVED:
                    problems.append(
                        Problem(("owns",), "set by stage moves (own 'stage' instead)", name,
                                "not_ownable")
                    )  # fmt: skip
    if external_id is not None:
        if "custom" not in names:
            problems.append(
                Problem(("external_id",), f"{cls.__name__} records have no custom fields to keep "
                        "an external id in: match them by id", external_id, "no_custom")
            )  # fmt: skip
        elif not isinstance(external_id, str) or not external_id.strip():
            problems.append(
                Problem(("external_id",), "the external-id column's name", external_id, "blank")
            )
        elif len(EXTERNAL_ID_PREFIX + external_id) > 100:
            problems.append(
                Problem(("external_id",), "at most 88 characters (custom field names are at most "
                        "100)", external_id, "too_long")
            )  # fmt: skip
    if not isinstance(by, str) or not by or len(by) > 128 or any(c.isspace() for c in by):
        problems.append(Problem(("by",), "a user id (1-128 non-space characters)", by, "bad_id"))
    if type(batch_size) is not int or batch_size < 1:
        problems.append(Problem(("batch_size",), "a positive integer", batch_size, "batch_size"))
    if problems:
        raise ConfigError(f"{kind} sync", problems)
    require_aware(at, "at")
