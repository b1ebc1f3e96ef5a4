"""Injected time. The only module of :mod:`pipeline_core` that reads the system clock.

Everything else takes a :class:`Clock` (or an explicit ``at``/``now`` argument), so tests and
back-tests control time completely.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from pipeline_core.errors import Problem, ValidationError

__all__ = ["Clock", "ManualClock", "SystemClock", "require_aware"]


def require_aware(value: datetime, field: str = "at") -> datetime:
    """Return ``value`` if it is a timezone-aware ``datetime``; raise :class:`ValidationError` if not."""
    if not isinstance(value, datetime):
        raise ValidationError(
            field, [Problem((field,), "expected a timezone-aware datetime", value, "datetime_type")]
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            field,
            [
                Problem(
                    (field,),
                    "a timezone is needed: got a naive datetime; pass an aware one such as "
                    "datetime(2025, 1, 6, 9, 0, tzinfo=ZoneInfo('Asia/Shanghai'))",
                    value,
                    "timezone_aware",
                )
            ],
        )
    return value


@runtime_checkable
class Clock(Protocol):
    """Anything with a ``now()`` that returns a timezone-aware ``datetime``."""

    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    """The real clock, in UTC (convert with ``astimezone`` for display)."""

    __slots__ = ()

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that only moves when told to: for tests, back-tests and replays.

    >>> from datetime import datetime, timedelta, UTC
    >>> clock = ManualClock(datetime(2025, 1, 6, 9, tzinfo=UTC))
    >>> clock.advance(timedelta(hours=3)).isoformat()
    '2025-01-06T12:00:00+00:00'
    """

    __slots__ = ("_now",)

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "start")

    def now(self) -> datetime:
        """The instant the clock was last set to."""
        return self._now

    def set(self, instant: datetime) -> datetime:
        """Jump to ``instant`` (may not go backwards) and return it."""
        require_aware(instant, "instant")
        if instant < self._now:
            raise ValidationError(
                "instant",
                [
                    Problem(
                        ("instant",),
                        f"a clock cannot go back from {self._now.isoformat()}",
                        instant,
                        "clock_backwards",
                    )
                ],
            )
        self._now = instant
        return instant

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (not negative) and return the new instant."""
        if delta < timedelta(0):
            raise ValidationError(
                "delta", [Problem(("delta",), "must not be negative", delta, "clock_backwards")]
            )
        self._now = self._now + delta
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()!r})"
