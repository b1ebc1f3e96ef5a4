"""The second review of the SLA work: each test is one remaining fault, worked out by hand.

Expected instants come from ``docs/sla.md`` and ``../shared/domain.md`` (the arithmetic is in the
comments); the engine (``SlaEngine.evaluate``), the column-wise batch (``evaluate_batch``) and an
``Agenda`` stepped through the period must all give them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pipeline_core.sla import Agenda, SlaEngine, SlaState, default_calendar, default_policy

SH = ZoneInfo("Asia/Shanghai")
CN = default_calendar(country="CN")


def sh(m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """An instant on the Shanghai wall clock in 2025."""
    return datetime(2025, m, d, h, mi, tzinfo=SH)


def _paths(engine: SlaEngine, state: SlaState, now: datetime, rule: str) -> list[datetime]:
    """The instants (Shanghai) of the items of ``rule`` due by ``now``, after checking that the
    engine, the batch and an agenda advanced day by day agree on every item."""
    one = sorted(i.id for i in engine.evaluate(state, now))
    batch = sorted(i.id for i in engine.evaluate_batch([state], now))
    agenda = Agenda(engine)
    agenda.put(state)
    seen = []
    t = state.created_at
    while t < now:
        seen += agenda.advance(t)
        t += timedelta(days=1)
    seen += agenda.advance(now)
    assert one == batch == sorted(i.id for i in seen)
    return sorted(i.at.astimezone(SH) for i in engine.evaluate(state, now) if i.rule == rule)


# ------------------------------------------------------------------ 1. every recurrence reported


def _customer(**changes: object) -> SlaState:
    won = sh(1, 31, 10)
    state = SlaState(
        subject_id="acc1", kind="account", created_at=won, owner_id="u1", won_at=won
    )
    return state.evolve(**changes) if changes else state


def test_a_survey_reminds_at_every_quarter_not_followed_by_a_survey() -> None:
    engine = SlaEngine(default_policy(CN))
    # quarterly from 31 Jan 10:00, clamped to the month end (docs/sla.md "Recurrences clamp"):
    # 31 Jan + 3 months = 30 Apr 10:00, + 6 months = 31 Jul 10:00; checked on 15 Aug neither
    # was followed by a survey, so both are due, on every path
    assert _paths(engine, _customer(), sh(8, 15), "after_sale.survey") == [
        sh(4, 30, 10),
        sh(7, 31, 10),
    ]
    # a survey on 5 May follows the April occurrence: only July's is still due
    done = _customer(action_times={"survey": (sh(5, 5, 11),)})
    assert _paths(engine, done, sh(8, 15), "after_sale.survey") == [sh(7, 31, 10)]


def test_a_nurture_cadence_reminds_at_every_30_days_since_the_last_contact() -> None:
    engine = SlaEngine(default_policy(CN))
    graded = sh(1, 1, 9)
    lead = SlaState(
        subject_id="l1", kind="lead", created_at=graded, owner_id="u1", grade="C",
        grade_at=graded,
    )  # fmt: skip
    # every 30 days from 1 Jan 09:00: 31 Jan 09:00, 2 Mar 09:00 (Jan 31 + 30 = Mar 2), 1 Apr
    # 09:00 (Mar 2 + 30); on 5 Apr none was followed by a contact
    assert _paths(engine, lead, sh(4, 5), "grade.C.nurture") == [
        sh(1, 31, 9),
        sh(3, 2, 9),
        sh(4, 1, 9),
    ]
    # a contact on 5 Feb follows the January occurrence: March and April remain
    contacted = lead.evolve(last_contact_at=sh(2, 5, 15), first_touch_at=sh(2, 5, 15))
    assert _paths(engine, contacted, sh(4, 5), "grade.C.nurture") == [sh(3, 2, 9), sh(4, 1, 9)]
    # a contact exactly at an occurrence does not follow it (a contact target is strict)
    at_occurrence = lead.evolve(last_contact_at=sh(3, 2, 9), first_touch_at=sh(3, 2, 9))
    assert _paths(engine, at_occurrence, sh(4, 5), "grade.C.nurture") == [
        sh(3, 2, 9),
        sh(4, 1, 9),
    ]


def test_later_evaluations_contain_the_earlier_cadence_reminders() -> None:
    engine = SlaEngine(default_policy(CN))
    state = _customer()
    may = {i.id for i in engine.evaluate(state, sh(5, 15))}
    august = {i.id for i in engine.evaluate(state, sh(8, 15))}
    assert may and may < august
