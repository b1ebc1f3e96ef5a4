"""Re-grading: score a changed lead against its previous score; a moved grade is an event.

>>> from datetime import datetime, timezone
>>> from pipeline_core.scoring import BANT
>>> model = BANT.default()
>>> at = datetime(2025, 3, 1, tzinfo=timezone.utc)
>>> first, _ = regrade({"id": "L1", "need": "weak"}, None, model, at=at)
>>> second, event = regrade({"id": "L1", "need": "strong", "budget": 600_000,
...     "authority": "decision_maker", "timeline": "within_1_month", "intent": "high"},
...     first, model, at=at)
>>> (event.previous_grade, event.new_grade, event.upgraded)
('C', 'A', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from pipeline_core.clock import require_aware
from pipeline_core.scoring.models import Scorer
from pipeline_core.scoring.results import Score

__all__ = ["GradeChanged", "regrade"]


@attrs.frozen(kw_only=True)
class GradeChanged:
    """A lead's grade moved when it was scored again (past tense: it has happened).

    Both scores are attached, so a reader sees which criteria changed. ``upgraded`` is true when
    the new grade has a better (lower) priority number than the previous one.
    """

    lead_id: str
    previous_grade: str
    new_grade: str
    previous: Score
    new: Score
    at: datetime = attrs.field(validator=lambda _i, _a, v: require_aware(v, "at"))

    @property
    def upgraded(self) -> bool:
        """True if the lead moved to a better grade."""
        return self.new.grade.priority < self.previous.grade.priority

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for a journal entry)."""
        return {
            "kind": "grade_changed",
            "lead_id": self.lead_id,
            "previous_grade": self.previous_grade,
            "new_grade": self.new_grade,
            "previous": self.previous.to_dict(),
            "new": self.new.to_dict(),
            "at": self.at.isoformat(),
        }


def _lead_id(lead: Any) -> str:
    if isinstance(lead, Mapping):
        return str(lead.get("id", ""))
    return str(getattr(lead, "id", ""))


def regrade(
    lead: Any, previous: Score | None, model: Scorer, *, at: datetime
) -> tuple[Score, GradeChanged | None]:
    """Score ``lead`` again; return the new score and a :class:`GradeChanged` if the grade moved.

    ``previous`` is the lead's last score (``None`` for a first grading, which is no change).
    ``at`` is when the re-grading happens, the instant of the event (timezone-aware; the
    score is evaluated as of then, which decaying criteria use).
    """
    require_aware(at, "at")
    new = model.score(lead, as_of=at)
    if previous is None or previous.grade.name == new.grade.name:
        return new, None
    return new, GradeChanged(
        lead_id=_lead_id(lead),
        previous_grade=previous.grade.name,
        new_grade=new.grade.name,
        previous=previous,
        new=new,
        at=at,
    )
