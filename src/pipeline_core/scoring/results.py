"""Scoring results: a :class:`Score` with each criterion's :class:`Contribution`, and its explanation.

A :class:`Score` is what :meth:`~pipeline_core.scoring.models.Scorer.score` gives for one lead:
the exact value (a ``Decimal`` with four places, 0-100 by default), the grade, what each criterion
added and why, the overrides that changed the total and, for a weighted sum, the parts' scores.
:meth:`Score.explain` writes it as a short text table; :meth:`Score.to_dict` as plain data.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from pipeline_core.scoring._units import to_units
from pipeline_core.scoring.grades import Grade

__all__ = ["Contribution", "Score"]


@attrs.frozen
class Contribution:
    """What one criterion added: the value read, the rule that matched, the points (× weight)."""

    criterion: str
    field: str
    value: Any
    points: Decimal
    rule: str
    missing: bool = False


@attrs.frozen
class Score:
    """A scored lead: value (0-100), grade, each criterion's contribution, model name and version.

    ``adjustments`` lists the overrides that changed the total (e.g. "budget missing → at most B").
    """

    model: str
    version: str
    value: Decimal
    grade: Grade
    contributions: tuple[Contribution, ...]
    adjustments: tuple[str, ...] = ()
    raw: Decimal | None = None
    parts: tuple[Score, ...] = ()

    @property
    def units(self) -> int:
        """The value in exact units of 0.0001 point."""
        return to_units(self.value)

    def explain(self) -> str:
        """A short human-readable table of why the lead got this score."""
        rows = [("criterion", "value", "rule", "points")]
        for c in self.contributions:
            shown = "—" if c.missing else _show(c.value)
            rows.append((c.criterion, shown, c.rule, _signed(c.points)))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [f"{self.model} v{self.version}: {_num(self.value)} → grade {self.grade.name}"]
        for k, r in enumerate(rows):
            lines.append(
                "  "
                + "  ".join(
                    r[i].rjust(widths[i]) if i == 3 else r[i].ljust(widths[i]) for i in range(4)
                ).rstrip()
            )
            if k == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        if self.raw is not None and self.raw != self.value:
            lines.append(f"  sum {_num(self.raw)} limited to {_num(self.value)}")
        for a in self.adjustments:
            lines.append(f"  override: {a}")
        for part in self.parts:
            lines.extend("  | " + line for line in part.explain().splitlines())
        lines.append(f"  grade {self.grade.name}: {self.grade.describe()}; {self.grade.action}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "model": self.model,
            "version": self.version,
            "value": str(self.value),
            "grade": self.grade.name,
            "contributions": [
                {
                    "criterion": c.criterion,
                    "field": c.field,
                    "value": _show(c.value) if c.value is not None else None,
                    "points": str(c.points),
                    "rule": c.rule,
                    "missing": c.missing,
                }
                for c in self.contributions
            ],
            "adjustments": list(self.adjustments),
        }


def _num(d: Decimal) -> str:
    return format(d.normalize(), "f") if d == d.to_integral_value() else format(d, "f")


def _signed(d: Decimal) -> str:
    text = _num(d)
    return text if text.startswith("-") else f"+{text}"


def _show(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, tuple | list | frozenset | set):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)
