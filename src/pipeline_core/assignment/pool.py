"""The public pool (公海): records nobody follows up return to it; reps claim from it within limits.

A record in the pool is owned by the pool's id (:attr:`PoolPolicy.pool_id`, default
``"public-pool"``) and tagged ``"pool"``. A :class:`PoolPolicy` (config as data) says when records
return:

- **idle**: an open record (a lead that is new or working, an opportunity with no ``closed_at``)
  with no follow-up for ``idle_days`` days: the time since the last contact (or since it was
  created, if never contacted) is at least ``idle_days`` × 24 h;
- **nurture**: a lead in ``nurturing`` status, or a lost opportunity whose ``lost_reason`` is one of
  ``nurture_lost_reasons`` (lost now, but worth nurturing).

Reps claim with :func:`claim`: at most ``claims_per_day`` claims in any 24 hours and, if set,
``max_held`` records claimed from the pool held at once. Every move (release, claim) is a
:class:`~pipeline_core.records.JournalEntry` (kinds ``"pool_release"`` and ``"pool_claim"``) with
the previous and the new owner, the record's new version and its kind
(``payload["subject_kind"]``, ``"lead"`` or ``"opportunity"``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

import attrs
from pydantic import Field

from pipeline_core._definition import Definition, definition, plain, raise_problems
from pipeline_core._deprecation import renamed_params
from pipeline_core._plain_form import check_fields
from pipeline_core._values import Id
from pipeline_core.assignment.ownership import owner_change
from pipeline_core.clock import require_aware
from pipeline_core.errors import PermissionDeniedError, Problem, ValidationError
from pipeline_core.facts import StageKinds, deal_status, is_merged
from pipeline_core.ids import IdFactory
from pipeline_core.records import JournalEntry, Lead, LeadStatus, Opportunity

__all__ = [
    "POOL_CLAIM",
    "POOL_RELEASE",
    "POOL_TAG",
    "PoolLimitError",
    "PoolPolicy",
    "claim",
    "claims_within_day",
    "pool_reason",
    "release",
    "sweep",
]

POOL_RELEASE = "pool_release"
"""Journal kind of a move into the pool."""
POOL_CLAIM = "pool_claim"
"""Journal kind of a claim from the pool."""
POOL_TAG = "pool"
"""Tag carried by records in the pool."""

P = TypeVar("P", Lead, Opportunity)


class PoolLimitError(PermissionDeniedError):
    """A rep tried to claim beyond their per-rep limit, or a record that is not in the pool."""


_Count = Annotated[int, Field(strict=True, ge=0)]


def _as_set(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


@definition("PoolPolicy")
@attrs.frozen
class PoolPolicy(Definition):
    """When records return to the pool, and how much a rep may claim (see the module doc).

    Validated however it is built (:class:`~pipeline_core.errors.ConfigError` naming each bad
    field); ``from_dict``, ``to_dict`` and ``json_schema`` are derived
    (:mod:`pipeline_core._definition`)."""

    pool_id: str = attrs.field(
        default="public-pool", metadata=plain(schema=Id, dump="always")
    )  # an owner id: no control or invisible characters
    idle_days: int = attrs.field(
        default=30,
        metadata=plain(schema=Annotated[int, Field(strict=True, ge=1, le=3650)], dump="always"),
    )
    nurture_lost_reasons: frozenset[str] = attrs.field(
        default=frozenset(),
        converter=_as_set,
        metadata=plain(schema=list[str], encode=sorted, decode=frozenset, dump="always"),
    )
    include_nurturing_leads: bool = attrs.field(
        default=True, metadata=plain(schema=Annotated[bool, Field(strict=True)], dump="always")
    )
    claims_per_day: int = attrs.field(default=5, metadata=plain(schema=_Count, dump="always"))
    max_held: int | None = attrs.field(
        default=None, metadata=plain(schema=_Count | None, dump="always")
    )

    def __attrs_post_init__(self) -> None:
        raise_problems("PoolPolicy", self, (check_fields,))


def _subject_kind(record: Lead | Opportunity) -> str:
    # The declared subject kind of a pool entry (records.SUBJECT_KINDS): ids are unique per kind.
    return "lead" if isinstance(record, Lead) else "opportunity"


def _is_open(record: Lead | Opportunity) -> bool:
    if isinstance(record, Lead):
        return record.status in (LeadStatus.NEW, LeadStatus.WORKING)
    return record.closed_at is None  # the store's "open" (a merged duplicate is closed)


@renamed_params(at="as_of")
def pool_reason(
    record: Lead | Opportunity,
    *,
    as_of: datetime,
    policy: PoolPolicy,
    last_contact_at: datetime | None = None,
    stages: StageKinds | None = None,
) -> str | None:
    """Why ``record`` should return to the pool as of ``as_of``, or ``None`` if it should not
    (the old keyword ``at=`` is deprecated).

    An opportunity is *lost* when its stage is a lost stage of ``stages`` (the pipeline,
    :func:`pipeline_core.facts.deal_status`); its ``lost_reason`` is only the note matched against
    ``nurture_lost_reasons``, so a won deal carrying an old ``lost_reason`` is never released.
    Without ``stages`` a closed opportunity with a listed ``lost_reason`` is read as lost, as
    before (deprecated: a ``DeprecationWarning`` says to pass ``stages``). A merged duplicate
    (:func:`pipeline_core.facts.is_merged`) never returns to the pool.
    """
    require_aware(as_of, "as_of")
    if record.owner_id == policy.pool_id or is_merged(record):
        return None
    if (
        isinstance(record, Lead)
        and policy.include_nurturing_leads
        and record.status is LeadStatus.NURTURING
    ):
        return "lead is being nurtured"
    if (
        isinstance(record, Opportunity)
        and record.closed_at is not None
        and record.lost_reason is not None
        and record.lost_reason in policy.nurture_lost_reasons
    ):
        from pipeline_core.stages.templates import stages_of

        kinds = stages_of(record, stages)
        if kinds is None:
            warnings.warn(
                "pool_reason without stages=, for a deal naming no template, reads a closed deal "
                "with a lost_reason as lost; "
                "pass stages=<the pipeline> so the stage's kind decides",
                DeprecationWarning,
                stacklevel=2,
            )
            lost = True
        else:
            lost = deal_status(record, kinds) == "lost"
        if lost:
            return f"lost ({record.lost_reason}) but worth nurturing"
    if not _is_open(record):
        return None
    since = (
        record.created_at if last_contact_at is None else max(last_contact_at, record.created_at)
    )
    idle = as_of - since
    if idle >= timedelta(days=policy.idle_days):
        what = "no follow-up" if last_contact_at is not None else "never contacted"
        return f"{what} for {idle.days} days (limit {policy.idle_days})"
    return None


def release(
    record: P, *, at: datetime, by: str, reason: str, policy: PoolPolicy, ids: IdFactory
) -> tuple[P, JournalEntry]:
    """Move ``record`` into the pool: its next version and the ``pool_release`` entry."""
    require_aware(at, "at")
    if record.owner_id == policy.pool_id:
        raise ValidationError(
            "pool release", [Problem(("record",), "is already in the pool", record.id, "in_pool")]
        )
    new = record.evolve(owner_id=policy.pool_id, tags=record.tags | {POOL_TAG})
    entry = owner_change(
        POOL_RELEASE,
        record,
        new,
        at=at,
        by=by,
        reason=reason,
        ids=ids,
        subject_kind=_subject_kind(record),
    )
    return new, entry


def sweep(
    records: Iterable[P],
    *,
    at: datetime,
    policy: PoolPolicy,
    ids: IdFactory,
    last_contact: Mapping[str, datetime] | None = None,
    by: str = "system",
    stages: StageKinds | None = None,
) -> list[tuple[P, JournalEntry]]:
    """Release every record the rules send back to the pool at ``at``, in id order
    (``stages``: the pipeline that says which deals are lost, see :func:`pool_reason`)."""
    contacts = last_contact or {}
    out = []
    for record in sorted(records, key=lambda r: r.id):
        why = pool_reason(
            record,
            as_of=at,
            policy=policy,
            last_contact_at=contacts.get(record.id),
            stages=stages,
        )
        if why is not None:
            out.append(release(record, at=at, by=by, reason=why, policy=policy, ids=ids))
    return out


@renamed_params(at="as_of")
def claims_within_day(journal: Iterable[JournalEntry], rep_id: str, as_of: datetime) -> int:
    """How many pool claims ``rep_id`` made in the 24 hours up to ``as_of`` (the old keyword
    ``at=`` is deprecated)."""
    start = as_of - timedelta(hours=24)
    return sum(
        1
        for e in journal
        if e.kind == POOL_CLAIM and e.payload.get("to") == rep_id and start < e.at <= as_of
    )


def claim(
    record: P,
    rep_id: str,
    *,
    at: datetime,
    policy: PoolPolicy,
    ids: IdFactory,
    journal: Iterable[JournalEntry] = (),
    held: int = 0,
    by: str | None = None,
) -> tuple[P, JournalEntry]:
    """``rep_id`` claims ``record`` from the pool: its next version and the ``pool_claim`` entry.

    ``journal`` holds the rep's earlier pool entries (at least the last 24 hours); ``held`` is the
    number of pool-claimed records the rep holds now; ``by`` is who makes the claim (default
    ``rep_id``; a manager assigning from the pool to a rep). Raises :class:`PoolLimitError` when the
    record is not in the pool or a limit would be exceeded (saying which and by how much).
    """
    require_aware(at, "at")
    if record.owner_id != policy.pool_id:
        raise PoolLimitError(f"{record.id} is not in the pool (owner is {record.owner_id})")
    recent = claims_within_day(journal, rep_id, at)
    if recent >= policy.claims_per_day:
        raise PoolLimitError(
            f"{rep_id} already claimed {recent} records in the last 24 h "
            f"(limit {policy.claims_per_day})"
        )
    if policy.max_held is not None and held >= policy.max_held:
        raise PoolLimitError(
            f"{rep_id} holds {held} records claimed from the pool (limit {policy.max_held})"
        )
    new = record.evolve(owner_id=rep_id, tags=record.tags - {POOL_TAG})
    entry = owner_change(
        POOL_CLAIM,
        record,
        new,
        at=at,
        by=rep_id if by is None else by,
        reason=f"claimed from the pool ({recent + 1}/{policy.claims_per_day} today)",
        ids=ids,
        subject_kind=_subject_kind(record),
    )
    return new, entry
