"""Hypothesis strategies for every record type, for property tests here and in user code.

>>> from hypothesis import given
>>> from pipeline_core.testing import strategies as pcst
>>> @given(pcst.leads())
... def test_round_trip(lead):
...     assert type(lead).from_dict(lead.to_dict()) == lead
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from pipeline_core._currencies import MINOR_UNITS
from pipeline_core._deprecation import moved
from pipeline_core.records import (
    Account,
    Activity,
    ActivityKind,
    Authority,
    Contact,
    Intent,
    JournalEntry,
    Lead,
    LeadStatus,
    Money,
    NeedLevel,
    NextStep,
    Opportunity,
    Outcome,
    Role,
    SlaOutcome,
    SourceChannel,
    StageEvent,
    Team,
    Timeline,
    User,
)

__all__ = [
    "accounts",
    "activities",
    "aware_datetimes",
    "contacts",
    "display_names",
    "ids",
    "journal_entries",
    "leads",
    "money",
    "next_steps",
    "opportunities",
    "records",
    "sla_outcomes",
    "stage_events",
    "teams",
    "users",
]

# ``names`` was also ``pipeline_core.stages.templates.names`` (the template names).
__getattr__ = moved(__name__, {"names": "pipeline_core.testing.strategies:display_names"})

# Record text never holds NUL (PostgreSQL cannot store it) nor lone surrogates.
_TEXT_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")

_ZONES = ("Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata")
# hypothesis takes naive bounds and attaches the zones itself.
_START = datetime(2000, 1, 1)  # noqa: DTZ001
_END = datetime(2100, 1, 1)  # noqa: DTZ001
_LATEST = datetime(2090, 1, 1)  # noqa: DTZ001


def aware_datetimes(
    min_value: datetime = _START, max_value: datetime = _END
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes in IANA zones (DST included) and fixed offsets."""
    zones = st.sampled_from(_ZONES).map(ZoneInfo) | st.integers(-12 * 60, 14 * 60).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )
    return st.datetimes(min_value=min_value, max_value=max_value, timezones=zones)


def ids() -> st.SearchStrategy[str]:
    """Record ids: 1-40 characters without white space (any script)."""
    return st.text(
        st.characters(exclude_categories=["Cs", "Zs", "Zl", "Zp", "Cc", "Cf"]),
        min_size=1,
        max_size=40,
    ).filter(lambda s: not any(c.isspace() for c in s))


def display_names() -> st.SearchStrategy[str]:
    """Names of people, companies and things in any script, e.g. 北京某某科技有限公司 or O'Brien & Sons."""
    return st.text(_TEXT_CHARS, min_size=1, max_size=60) | st.just("北京某某科技有限公司")


def _text(max_size: int = 200) -> st.SearchStrategy[str]:
    return st.text(_TEXT_CHARS, max_size=max_size)


def money(currency: str | None = None) -> st.SearchStrategy[Money]:
    """Valid money: a non-negative Decimal with no more places than its currency allows."""

    def build(code: str) -> st.SearchStrategy[Money]:
        places = MINOR_UNITS[code]
        return st.builds(
            lambda units: Money(
                amount=Decimal(units).scaleb(-places) if places else Decimal(units),
                currency=code,
            ),
            st.integers(0, 10**15),
        )

    codes = st.just(currency) if currency else st.sampled_from(sorted(MINOR_UNITS))
    return codes.flatmap(build)


def next_steps() -> st.SearchStrategy[NextStep]:
    """A next step with its due time."""
    return st.builds(NextStep, action=display_names(), due_at=aware_datetimes())


_tags = st.frozensets(st.text(_TEXT_CHARS, min_size=1, max_size=20), max_size=4)
_custom = st.dictionaries(
    st.text(_TEXT_CHARS, min_size=1, max_size=20),
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text(50),
    max_size=4,
)
_opt = st.none


def users() -> st.SearchStrategy[User]:
    """Users of every role."""
    return st.builds(
        User,
        id=ids(),
        name=display_names(),
        role=st.sampled_from(Role),
        team_id=_opt() | ids(),
        manager_id=_opt() | ids(),
        active=st.booleans(),
        tags=_tags,
    )


def teams() -> st.SearchStrategy[Team]:
    """Teams."""
    return st.builds(
        Team, id=ids(), name=display_names(), manager_id=_opt() | ids(), region=_opt() | _text(20)
    )


def accounts() -> st.SearchStrategy[Account]:
    """Customer accounts."""
    return st.builds(
        Account,
        id=ids(),
        name=display_names(),
        created_at=aware_datetimes(),
        industry=_opt() | _text(30),
        company_size=_opt() | st.integers(0, 10_000_000),
        owner_id=_opt() | ids(),
        tags=_tags,
        custom=_custom,
    )


def contacts() -> st.SearchStrategy[Contact]:
    """Contacts at customers."""
    return st.builds(
        Contact,
        id=ids(),
        name=display_names(),
        created_at=aware_datetimes(),
        account_id=_opt() | ids(),
        phone=_opt() | st.from_regex(r"\+?[0-9 ()\-]{3,20}", fullmatch=True),
        email=_opt() | st.from_regex(r"[a-z0-9.+]{1,20}@[a-z0-9]{1,10}\.(com|cn)", fullmatch=True),
        authority=_opt() | st.sampled_from(Authority),
        tags=_tags,
        custom=_custom,
    )


def leads() -> st.SearchStrategy[Lead]:
    """Leads with any mix of BANT attributes present or missing."""
    return st.builds(
        Lead,
        id=ids(),
        created_at=aware_datetimes(),
        source=st.sampled_from(SourceChannel) | st.text(_TEXT_CHARS, min_size=1, max_size=20),
        company=_opt() | display_names(),
        contact_name=_opt() | display_names(),
        industry=_opt() | _text(30),
        company_size=_opt() | st.integers(0, 10_000_000),
        needs=_opt() | _text(),
        pain_points=st.tuples() | st.tuples(st.text(_TEXT_CHARS, min_size=1, max_size=30)),
        intent=_opt() | st.sampled_from(Intent),
        budget=_opt() | money(),
        authority=_opt() | st.sampled_from(Authority),
        need=_opt() | st.sampled_from(NeedLevel),
        timeline=_opt() | st.sampled_from(Timeline),
        expected_amount=_opt() | money(),
        owner_id=_opt() | ids(),
        status=st.sampled_from(LeadStatus),
        next_step=_opt() | next_steps(),
        tags=_tags,
        custom=_custom,
    )


@st.composite
def opportunities(
    draw: st.DrawFn, stages: tuple[str, ...] = ("new", "qualified", "won", "lost")
) -> Opportunity:
    """Opportunities whose timestamps are consistent (entered and closed after creation)."""
    created = draw(aware_datetimes(max_value=_LATEST))
    entered = created + draw(st.timedeltas(timedelta(0), timedelta(days=400)))
    closed = draw(
        st.none() | st.timedeltas(timedelta(0), timedelta(days=400)).map(lambda d: created + d)
    )
    return Opportunity(
        id=draw(ids()),
        name=draw(display_names()),
        created_at=created,
        owner_id=draw(ids()),
        stage=draw(st.sampled_from(stages)),
        stage_entered_at=entered,
        source=draw(st.none() | st.sampled_from(SourceChannel)),
        expected_amount=draw(st.none() | money()),
        probability=draw(st.none() | st.floats(0, 1)),
        next_step=draw(st.none() | next_steps()),
        closed_at=closed,
        lost_reason=draw(st.none() | _text(40)),
        tags=draw(_tags),
        custom=draw(_custom),
        version=draw(st.integers(1, 1000)),
    )


def activities() -> st.SearchStrategy[Activity]:
    """Follow-up activities on a lead or an opportunity."""
    return st.builds(
        Activity,
        id=ids(),
        kind=st.sampled_from(ActivityKind),
        at=aware_datetimes(),
        owner_id=ids(),
        lead_id=ids(),
        opportunity_id=_opt() | ids(),
        outcome=_opt() | st.sampled_from(Outcome),
        replied=st.booleans(),
        notes=_text(),
        next_action=_opt() | next_steps(),
        variant=_opt() | st.sampled_from(["A", "B"]),
    )


def stage_events() -> st.SearchStrategy[StageEvent]:
    """Stage history entries."""
    stage = st.sampled_from(["new", "qualified", "proposal", "won", "lost"])
    return st.builds(
        StageEvent,
        id=ids(),
        opportunity_id=ids(),
        to_stage=stage,
        at=aware_datetimes(),
        by=ids(),
        from_stage=_opt() | stage,
        reason=_opt() | _text(40),
        checks=st.lists(_text(30), max_size=3).map(tuple),
        seq=st.integers(0, 2**62),  # the BIGINT / INTEGER column of every SQL store
    )


@st.composite
def sla_outcomes(draw: st.DrawFn) -> SlaOutcome:
    """SLA outcomes with consistent times."""
    started = draw(aware_datetimes(max_value=_LATEST))
    due = started + draw(st.timedeltas(timedelta(0), timedelta(days=30)))
    finished = draw(
        st.none() | st.timedeltas(timedelta(0), timedelta(days=60)).map(lambda d: started + d)
    )
    return SlaOutcome(
        id=draw(ids()),
        rule=draw(st.sampled_from(["first_touch", "first_call", "needs_analysis"])),
        target=draw(st.sampled_from(["first_touch", "reply", "stage_exit"])),
        subject_kind=draw(st.sampled_from(["lead", "opportunity"])),
        subject_id=draw(ids()),
        started_at=started,
        due_at=due,
        met=draw(st.booleans()),
        elapsed_seconds=draw(st.floats(0, 1e8)),
        finished_at=finished,
        owner_id=draw(st.none() | ids()),
    )


def journal_entries() -> st.SearchStrategy[JournalEntry]:
    """Journal entries with small JSON payloads."""
    payload = st.dictionaries(
        st.text(_TEXT_CHARS, min_size=1, max_size=10),
        st.none()
        | st.booleans()
        | st.integers(-1000, 1000)
        | _text(20)
        | st.lists(st.integers(0, 9), max_size=3),
        max_size=3,
    )
    return st.builds(
        JournalEntry,
        id=ids(),
        kind=st.sampled_from(["transfer", "merge", "pool_return", "claim", "grade_changed"]),
        subject_id=ids(),
        at=aware_datetimes(),
        by=ids(),
        reason=_opt() | _text(40),
        payload=payload,
    )


def records() -> st.SearchStrategy[Any]:
    """Any record of any type."""
    return st.one_of(
        money(),
        next_steps(),
        users(),
        teams(),
        accounts(),
        contacts(),
        leads(),
        opportunities(),
        activities(),
        stage_events(),
        sla_outcomes(),
        journal_entries(),
    )


UTC_NOON = datetime(2025, 1, 6, 12, tzinfo=UTC)
"""A fixed instant for examples."""
