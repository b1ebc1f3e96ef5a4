"""The domain records: leads, opportunities, accounts, contacts, activities, users, teams, stage events.

Every record is an immutable value (``attrs``, slotted, frozen). A change gives a new record with
``version`` increased by one (:meth:`~pipeline_core._model.Record.evolve`). Every record validates on
construction and from plain data (:meth:`from_dict`), serializes to JSON-compatible data
(:meth:`to_dict`) and publishes a JSON Schema (:meth:`json_schema`).

Fields follow ``domain.md`` §2: a lead or opportunity holds its source channel, needs description,
intent, expected amount, stage, owner, next step with its due time, tags and custom fields; a
follow-up activity holds its kind, time, outcome (positive / watching / averse), whether the customer
replied, notes and the next action agreed.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from pipeline_core._model import Record, record
from pipeline_core._values import (
    Amount,
    CurrencyCode,
    CustomFields,
    FrozenDict,
    Id,
    JsonObject,
    LongText,
    Name,
    Probability,
    ShortText,
    Tags,
    Timestamp,
    Version,
    iana_zone,
    minor_units,
)
from pipeline_core.errors import Problem

__all__ = [
    "REFERENCES",
    "SUBJECT_KINDS",
    "Account",
    "Activity",
    "ActivityKind",
    "Authority",
    "Contact",
    "Intent",
    "JournalEntry",
    "Lead",
    "LeadStatus",
    "Money",
    "NeedLevel",
    "NextStep",
    "Opportunity",
    "Outcome",
    "Role",
    "SlaOutcome",
    "SourceChannel",
    "StageEvent",
    "Team",
    "Timeline",
    "User",
]

_EMPTY_TAGS: frozenset[str] = frozenset()
_EMPTY_CUSTOM: FrozenDict = FrozenDict()

Email = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]


def _iana_zone(value: str) -> str:
    iana_zone(value)
    return value


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_iana_zone)]
"""An IANA time zone name (``Asia/Shanghai``, ``Europe/Berlin``), checked against the tz database."""
Phone = Annotated[str, Field(min_length=3, max_length=40)]
Employees = Annotated[int, Field(ge=0, le=10_000_000), Field(strict=True)]


# --------------------------------------------------------------------------- vocabularies


class SourceChannel(StrEnum):
    """The standard lead source channels of ``domain.md`` §2. Custom channel names are allowed too:
    a record's ``source`` is any non-empty string, and these are the common ones."""

    WEBSITE = "website"
    SOCIAL_MEDIA = "social_media"
    EVENT = "event"
    THIRD_PARTY = "third_party"
    REFERRAL = "referral"
    ADVERTISING = "advertising"
    COLD_OUTREACH = "cold_outreach"
    INBOUND_CALL = "inbound_call"


class Intent(StrEnum):
    """Initial intent (初步意向) shown by the customer."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class NeedLevel(StrEnum):
    """Strength of the need (the N of BANT)."""

    STRONG = "strong"
    MEDIUM = "medium"
    WEAK = "weak"


class Authority(StrEnum):
    """The contact's decision authority (the A of BANT)."""

    DECISION_MAKER = "decision_maker"
    INFLUENCER = "influencer"
    USER = "user"
    NONE = "none"


class Timeline(StrEnum):
    """When the customer plans to decide (the T of BANT)."""

    WITHIN_1_MONTH = "within_1_month"
    MONTHS_1_3 = "1_3_months"
    MONTHS_3_6 = "3_6_months"
    OVER_6_MONTHS = "over_6_months"
    NO_PLAN = "no_plan"


class LeadStatus(StrEnum):
    """Where a lead is in its own short life before it becomes an opportunity."""

    NEW = "new"
    WORKING = "working"
    NURTURING = "nurturing"
    CONVERTED = "converted"
    DISQUALIFIED = "disqualified"


class ActivityKind(StrEnum):
    """Kinds of follow-up contact (跟进方式)."""

    CALL = "call"
    EMAIL = "email"
    VISIT = "visit"
    MEETING = "meeting"
    MESSAGE = "message"


class Outcome(StrEnum):
    """The customer's attitude after a contact: positive / watching / averse (积极、观望、反感)."""

    POSITIVE = "positive"
    WATCHING = "watching"
    AVERSE = "averse"


class Role(StrEnum):
    """Roles of people in a sales organisation (``domain.md`` §4)."""

    SDR = "sdr"
    AE = "ae"
    SE = "se"
    AM = "am"
    PM = "pm"
    OPS = "ops"
    MANAGER = "manager"
    ADMIN = "admin"
    ANALYST = "analyst"


# --------------------------------------------------------------------------- values


def _money_places(money: Money) -> Iterator[Problem]:
    places = minor_units(money.currency)
    exponent = money.amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        yield Problem(
            ("amount",),
            f"{money.currency} amounts carry at most {places} decimal places",
            money.amount,
            "decimal_places",
        )


@record
class Money(Record):
    """An amount of money: a non-negative ``Decimal`` and an ISO 4217 currency, never a float.

    >>> Money.of("1999.50", "CNY").to_dict()
    {'amount': '1999.50', 'currency': 'CNY'}
    """

    __pc_invariants__ = (_money_places,)

    amount: Amount
    currency: CurrencyCode

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Shorthand constructor: ``Money.of("12.30", "USD")``."""
        # The constructor validates: strings and ints become Decimal, floats are refused.
        return cls(amount=typing.cast(Decimal, amount), currency=currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


@record
class NextStep(Record):
    """The next action agreed with the customer and when it is due."""

    action: Annotated[str, Field(min_length=1, max_length=2_000)]
    due_at: Timestamp


# --------------------------------------------------------------------------- people


@record
class User(Record):
    """A person of the sales organisation: owner of records, actor of moves."""

    id: Id
    name: Name
    role: Role
    email: Email | None = None
    team_id: Id | None = None
    manager_id: Id | None = None
    active: Annotated[bool, Field(strict=True)] = True
    tags: Tags = _EMPTY_TAGS
    version: Version = 1
    timezone: TimeZoneName | None = None
    """The person's own zone, over the team's (``None``: the team's; see ``sla.zone_of``)."""


@record
class Team(Record):
    """A sales team with its manager."""

    id: Id
    name: Name
    manager_id: Id | None = None
    parent_id: Id | None = None
    region: ShortText | None = None
    version: Version = 1
    timezone: TimeZoneName | None = None
    """The zone the team works in (``None``: the SLA policy calendar's; see ``sla.zone_of``)."""


# --------------------------------------------------------------------------- customers


@record
class Account(Record):
    """A customer company (客户)."""

    id: Id
    name: Name
    created_at: Timestamp
    industry: ShortText | None = None
    company_size: Employees | None = None
    region: ShortText | None = None
    owner_id: Id | None = None
    source: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    customer_since: Timestamp | None = None
    tags: Tags = _EMPTY_TAGS
    custom: CustomFields = _EMPTY_CUSTOM
    version: Version = 1


@record
class Contact(Record):
    """A person at a customer (联系人)."""

    id: Id
    name: Name
    created_at: Timestamp
    account_id: Id | None = None
    title: ShortText | None = None
    phone: Phone | None = None
    email: Email | None = None
    wechat: ShortText | None = None
    authority: Authority | None = None
    tags: Tags = _EMPTY_TAGS
    custom: CustomFields = _EMPTY_CUSTOM
    version: Version = 1


# --------------------------------------------------------------------------- leads and deals

Channel = Annotated[str, Field(min_length=1, max_length=64)]


def _graded_consistency(lead: Lead) -> Iterator[Problem]:
    if lead.graded_at is not None and lead.graded_at < lead.created_at:
        yield Problem(
            ("graded_at",), "cannot be before created_at", lead.graded_at, "before_created"
        )


@record
class Lead(Record):
    """A lead (线索): a possible customer not yet qualified into an opportunity.

    Holds contact details, the source channel, the needs description and the BANT attributes
    (budget, authority, need, timeline) plus fit attributes (industry, company size, pain points)
    that scoring reads.
    """

    id: Id
    created_at: Timestamp
    source: Channel
    company: Name | None = None
    contact_name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    industry: ShortText | None = None
    company_size: Employees | None = None
    region: ShortText | None = None
    needs: LongText | None = None
    pain_points: tuple[Annotated[str, Field(min_length=1, max_length=300)], ...] = ()
    intent: Intent | None = None
    budget: Money | None = None
    authority: Authority | None = None
    need: NeedLevel | None = None
    timeline: Timeline | None = None
    expected_amount: Money | None = None
    owner_id: Id | None = None
    status: LeadStatus = LeadStatus.NEW
    next_step: NextStep | None = None
    account_id: Id | None = None
    contact_id: Id | None = None
    opportunity_id: Id | None = None
    disqualified_reason: ShortText | None = None
    tags: Tags = _EMPTY_TAGS
    custom: CustomFields = _EMPTY_CUSTOM
    version: Version = 1
    graded_at: Timestamp | None = None
    """When the lead's grade last changed (the SLA grade clock starts there; ``None``: at
    creation). Not before ``created_at``."""
    __pc_invariants__ = (_graded_consistency,)


def _closed_consistency(opp: Opportunity) -> Iterator[Problem]:
    if opp.stage_entered_at < opp.created_at:
        yield Problem(
            ("stage_entered_at",),
            "cannot be before created_at",
            opp.stage_entered_at,
            "before_created",
        )
    if opp.closed_at is not None and opp.closed_at < opp.created_at:
        yield Problem(
            ("closed_at",), "cannot be before created_at", opp.closed_at, "before_created"
        )


@record
class Opportunity(Record):
    """An opportunity (商机): a qualified deal moving through a pipeline's stages.

    ``stage`` is the id of the current stage of ``pipeline``; ``stage_entered_at`` is when it got
    there. Moves are made by :meth:`pipeline_core.stages.Pipeline.move`, which returns the next
    version of the opportunity and the stage event that records the move.
    """

    __pc_invariants__ = (_closed_consistency,)

    id: Id
    name: Name
    created_at: Timestamp
    owner_id: Id
    stage: Annotated[str, Field(min_length=1, max_length=64)]
    stage_entered_at: Timestamp
    pipeline: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    lead_id: Id | None = None
    account_id: Id | None = None
    contact_id: Id | None = None
    team_id: Id | None = None
    source: Channel | None = None
    needs: LongText | None = None
    intent: Intent | None = None
    expected_amount: Money | None = None
    probability: Probability | None = None
    expected_close: date | None = None
    next_step: NextStep | None = None
    closed_at: Timestamp | None = None
    lost_reason: ShortText | None = None
    won_reason: ShortText | None = None
    parent_id: Id | None = None
    tags: Tags = _EMPTY_TAGS
    custom: CustomFields = _EMPTY_CUSTOM
    version: Version = 1


def _has_subject(activity: Activity) -> Iterator[Problem]:
    if activity.lead_id is None and activity.opportunity_id is None and activity.account_id is None:
        yield Problem(
            ("lead_id",),
            "an activity needs a lead_id, opportunity_id or account_id",
            None,
            "missing_subject",
        )


@record
class Activity(Record):
    """A follow-up activity (跟进记录): a call, e-mail, visit, meeting or message, and its outcome."""

    __pc_invariants__ = (_has_subject,)

    id: Id
    kind: ActivityKind
    at: Timestamp
    owner_id: Id
    lead_id: Id | None = None
    opportunity_id: Id | None = None
    account_id: Id | None = None
    contact_id: Id | None = None
    outcome: Outcome | None = None
    replied: Annotated[bool, Field(strict=True)] = False
    notes: LongText = ""
    next_action: NextStep | None = None
    variant: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    tags: Tags = _EMPTY_TAGS
    version: Version = 1


@record
class StageEvent(Record):
    """One entry of an opportunity's stage history: it moved from one stage to another.

    ``from_stage`` is ``None`` for the event that places a new opportunity at its first stage.
    ``checks`` names the conditions that were evaluated (and held) for the move. ``seq`` orders
    the events of one opportunity that share an instant: the version of the opportunity the event
    produced (1 for the placement, then one more per move), see
    :func:`pipeline_core.facts.event_order`; ``0`` for events written before it existed.
    """

    id: Id
    opportunity_id: Id
    to_stage: Annotated[str, Field(min_length=1, max_length=64)]
    at: Timestamp
    by: Id
    from_stage: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    reason: ShortText | None = None
    pipeline: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    checks: tuple[Annotated[str, Field(max_length=300)], ...] = ()
    version: Version = 1
    seq: Annotated[int, Field(strict=True, ge=0)] = 0


def _int_or_float(value: object) -> object:
    # pydantic would read "5400", True and Decimal("0.1") as floats: a number is an int or float.
    if type(value) in (int, float):
        return value
    raise PydanticCustomError("float_type", "expected a number (int or float)")


def _outcome_order(outcome: SlaOutcome) -> Iterator[Problem]:
    if outcome.due_at < outcome.started_at:
        yield Problem(("due_at",), "cannot be before started_at", outcome.due_at, "before_start")
    if outcome.finished_at is not None and outcome.finished_at < outcome.started_at:
        yield Problem(
            ("finished_at",), "cannot be before started_at", outcome.finished_at, "before_start"
        )


@record
class SlaOutcome(Record):
    """How one finished (or abandoned) SLA clock ended: met or breached, and the business time used.

    Written by the SLA engine when a target is reached (``finished_at`` set) or when it can no longer
    be reached (the record closed first: ``finished_at`` is ``None`` and ``met`` is ``False``, an
    omission). Metrics read these for attainment and omission rates.
    """

    __pc_invariants__ = (_outcome_order,)

    id: Id
    rule: Annotated[str, Field(min_length=1, max_length=128)]
    target: Annotated[str, Field(min_length=1, max_length=64)]
    subject_kind: Annotated[str, Field(min_length=1, max_length=32)]
    subject_id: Id
    started_at: Timestamp
    due_at: Timestamp
    met: Annotated[bool, Field(strict=True)]
    elapsed_seconds: Annotated[
        float, BeforeValidator(_int_or_float), Field(ge=0, allow_inf_nan=False)
    ]
    finished_at: Timestamp | None = None
    owner_id: Id | None = None
    version: Version = 1


@record
class JournalEntry(Record):
    """An append-only history entry for things that are not stage moves: an ownership transfer, a
    merge of duplicates, a move to or claim from the public pool, a grade change.

    ``payload`` holds the details as JSON data (e.g. ``{"from": "u1", "to": "u2"}``): finite
    numbers, text without NUL, lists and string-keyed objects, at most 64 levels deep; anything
    else (NaN, bytes, sets, other objects) is refused, so every store returns what went in.
    """

    id: Id
    kind: Annotated[str, Field(min_length=1, max_length=64)]
    subject_id: Id
    at: Timestamp
    by: Id
    reason: ShortText | None = None
    payload: JsonObject = _EMPTY_CUSTOM
    version: Version = 1


RECORD_TYPES: tuple[type[Record], ...] = (
    Money,
    NextStep,
    User,
    Team,
    Account,
    Contact,
    Lead,
    Opportunity,
    Activity,
    StageEvent,
    SlaOutcome,
    JournalEntry,
)
"""Every record type, in dependency order."""


REFERENCES: dict[tuple[str, str], str] = {
    ("Lead", "owner_id"): "users",
    ("Lead", "account_id"): "accounts",
    ("Lead", "contact_id"): "contacts",
    ("Lead", "opportunity_id"): "opportunities",
    ("Opportunity", "owner_id"): "users",
    ("Opportunity", "team_id"): "teams",
    ("Opportunity", "lead_id"): "leads",
    ("Opportunity", "account_id"): "accounts",
    ("Opportunity", "contact_id"): "contacts",
    ("Opportunity", "parent_id"): "opportunities",
    ("Account", "owner_id"): "users",
    ("Contact", "account_id"): "accounts",
    ("Activity", "owner_id"): "users",
    ("Activity", "lead_id"): "leads",
    ("Activity", "opportunity_id"): "opportunities",
    ("Activity", "account_id"): "accounts",
    ("Activity", "contact_id"): "contacts",
    ("StageEvent", "opportunity_id"): "opportunities",
    ("StageEvent", "by"): "users",
    ("SlaOutcome", "owner_id"): "users",
    ("SlaOutcome", "subject_id"): "subject_kind",
    ("JournalEntry", "subject_id"): "subject_kind",
    ("JournalEntry", "by"): "users",
    ("User", "team_id"): "teams",
    ("User", "manager_id"): "users",
    ("Team", "manager_id"): "users",
    ("Team", "parent_id"): "teams",
}
"""Which collection each reference field points to: ``(record type name, field)`` → collection
(``"opportunities"``, ``"accounts"`` ...). Ids are unique only within one collection, so a
reference is looked up in its own collection only. ``"subject_kind"`` means: the collection named
by the record's declared subject kind (:data:`SUBJECT_KINDS`; an SLA outcome's ``subject_kind``
field, a journal entry's ``payload["subject_kind"]``)."""

SUBJECT_KINDS: dict[str, str] = {
    "lead": "leads",
    "opportunity": "opportunities",
    "account": "accounts",
    "contact": "contacts",
}
"""Declared subject kinds (``SlaOutcome.subject_kind``, a journal entry's
``payload["subject_kind"]``) and the collection each names."""
