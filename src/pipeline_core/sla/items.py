"""What the SLA engine returns: reminders, breaches, escalations and risk flags.

Items are immutable values. Instants are kept as integer microseconds since the Unix epoch (cheap
to create by the million) and read as aware UTC datetimes through the ``*_at`` properties. Each item
has a stable :attr:`~Item.id` made of (rule id, subject id, clock start, step), so evaluating the
same state at the same instant twice gives the same items, and a host can de-duplicate by id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import attrs

from pipeline_core._fastbuild import builder
from pipeline_core.sla.instants import from_us

__all__ = ["Breach", "Escalation", "Item", "Reminder", "RiskFlag", "route_up"]


def route_up(manager_id: str | None, fallback: str | None) -> tuple[str, str | None]:
    """Who receives an item addressed up the chain: ``("manager", manager_id)`` when the owner
    has a manager, else ``("fallback", fallback)`` (the policy's ``fallback_recipient``), else
    ``("manager", None)``: nobody, and the item is :attr:`Item.unrouted`. One function for the
    engine, the column-wise batch and the risk flags."""
    if manager_id is not None:
        return "manager", manager_id
    if fallback is not None:
        return "fallback", fallback
    return "manager", None


@attrs.frozen(slots=True)
class Item:
    """Base of every item: which rule fired for which subject, when, and for whom.

    ``step`` names the link of the escalation chain (``"remind-3600"``, ``"breach+0"``, ...);
    ``start_us`` is the clock start, ``due_us`` the deadline (``None`` for risk flags), ``at_us``
    the instant the item became due. ``recipient`` is ``"owner"``, ``"manager"`` or
    ``"fallback"`` (the policy's ``fallback_recipient``, when the owner has no manager) and
    ``recipient_id`` that person's id; ``None`` when nobody can receive it (:attr:`unrouted`).
    """

    rule: str
    subject_id: str
    subject_kind: str
    step: str
    start_us: int
    at_us: int
    due_us: int | None
    recipient: str
    recipient_id: str | None

    @property
    def kind(self) -> str:
        """``"reminder"``, ``"breach"``, ``"escalation"`` or ``"risk"``."""
        return "item"

    @property
    def unrouted(self) -> bool:
        """True when nobody can receive the item (no owner; or no manager and no fallback
        recipient): the host must route it itself. Evaluation never stops for it."""
        return self.recipient_id is None

    @property
    def id(self) -> str:
        """Stable id: ``"<rule>|<subject>|<clock start µs>|<step>"``."""
        return f"{self.rule}|{self.subject_id}|{self.start_us}|{self.step}"

    @property
    def at(self) -> datetime:
        """When the item became due (UTC)."""
        return from_us(self.at_us)

    @property
    def started_at(self) -> datetime:
        """When the clock started (UTC)."""
        return from_us(self.start_us)

    @property
    def due_at(self) -> datetime | None:
        """The deadline (UTC), if any."""
        return None if self.due_us is None else from_us(self.due_us)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-compatible data (ISO 8601 instants)."""
        due = self.due_at
        out: dict[str, object] = {
            "id": self.id,
            "kind": self.kind,
            "rule": self.rule,
            "subject_id": self.subject_id,
            "subject_kind": self.subject_kind,
            "step": self.step,
            "started_at": self.started_at.isoformat(),
            "at": self.at.isoformat(),
            "due_at": None if due is None else due.isoformat(),
            "recipient": self.recipient,
            "recipient_id": self.recipient_id,
            "unrouted": self.recipient_id is None,
        }
        return out


@attrs.frozen(slots=True)
class Reminder(Item):
    """Something is due soon (or, for a cadence, now): remind the recipient."""

    @property
    def kind(self) -> str:
        """``"reminder"``."""
        return "reminder"


@attrs.frozen(slots=True)
class Breach(Item):
    """A deadline passed without its target: the SLA is breached."""

    @property
    def kind(self) -> str:
        """``"breach"``."""
        return "breach"


@attrs.frozen(slots=True)
class Escalation(Item):
    """Escalate to the manager (``reassign=True``: the rule asks for the record to be reassigned)."""

    reassign: bool = False

    @property
    def kind(self) -> str:
        """``"escalation"``."""
        return "escalation"


@attrs.frozen(slots=True)
class RiskFlag(Item):
    """A risk signal reached ``level`` (``"low"``, ``"medium"``, ``"high"``) with ``value``."""

    signal: str = ""
    level: str = "low"
    value: float = 0.0

    @property
    def kind(self) -> str:
        """``"risk"``."""
        return "risk"

    def to_dict(self) -> dict[str, object]:
        """Plain data, with signal, level and value."""
        out = super().to_dict()
        out.update(signal=self.signal, level=self.level, value=self.value)
        return out


def _fast(cls: type[Item]) -> Callable[..., Any]:
    names = [a.name for a in attrs.fields(cls)]
    return builder(cls, names, [(n, n) for n in names], name=f"new_{cls.__name__.lower()}")


FAST: Final[dict[type[Item], Callable[..., Any]]] = {
    cls: _fast(cls) for cls in (Reminder, Breach, Escalation, RiskFlag)
}
"""Constructors of the engine's hot path (internal): the same positional arguments as the classes,
no per-field ``object.__setattr__`` (see :mod:`pipeline_core._fastbuild`)."""
