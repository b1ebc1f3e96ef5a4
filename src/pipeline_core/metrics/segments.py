"""Rule-based dynamic segments (high value, potential, dormant/"zombie"), refreshed from events.

:func:`customer_facts` folds activities and opportunities into one :class:`CustomerFacts` per
customer (an account, or a lead/opportunity id when there is no account): last contact, contacts
in the recent window, won and open amounts (in one stated currency, converted with
:class:`~pipeline_core.money.ExchangeRates` or refused), best grade, tags. Won and lost are the
kinds of the deals' stages (:func:`pipeline_core.facts.deal_status`); merged duplicates count in
neither. A
:class:`SegmentPolicy` (config as data) lists :class:`SegmentRule` values in priority order; a rule
holds when all its conditions hold. :meth:`SegmentPolicy.evaluate` gives every segment a customer is
in; :meth:`SegmentPolicy.primary` the first one (or ``"other"``), which is the dimension to
join onto metrics (:func:`segment_column`). :func:`refresh` compares with the previous assignment
and writes a ``"segment_change"`` journal entry for every customer whose segments changed.

The default policy: ``high_value`` (won or open amount ≥ 100,000), ``potential`` (grade A or B,
or ≥ 3 contacts in the last 90 days, and contacted in the last 30 days), ``dormant`` (no contact
for 90 days or more: the "zombie" customers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated

import attrs
from pydantic import Field

from pipeline_core._definition import Definition, definition, plain, raise_problems
from pipeline_core._deprecation import renamed_params
from pipeline_core._plain_form import check_fields
from pipeline_core._values import currency_problems
from pipeline_core.clock import require_aware
from pipeline_core.errors import CurrencyMismatchError, Problem, ValidationError
from pipeline_core.facts import StageKinds, deal_status, is_merged
from pipeline_core.ids import IdFactory
from pipeline_core.money import ExchangeRates, amount_in, conversion_instant, currency_mismatch
from pipeline_core.records import Activity, JournalEntry, Opportunity

__all__ = [
    "SEGMENT_CHANGE",
    "CustomerFacts",
    "SegmentPolicy",
    "SegmentRule",
    "customer_facts",
    "refresh",
    "segment_column",
]

SEGMENT_CHANGE = "segment_change"
"""Journal kind of a change of a customer's segments."""

_GRADE_ORDER = {"A": 0, "B": 1, "C": 2}


@attrs.frozen
class CustomerFacts:
    """What segment rules read about one customer.

    ``won_amount`` and ``open_amount`` are in ``currency`` (``None``: not stated, read as the
    policy's currency; :func:`customer_facts` always states it).
    """

    id: str
    created_at: datetime | None = None
    last_contact_at: datetime | None = None
    recent_contacts: int = 0
    won_amount: Decimal = Decimal(0)
    open_amount: Decimal = Decimal(0)
    grade: str | None = None
    tags: frozenset[str] = frozenset()
    currency: str | None = None


_Days = Annotated[int, Field(strict=True, ge=0)]


def _sorted_or_none(values: frozenset[str] | None) -> list[str] | None:
    return None if values is None else sorted(values)


def _set_or_none(values: Iterable[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


_NAMES = plain(schema=list[str] | None, encode=_sorted_or_none, decode=_set_or_none)


@definition("SegmentRule")
@attrs.frozen
class SegmentRule(Definition):
    """A segment: every set condition must hold (``any_of``: at least one of the sub-rules too).

    Idle days count whole days since the last contact (since creation if never contacted).
    ``min_value`` is won + open amount. Validated however it is built
    (:class:`~pipeline_core.errors.ConfigError` naming each bad field). Plain data (derived,
    :mod:`pipeline_core._definition`) holds only the conditions that are set.
    """

    name: str = attrs.field(
        metadata=plain(schema=Annotated[str, Field(min_length=1, max_length=64)])
    )
    min_won_amount: Decimal | None = None
    min_open_amount: Decimal | None = None
    min_value: Decimal | None = None
    grades: frozenset[str] | None = attrs.field(default=None, metadata=_NAMES)
    min_recent_contacts: Annotated[int, Field(strict=True, ge=0)] | None = None
    max_idle_days: Annotated[int, Field(strict=True, ge=0)] | None = None
    min_idle_days: Annotated[int, Field(strict=True, ge=0)] | None = None
    tags_any: frozenset[str] | None = attrs.field(default=None, metadata=_NAMES)
    any_of: tuple[SegmentRule, ...] = ()

    def __attrs_post_init__(self) -> None:
        raise_problems("SegmentRule", self, (check_fields,))

    @renamed_params(at="as_of")
    def holds(self, facts: CustomerFacts, as_of: datetime) -> bool:
        """Whether ``facts`` meet every condition as of ``as_of`` (the old keyword ``at=`` is
        deprecated)."""
        if self.min_won_amount is not None and facts.won_amount < self.min_won_amount:
            return False
        if self.min_open_amount is not None and facts.open_amount < self.min_open_amount:
            return False
        if self.min_value is not None and facts.won_amount + facts.open_amount < self.min_value:
            return False
        if self.grades is not None and facts.grade not in self.grades:
            return False
        if (
            self.min_recent_contacts is not None
            and facts.recent_contacts < self.min_recent_contacts
        ):
            return False
        if self.max_idle_days is not None or self.min_idle_days is not None:
            since = facts.last_contact_at or facts.created_at
            idle = None if since is None else (as_of - since).days
            if self.max_idle_days is not None and (idle is None or idle > self.max_idle_days):
                return False
            if self.min_idle_days is not None and idle is not None and idle < self.min_idle_days:
                return False
        if self.tags_any is not None and not (facts.tags & self.tags_any):
            return False
        return not self.any_of or any(r.holds(facts, as_of) for r in self.any_of)


_DEFAULT = {
    "segments": [
        {"name": "high_value", "any_of": [
            {"name": "won", "min_won_amount": "100000"},
            {"name": "open", "min_open_amount": "100000"},
        ]},
        {"name": "potential", "max_idle_days": 30, "any_of": [
            {"name": "graded", "grades": ["A", "B"]},
            {"name": "engaged", "min_recent_contacts": 3},
        ]},
        {"name": "dormant", "min_idle_days": 90},
    ]
}  # fmt: skip


def check_currency(policy: SegmentPolicy) -> Iterator[Problem]:
    """The policy's currency is an ISO 4217 code."""
    yield from currency_problems(policy.currency)


def check_segment_names(policy: SegmentPolicy) -> Iterator[Problem]:
    """Segment names are unique and none is the name of the ``other`` segment."""
    names: set[str] = set()
    for i, rule in enumerate(policy.segments):
        if rule.name in names or rule.name == policy.other:
            yield Problem(("segments", i, "name"), "duplicate segment name", rule.name, "duplicate")
        names.add(rule.name)


_POLICY_CHECKS = (check_fields, check_currency, check_segment_names)


@definition("SegmentPolicy")
@attrs.frozen
class SegmentPolicy(Definition):
    """Segments in priority order, the currency amounts are counted in, the recent window.

    Validated however it is built (:class:`~pipeline_core.errors.ConfigError`: field values, a
    known currency, unique names); ``from_dict``, ``to_dict`` and ``json_schema`` are derived
    (:mod:`pipeline_core._definition`)."""

    segments: tuple[SegmentRule, ...]
    currency: str = attrs.field(
        default="CNY",
        metadata=plain(schema=Annotated[str, Field(min_length=3, max_length=3)], dump="always"),
    )
    recent_days: int = attrs.field(
        default=90, metadata=plain(schema=Annotated[int, Field(strict=True, ge=1)], dump="always")
    )
    other: str = attrs.field(default="other", metadata=plain(dump="always"))

    def __attrs_post_init__(self) -> None:
        raise_problems("SegmentPolicy", self, _POLICY_CHECKS)

    @classmethod
    def default(cls) -> SegmentPolicy:
        """high_value / potential / dormant (see the module doc)."""
        return cls.from_dict(_DEFAULT)

    def _check_currency(self, facts: CustomerFacts) -> None:
        if facts.currency is not None and facts.currency != self.currency:
            raise currency_mismatch(
                "SegmentPolicy",
                "currency",
                (facts.currency, self.currency),
                f"build the facts in the policy's currency: customer_facts(currency="
                f"'{self.currency}', rates=...)",
            )

    @renamed_params(at="as_of")
    def evaluate(self, facts: CustomerFacts, as_of: datetime) -> frozenset[str]:
        """Every segment ``facts`` is in as of ``as_of`` (the old keyword ``at=`` is deprecated).

        :class:`~pipeline_core.errors.CurrencyMismatchError` when ``facts`` are in another
        currency than the policy's amounts."""
        require_aware(as_of, "as_of")
        self._check_currency(facts)
        return frozenset(r.name for r in self.segments if r.holds(facts, as_of))

    @renamed_params(at="as_of")
    def primary(self, facts: CustomerFacts, as_of: datetime) -> str:
        """The first segment (priority order) ``facts`` is in as of ``as_of``, or ``other`` (the
        old keyword ``at=`` is deprecated)."""
        require_aware(as_of, "as_of")
        self._check_currency(facts)
        for r in self.segments:
            if r.holds(facts, as_of):
                return r.name
        return self.other


def _deal_stages(o: Opportunity, stages: StageKinds | None, what: str) -> StageKinds:
    """The stages that decide ``o``'s status (:func:`pipeline_core.stages.templates.stages_of`:
    ``stages``, else the template the deal names); :class:`ValidationError` (field ``stages``)
    when neither is known or the deal's stage is not one of the template's."""
    from pipeline_core.stages.templates import stages_of

    kinds = stages_of(o, stages)
    known = getattr(kinds, "stage_ids", None)
    if kinds is None or (stages is None and known is not None and o.stage not in known):
        raise ValidationError(
            what,
            [
                Problem(
                    ("stages",),
                    f"opportunity {o.id!r} (stage {o.stage!r}) names no known pipeline, so "
                    "whether it is won or lost cannot be known: pass stages= (the deals' pipeline)",
                    o.stage,
                    "unknown_stage",
                )
            ],
        )
    return kinds


@renamed_params(at="as_of")
def customer_facts(
    *,
    as_of: datetime,
    activities: Iterable[Activity] = (),
    opportunities: Iterable[Opportunity] = (),
    grades: Mapping[str, str] | None = None,
    created: Mapping[str, datetime] | None = None,
    tags: Mapping[str, frozenset[str]] | None = None,
    currency: str = "CNY",
    recent_days: int = 90,
    stages: StageKinds | None = None,
    rates: ExchangeRates | None = None,
) -> dict[str, CustomerFacts]:
    """Fold events into facts per customer as of ``as_of`` (later events are ignored; the old
    keyword ``at=`` is deprecated).

    The customer of an activity is its ``account_id``, else its opportunity or lead; of an
    opportunity its ``account_id``, else its own id. A deal is won or lost by the kind of its
    stage in ``stages`` (the deals' pipeline, :func:`pipeline_core.facts.deal_status`;
    ``won_reason`` and ``lost_reason`` are notes, not read); a merged duplicate counts in neither
    amount. Without ``stages`` each deal is read against the template its ``pipeline`` names
    (:func:`pipeline_core.stages.templates.stages_of`); a deal naming none, or in a stage that
    template does not have, raises :class:`~pipeline_core.errors.ValidationError` (field
    ``stages``): its status is never guessed.

    Amounts are summed in ``currency``: an amount in another currency is converted with ``rates``
    (a won or lost deal at its ``closed_at``, an open deal at ``as_of``:
    :func:`pipeline_core.money.conversion_instant`); without ``rates`` it raises
    :class:`~pipeline_core.errors.CurrencyMismatchError` naming both currencies. ``grades`` maps
    customers to their best grade (A best).
    """
    require_aware(as_of, "as_of")
    window = as_of - timedelta(days=recent_days)
    last: dict[str, datetime] = {}
    recent: dict[str, int] = {}
    won: dict[str, Decimal] = {}
    open_: dict[str, Decimal] = {}
    opp_customer: dict[str, str] = {}
    opps = [o for o in opportunities if o.created_at <= as_of]
    for o in opps:
        opp_customer[o.id] = o.account_id or o.id
    for a in activities:
        if a.at > as_of:
            continue
        cust = a.account_id or (
            opp_customer.get(a.opportunity_id, a.opportunity_id) if a.opportunity_id else a.lead_id
        )
        if cust is None:
            continue
        if cust not in last or a.at > last[cust]:
            last[cust] = a.at
        if a.at > window:
            recent[cust] = recent.get(cust, 0) + 1
    problems: list[Problem] = []  # every deal's, raised at once
    found: set[str] = set()
    for o in opps:
        if is_merged(o):
            continue
        cust = opp_customer[o.id]
        amount = o.expected_amount
        value = Decimal(0)
        try:
            status = deal_status(o, _deal_stages(o, stages, "customer_facts"))
            if status != "open" and o.closed_at is not None and o.closed_at > as_of:
                status = "open"  # closed after ``as_of``: still open as of then
        except ValidationError as exc:
            problems.extend(exc.problems)
            status = None
        try:
            if amount is not None:
                value = amount_in(
                    amount,
                    currency,
                    rates=rates,
                    on=conversion_instant(o, as_of),
                    what="customer_facts",
                    field=("opportunities", o.id, "expected_amount", "currency"),
                    how=f"pass rates=ExchangeRates(...) to customer_facts to convert into "
                    f"{currency}, or currency= the deals' currency",
                )
        except CurrencyMismatchError as exc:
            problems.extend(exc.problems)
            found.update(exc.currencies)
        if problems:
            continue
        if status == "won":
            won[cust] = won.get(cust, Decimal(0)) + value
        elif status == "open":
            open_[cust] = open_.get(cust, Decimal(0)) + value
        else:
            won.setdefault(cust, won.get(cust, Decimal(0)))
    if found:
        raise CurrencyMismatchError("customer_facts", problems, currencies=sorted(found))
    if problems:
        raise ValidationError("customer_facts", problems)
    g = grades or {}
    c = created or {}
    t = tags or {}
    ids = set(last) | set(won) | set(open_) | set(g) | set(c) | set(t)
    return {
        cid: CustomerFacts(
            id=cid,
            created_at=c.get(cid),
            last_contact_at=last.get(cid),
            recent_contacts=recent.get(cid, 0),
            won_amount=won.get(cid, Decimal(0)),
            open_amount=open_.get(cid, Decimal(0)),
            grade=g.get(cid),
            tags=t.get(cid, frozenset()),
            currency=currency,
        )
        for cid in sorted(ids)
    }


@renamed_params(at="as_of")
def segment_column(
    policy: SegmentPolicy, facts: Mapping[str, CustomerFacts], as_of: datetime
) -> dict[str, str]:
    """Customer id → primary segment as of ``as_of``: a column to join onto metric frames as a
    dimension (the old keyword ``at=`` is deprecated)."""
    return {cid: policy.primary(f, as_of) for cid, f in sorted(facts.items())}


@renamed_params(at="as_of")
def refresh(
    policy: SegmentPolicy,
    facts: Mapping[str, CustomerFacts],
    *,
    as_of: datetime,
    ids: IdFactory,
    previous: Mapping[str, frozenset[str]] | None = None,
    by: str = "system",
) -> tuple[dict[str, frozenset[str]], list[JournalEntry]]:
    """Re-evaluate every customer at ``as_of`` (the evaluation instant, also the ``at`` of the
    entries written); return the new segments and a ``segment_change`` entry for each customer
    whose segments differ from ``previous`` (entered and left segments listed). ``at=`` is the
    deprecated name of ``as_of``."""
    prev = previous or {}
    current: dict[str, frozenset[str]] = {}
    entries: list[JournalEntry] = []
    for cid in sorted(facts):
        now = policy.evaluate(facts[cid], as_of)
        current[cid] = now
        before = prev.get(cid, frozenset())
        if now != before:
            entries.append(
                JournalEntry(
                    id=ids.new("journal"),
                    kind=SEGMENT_CHANGE,
                    subject_id=cid,
                    at=as_of,
                    by=by,
                    reason="segments refreshed",
                    payload={
                        "entered": sorted(now - before),
                        "left": sorted(before - now),
                        "segments": sorted(now),
                    },
                )
            )
    return current, entries
