"""One adapter-neutral error tree for everything :mod:`pipeline_core` raises.

Every error derives from :class:`PipelineCoreError`. Errors about bad input also derive from
:class:`ValueError`, so code that already catches ``ValueError`` keeps working. Storage adapters
re-raise driver errors as these classes (``raise ConcurrencyError(...) from exc``), so callers never
need to import a database driver to handle a conflict.
"""

from __future__ import annotations

import itertools
import reprlib
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

import attrs

__all__ = [
    "MAX_PROBLEMS",
    "ConcurrencyError",
    "ConfigError",
    "CurrencyMismatchError",
    "DeadlockError",
    "DuplicateError",
    "LockTimeoutError",
    "NotFoundError",
    "PermissionDeniedError",
    "PipelineCoreError",
    "Problem",
    "RecordTypeError",
    "SerializationError",
    "StorageError",
    "TransactionAbortedError",
    "TransitionError",
    "ValidationError",
]

_MAX_VALUE_REPR = 200
"""Longest shown value in an error message (hostile input may be megabytes long)."""

MAX_PROBLEMS = 1_000
"""Most problems an error keeps and lists; ``total`` still counts every one."""

_REPR = reprlib.Repr()
_REPR.maxlevel = 4
_REPR.maxstring = _REPR.maxother = _MAX_VALUE_REPR
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 20


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to at most 200 characters, safe on deeply nested or huge values."""
    if isinstance(value, timedelta | datetime | date | Enum):
        return _plain_value(value)  # in the user's terms, not a Python repr
    if isinstance(value, str):
        text = repr(value[: _MAX_VALUE_REPR + 1])
        size = len(value)
    elif isinstance(value, dict | list | tuple | set | frozenset):
        text = _REPR.repr(value)  # bounded depth and width: never a RecursionError
        size = len(text)
    else:
        try:
            text = repr(value)
        except Exception:
            text = f"<{type(value).__name__} object>"
        size = len(text)
    if len(text) > _MAX_VALUE_REPR:
        return f"{text[: _MAX_VALUE_REPR - 20]}...<{size} chars>"
    return text


def _plain_value(value: timedelta | datetime | date | Enum) -> str:
    """A duration as ``-3 days 4:00:00``-style text, an instant or date in ISO 8601, an enum member
    as its value."""
    if isinstance(value, Enum):
        return repr(value.value)
    if isinstance(value, timedelta):
        sign, rest = ("-" if value < timedelta(0) else ""), abs(value)
        parts = [
            f"{n:g} {unit}{'s' if n != 1 else ''}"
            for n, unit in (
                (rest.days, "day"),
                (rest.seconds // 3600, "hour"),
                (rest.seconds // 60 % 60, "minute"),
                (rest.seconds % 60 + rest.microseconds / 1e6, "second"),
            )
            if n
        ]
        return sign + (" ".join(parts) or "0 seconds")
    return value.isoformat()


_MISSING = object()


@attrs.frozen
class Problem:
    """One thing wrong with some input: where, what was given, and what was expected.

    ``path`` is the location inside the input, e.g. ``("next_action", "due_at")`` or
    ``("stages", 3, "id")``; ``value`` is the offending value (``None`` when a field is missing,
    see ``missing``); ``message`` says what was expected; ``code`` is a stable machine-readable kind
    such as ``"missing"``, ``"timezone_aware"`` or ``"unknown_stage"``.
    """

    path: tuple[str | int, ...]
    message: str
    value: Any = None
    code: str = "invalid"
    missing: bool = False

    @property
    def field(self) -> str:
        """The path as a dotted string, e.g. ``"next_action.due_at"`` or ``"stages[3].id"``; a
        step that is neither text nor an index (a ``bytes`` key of bad input) is shown as its
        ``repr``, e.g. ``"b'hours'"``."""
        out = ""
        for part in self.path:
            if isinstance(part, int) and not isinstance(part, bool):
                out += f"[{part}]"
            else:
                text = part if isinstance(part, str) else repr(part)
                out += f".{text}" if out else text
        return out or "<root>"

    def __str__(self) -> str:
        if self.missing or self.value is None:
            return f"{self.field}: {self.message}"
        return f"{self.field}: {self.message} (got {short_repr(self.value)})"


class PipelineCoreError(Exception):
    """Base class of every error raised by :mod:`pipeline_core`."""


class _ProblemsError(PipelineCoreError):
    """An error that carries the :class:`Problem` s found, not just the first.

    ``problems`` keeps the first :data:`MAX_PROBLEMS` (1,000); ``total`` counts every one, so the
    error stays small however bad the input (``total`` defaults to the number given)."""

    def __init__(self, what: str, problems: Iterable[Problem], *, total: int | None = None) -> None:
        self.what = what
        rest = iter(problems)
        kept = list(itertools.islice(rest, MAX_PROBLEMS + 1))
        self.problems: tuple[Problem, ...] = tuple(kept[:MAX_PROBLEMS])
        if total is None:  # count the rest without keeping it
            total = len(kept) + (sum(1 for _ in rest) if len(kept) > MAX_PROBLEMS else 0)
        self.total: int = max(total, len(self.problems))
        count = self.total
        noun = "problem" if count == 1 else "problems"
        head = f"{count} {noun} in {what}:"
        if count > len(self.problems):
            head = f"{count} {noun} in {what} (the first {len(self.problems)} listed):"
        lines = [head] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))

    @property
    def fields(self) -> tuple[str, ...]:
        """The dotted paths of every problem, in order."""
        return tuple(p.field for p in self.problems)


class ValidationError(_ProblemsError, ValueError):
    """Input data does not describe a valid record; ``problems`` lists every bad field."""


class ConfigError(_ProblemsError, ValueError):
    """A definition (pipeline, scoring model, SLA policy, ...) is invalid; lists every problem."""


class CurrencyMismatchError(ValidationError):
    """Amounts in different currencies met where one currency is needed (a band, a guard, a sum)
    and no exchange rate converts them; ``currencies`` lists every currency found. The message
    says how to pass rates (see :mod:`pipeline_core.money`). Amounts are never read as another
    currency."""

    def __init__(
        self, what: str, problems: Iterable[Problem], *, currencies: Sequence[str] = ()
    ) -> None:
        self.currencies: tuple[str, ...] = tuple(currencies)
        super().__init__(what, problems)


class TransitionError(PipelineCoreError, ValueError):
    """A stage move is not allowed. Names the from and to stages and every unmet condition."""

    def __init__(
        self,
        message: str,
        *,
        from_stage: str | None = None,
        to_stage: str | None = None,
        unmet: Sequence[str] = (),
    ) -> None:
        self.from_stage = from_stage
        self.to_stage = to_stage
        self.unmet: tuple[str, ...] = tuple(unmet)
        super().__init__(message)


class NotFoundError(PipelineCoreError, KeyError):
    """A record, template or name that was asked for does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class ConcurrencyError(PipelineCoreError):
    """A write lost a race with another writer; nothing of it was written. Retryable: reload what
    you read and try again (``retryable`` is ``True`` on this class and every subclass).

    Raised as is for a save from a stale version (``kind``, ``key``, ``expected`` and ``actual``
    versions set); the subclasses :class:`DeadlockError`, :class:`SerializationError` and
    :class:`LockTimeoutError` name a conflict the database reported (``kind`` and ``key`` are
    ``None`` there). Inside a unit of work, retry the whole unit: the database has rolled back
    what it had done."""

    retryable: bool = True

    def __init__(
        self, kind: str, key: object, *, expected: int | None = None, actual: int | None = None
    ) -> None:
        self.kind: str | None = kind
        self.key = key
        self.expected = expected
        self.actual = actual
        detail = ""
        if expected is not None or actual is not None:
            detail = f" (saved from version {expected}, stored version is {actual})"
        super().__init__(f"{kind} {key!r} was changed concurrently{detail}; reload and retry")


class _DatabaseConflict(ConcurrencyError):
    """A conflict the database itself reported; ``sqlstate`` is its code when it has one."""

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        self.kind = None
        self.key = None
        self.expected = None
        self.actual = None
        self.sqlstate = sqlstate
        PipelineCoreError.__init__(self, message)


class DeadlockError(_DatabaseConflict):
    """The database broke a deadlock by aborting this transaction (PostgreSQL SQLSTATE
    ``40P01``). Retryable: run the unit of work again."""


class SerializationError(_DatabaseConflict):
    """The database could not serialise this transaction with a concurrent one (PostgreSQL
    SQLSTATE ``40001``). Retryable: run the unit of work again."""


class LockTimeoutError(_DatabaseConflict):
    """Another writer held a lock longer than the store's timeout (SQLite ``SQLITE_BUSY`` /
    ``SQLITE_LOCKED``, PostgreSQL SQLSTATE ``55P03``). Retryable: try again later."""


class DuplicateError(PipelineCoreError, ValueError):
    """A record with the same identity already exists."""


class RecordTypeError(PipelineCoreError, TypeError):
    """A value of the wrong kind where a record or a store is expected (an activity given to the
    leads, a list given to a frame reader): a programming slip, still one of the library's errors
    and still a ``TypeError`` for callers that catch that."""


class PermissionDeniedError(PipelineCoreError, PermissionError):
    """The acting user may not read or change this record."""


class StorageError(PipelineCoreError):
    """The storage backend failed (connection, disk, constraint); the driver error is the cause."""


class TransactionAbortedError(StorageError):
    """The database abandoned the transaction of a unit of work (after a full disk, say): nothing
    of the unit was stored and it cannot go on. Raised by every later write in the unit and when
    the unit ends; the error that aborted it is the ``__cause__``. Leave the unit of work and start
    again."""
