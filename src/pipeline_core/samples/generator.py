"""The sample-data generator: see :mod:`pipeline_core.samples` for what it models."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import attrs

from pipeline_core._model import FrozenDict, as_fixed_offset
from pipeline_core.clock import require_aware
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.frame_columns import LEAD_COLUMNS
from pipeline_core.records import (
    Account,
    Activity,
    ActivityKind,
    Authority,
    Contact,
    Intent,
    Lead,
    LeadStatus,
    Money,
    NeedLevel,
    NextStep,
    Opportunity,
    Outcome,
    Role,
    SourceChannel,
    StageEvent,
    Team,
    Timeline,
    User,
)

__all__ = ["COLUMN_KINDS", "SampleCompany", "SampleConfig", "StageSource", "generate"]

_DAY: Final = 86_400.0
_HOUR: Final = 3_600.0

# (channel, share of leads, quality shift, stage-duration factor)
_CHANNELS: Final = (
    (SourceChannel.WEBSITE, 0.30, 0.00, 1.0),
    (SourceChannel.SOCIAL_MEDIA, 0.18, -0.05, 1.1),
    (SourceChannel.EVENT, 0.12, 0.05, 0.9),
    (SourceChannel.THIRD_PARTY, 0.15, -0.08, 1.2),
    (SourceChannel.REFERRAL, 0.10, 0.15, 0.7),
    (SourceChannel.ADVERTISING, 0.10, -0.03, 1.1),
    (SourceChannel.COLD_OUTREACH, 0.05, -0.12, 1.4),
)
_INDUSTRIES: Final = (
    "manufacturing",
    "saas",
    "education",
    "finance",
    "retail",
    "new_energy",
    "healthcare",
)
_REGIONS: Final = ("east", "north", "south", "west")
_CITIES: Final = ("北京", "上海", "深圳", "杭州", "成都", "苏州", "武汉", "南京", "广州", "西安")
_WORDS: Final = ("星辰", "远航", "华创", "蓝海", "智联", "恒信", "新元", "瑞丰", "云图", "锐思")
_SUFFIXES: Final = (
    "科技有限公司",
    "信息技术有限公司",
    "制造有限公司",
    "股份有限公司",
    "教育科技有限公司",
)
_SURNAMES: Final = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴")
_GIVEN: Final = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "婷")
_REP_NAMES: Final = (
    "Li Wei",
    "Wang Fang",
    "Zhang Min",
    "Liu Yang",
    "Chen Jing",
    "Yang Lei",
    "Zhao Jun",
    "Huang Ting",
    "Zhou Jie",
    "Wu Na",
    "Xu Tao",
    "Sun Li",
    "Ma Chao",
    "Zhu Hui",
    "Hu Bo",
    "Guo Rui",
)
_LOST_REASONS: Final = ("price", "competitor", "no_budget", "no_decision", "timing", "went_silent")
_WON_REASONS: Final = ("product_fit", "price", "relationship", "service")
_PAIN_POINTS: Final = ("manual_process", "data_silos", "slow_response", "compliance", "cost")
_KINDS: Final = (
    ActivityKind.CALL,
    ActivityKind.EMAIL,
    ActivityKind.MESSAGE,
    ActivityKind.VISIT,
    ActivityKind.MEETING,
)
_KIND_WEIGHTS: Final = (0.40, 0.20, 0.25, 0.08, 0.07)


@runtime_checkable
class StageSource(Protocol):
    """What the generator needs of a pipeline: its id and its open, won and lost stage ids."""

    @property
    def id(self) -> str:
        """The pipeline id."""
        ...

    @property
    def open_stage_ids(self) -> tuple[str, ...]:
        """Open stages, in order."""
        ...

    @property
    def won_stage_ids(self) -> tuple[str, ...]:
        """Won stages (the first is used)."""
        ...

    @property
    def lost_stage_ids(self) -> tuple[str, ...]:
        """Lost stages (the first is used)."""
        ...


def _default_start() -> datetime:
    return datetime(2025, 1, 6, tzinfo=ZoneInfo("Asia/Shanghai"))


@attrs.frozen(kw_only=True)
class SampleConfig:
    """What company to generate. Every field has a sensible default; ``seed`` fixes everything.

    ``stage_ids`` are the open stages in order; ``won_stage``/``lost_stage`` the closing ones
    (use :meth:`for_pipeline` to take them from a pipeline). Events after ``start + days`` are not
    generated: opportunities still open then are reported at the stage they had reached.
    ``regression_rate`` is the chance, at each forward move, of first going back one stage
    (re-work), which makes repeated visits to a stage.
    """

    seed: int = 0
    n_leads: int = 1_000
    start: datetime = attrs.field(factory=_default_start)
    days: int = 90
    stage_ids: tuple[str, ...] = ("new", "qualified", "proposal", "negotiation")
    won_stage: str = "won"
    lost_stage: str = "lost"
    pipeline_id: str | None = None
    n_teams: int = 3
    reps_per_team: int = 4
    currency: str = "CNY"
    lead_conversion: float = 0.40
    win_bias: float = 0.0
    regression_rate: float = 0.0
    touch_rate: float = 0.95

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        try:
            require_aware(self.start, "start")
        except ValueError:
            problems.append(
                Problem(("start",), "a timezone-aware datetime is needed", self.start, "timezone")
            )
        checks: tuple[tuple[str, bool, str], ...] = (
            ("n_leads", self.n_leads >= 0, "must be >= 0"),
            ("days", self.days >= 1, "must be >= 1"),
            ("stage_ids", len(self.stage_ids) >= 1, "needs at least one open stage"),
            ("stage_ids", len(set(self.stage_ids)) == len(self.stage_ids), "has duplicates"),
            (
                "won_stage",
                self.won_stage not in self.stage_ids and self.won_stage != self.lost_stage,
                "must differ from the open stages and the lost stage",
            ),
            ("lost_stage", self.lost_stage not in self.stage_ids, "must differ from open stages"),
            ("n_teams", self.n_teams >= 1, "must be >= 1"),
            ("reps_per_team", self.reps_per_team >= 1, "must be >= 1"),
            ("lead_conversion", 0.0 <= self.lead_conversion <= 1.0, "must be within 0..1"),
            ("win_bias", -1.0 <= self.win_bias <= 1.0, "must be within -1..1"),
            ("regression_rate", 0.0 <= self.regression_rate < 1.0, "must be within 0..1"),
            ("touch_rate", 0.0 <= self.touch_rate <= 1.0, "must be within 0..1"),
        )
        for name, ok, message in checks:
            if not ok:
                problems.append(Problem((name,), message, getattr(self, name), "invalid"))
        try:
            Money.of(0, self.currency)
        except ValueError:
            problems.append(
                Problem(("currency",), "unknown ISO 4217 currency", self.currency, "currency")
            )
        if problems:
            raise ConfigError("SampleConfig", problems)

    @classmethod
    def for_pipeline(cls, pipeline: StageSource, **kwargs: Any) -> SampleConfig:
        """A config whose stages are those of ``pipeline`` (its first won and lost stage)."""
        return cls(
            stage_ids=tuple(pipeline.open_stage_ids),
            won_stage=pipeline.won_stage_ids[0],
            lost_stage=pipeline.lost_stage_ids[0],
            pipeline_id=pipeline.id,
            **kwargs,
        )

    @property
    def origin(self) -> datetime:
        """``start`` with a fixed UTC offset: every generated instant is ``origin + seconds``."""
        return as_fixed_offset(self.start)

    @property
    def end(self) -> datetime:
        """The horizon: nothing happens at or after this instant."""
        return self.origin + timedelta(days=self.days)


@attrs.frozen
class _Story:
    """Everything that happens to one lead, as plain tuples (cheap to make, projected on demand)."""

    index: int
    lead: dict[str, Any]
    contact: dict[str, Any]
    account: dict[str, Any] | None
    opportunity: dict[str, Any] | None
    # (from_stage, to_stage, at, by)
    events: list[tuple[str | None, str, datetime, str]]
    # (kind, seconds after start, owner, outcome, replied, on_opportunity, notes, variant,
    #  (next action, due seconds after start) or None)
    activities: list[
        tuple[
            ActivityKind, float, str, Outcome, bool, bool, str, str | None, tuple[str, float] | None
        ]
    ]


COLUMN_KINDS: Final = ("leads", "opportunities", "stage_events", "activities")
"""The kinds :meth:`SampleCompany.columns` can stream."""


class SampleCompany:
    """A generated company: its people, and streams of its leads, deals, events and activities.

    Each stream regenerates the same stories from the seed, so streams are consistent with each
    other and nothing is held in memory between calls.
    """

    def __init__(self, config: SampleConfig) -> None:
        self.config = config
        self.teams: list[Team] = []
        self.users: list[User] = []
        rng = random.Random(config.seed ^ 0x5EED)
        self._sdrs: list[tuple[str, float, str]] = []  # (id, skill, team)
        self._aes: list[tuple[str, float, str]] = []
        self._manager_of: dict[str, str] = {}
        self._region_of: dict[str, str] = {}
        names = iter(_REP_NAMES * (1 + (config.n_teams * (config.reps_per_team + 1)) // 16))
        for t in range(config.n_teams):
            team_id = f"team-{t + 1}"
            manager_id = f"user-m{t + 1}"
            self.teams.append(
                Team(
                    id=team_id,
                    name=f"Team {_REGIONS[t % 4].title()}",
                    manager_id=manager_id,
                    region=_REGIONS[t % 4],
                )
            )
            self.users.append(
                User(id=manager_id, name=next(names), role=Role.MANAGER, team_id=team_id)
            )
            self._manager_of[team_id] = manager_id
            self._region_of[team_id] = _REGIONS[t % 4]
            for r in range(config.reps_per_team):
                role = Role.SDR if r % 2 == 0 else Role.AE
                user_id = f"user-{t + 1}{r + 1:02d}"
                skill = round(rng.uniform(0.6, 1.4), 3)
                self.users.append(
                    User(
                        id=user_id,
                        name=next(names),
                        role=role,
                        team_id=team_id,
                        manager_id=manager_id,
                        tags=frozenset({f"skill:{skill}"}),
                    )
                )
                (self._sdrs if role is Role.SDR else self._aes).append((user_id, skill, team_id))
        if not self._aes:  # one rep per team: they do both jobs
            self._aes = list(self._sdrs)

    # -- streams of records ------------------------------------------------------------------

    def leads(self) -> Iterator[Lead]:
        """Every lead, in creation order, as of the horizon."""
        for story in self._stories():
            yield Lead._trusted(story.lead)

    def contacts(self) -> Iterator[Contact]:
        """One contact per lead (the person who enquired)."""
        for story in self._stories():
            yield Contact._trusted(story.contact)

    def accounts(self) -> Iterator[Account]:
        """One account per converted lead (the customer company)."""
        for story in self._stories():
            if story.account is not None:
                yield Account._trusted(story.account)

    def opportunities(self) -> Iterator[Opportunity]:
        """Every opportunity, in the state it had reached at the horizon."""
        for story in self._stories():
            if story.opportunity is not None:
                yield Opportunity._trusted(story.opportunity)

    def stage_events(self) -> Iterator[StageEvent]:
        """Every stage move (the first places the opportunity at its first stage), per deal in order."""
        pipeline = self.config.pipeline_id
        for story in self._stories():
            if story.opportunity is None:
                continue
            opp_id = story.opportunity["id"]
            for k, (src, dst, at, by) in enumerate(story.events):
                yield StageEvent._trusted(
                    {
                        "id": f"{opp_id}-ev{k:02d}",
                        "opportunity_id": opp_id,
                        "from_stage": src,
                        "to_stage": dst,
                        "at": at,
                        "by": by,
                        "pipeline": pipeline,
                        "reason": None,
                        "checks": (),
                        "seq": k + 1,  # the opportunity version it produced (facts.event_order)
                    }
                )

    def activities(self) -> Iterator[Activity]:
        """Every follow-up activity, per lead in time order."""
        for story in self._stories():
            yield from self._activity_records(story)

    # -- column batches for dataframes ---------------------------------------------------------

    def columns(self, kind: str, batch_size: int = 100_000) -> Iterator[dict[str, list[Any]]]:
        """Stream ``kind`` (one of :data:`COLUMN_KINDS`) as column batches of up to ``batch_size``.

        Flat layout: the library's one frame vocabulary (:mod:`pipeline_core.frame_columns`): a
        money field under its record name as a number (``budget``, ``expected_amount``; int, whole
        units) and ``currency``; the next step's due instant as ``due_at``; an event's ``seq``;
        timestamps as aware datetimes; tags as a ``;``-joined string. ``leads`` adds the hidden ``quality`` (0-1) that
        drove the simulation, for checking models against the truth.
        """
        if kind not in COLUMN_KINDS:
            raise ConfigError(
                "columns",
                [Problem(("kind",), f"expected one of {', '.join(COLUMN_KINDS)}", kind, "unknown")],
            )
        if batch_size < 1:
            raise ConfigError(
                "columns", [Problem(("batch_size",), "must be >= 1", batch_size, "invalid")]
            )
        project = _PROJECTIONS[kind]
        names = _COLUMNS[kind]
        batch: dict[str, list[Any]] = {name: [] for name in names}
        size = 0
        for story in self._stories():
            for row in project(self, story):
                for name, value in zip(names, row, strict=True):
                    batch[name].append(value)
                size += 1
                if size == batch_size:
                    yield batch
                    batch = {name: [] for name in names}
                    size = 0
        if size:
            yield batch

    # -- the simulation ---------------------------------------------------------------------------

    def _stories(self) -> Iterator[_Story]:
        cfg = self.config
        rng = random.Random(cfg.seed)
        rand = rng.random
        lognorm = rng.lognormvariate
        start = cfg.origin
        horizon = cfg.days * _DAY
        channel_weights = [c[1] for c in _CHANNELS]
        currency = cfg.currency
        sdrs = self._sdrs
        for i in range(cfg.n_leads):
            channel, _, shift, slowness = rng.choices(_CHANNELS, channel_weights)[0]
            quality = min(0.99, max(0.01, rng.betavariate(2.0, 3.0) + shift))
            offset = self._arrival(rng, horizon)
            created = start + timedelta(seconds=offset)
            sdr_id, sdr_skill, team_id = sdrs[i % len(sdrs)]
            lead_id = f"lead-{i + 1:07d}"
            company = f"{rng.choice(_CITIES)}{rng.choice(_WORDS)}{rng.choice(_SUFFIXES)}"
            person = f"{rng.choice(_SURNAMES)}{rng.choice(_GIVEN)}"
            industry = rng.choice(_INDUSTRIES)
            size = max(1, int(lognorm(3.5 + 2.0 * quality, 1.0)))
            has_budget = rand() < 0.45 + 0.45 * quality
            budget = (
                Money._trusted(
                    {
                        "amount": Decimal(int(lognorm(10.5 + 1.5 * quality, 0.8))),
                        "currency": currency,
                    }
                )
                if has_budget
                else None
            )
            authority = _pick(
                rng,
                (Authority.DECISION_MAKER, Authority.INFLUENCER, Authority.USER, Authority.NONE),
                (0.1 + 0.5 * quality, 0.35, 0.35 - 0.2 * quality, 0.2 - 0.1 * quality),
            )
            need = _pick(
                rng,
                (NeedLevel.STRONG, NeedLevel.MEDIUM, NeedLevel.WEAK),
                (quality, 0.5, 1.0 - quality),
            )
            timeline = _pick(
                rng,
                (
                    Timeline.WITHIN_1_MONTH,
                    Timeline.MONTHS_1_3,
                    Timeline.MONTHS_3_6,
                    Timeline.OVER_6_MONTHS,
                    Timeline.NO_PLAN,
                ),
                (0.6 * quality, 0.4, 0.3, 0.2, 0.3 * (1.0 - quality)),
            )
            intent = _pick(
                rng, (Intent.HIGH, Intent.MEDIUM, Intent.LOW), (quality, 0.5, 1.0 - quality)
            )
            missing = rand()
            if missing < 0.08:
                authority = None
            elif missing < 0.14:
                timeline = None
            pains = tuple(p for p in _PAIN_POINTS if rand() < 0.15 + 0.3 * quality)
            variant = "B" if rand() < 0.5 else "A"
            activities: list[Any] = []
            events: list[tuple[str | None, str, datetime, str]] = []
            touched = rand() < cfg.touch_rate
            status = LeadStatus.NEW
            opportunity = account = None
            if touched:
                delay = lognorm(math.log(2.0 * _HOUR / sdr_skill), 1.2)
                first_touch = offset + delay
                if first_touch < horizon:
                    status = LeadStatus.WORKING
                    replied = rand() < 0.35 + 0.5 * quality
                    activities.append(
                        (
                            ActivityKind.CALL,
                            first_touch,
                            sdr_id,
                            _outcome(rng, quality),
                            replied,
                            False,
                            "first touch",
                            variant,
                            None,
                        )
                    )
                    p_convert = cfg.lead_conversion * (0.4 + 1.2 * quality)
                    if variant == "B":
                        p_convert += 0.04
                    if rand() < min(1.0, p_convert):
                        opp_offset = first_touch + lognorm(math.log(2.0 * _DAY), 0.8)
                        if opp_offset < horizon:
                            status = LeadStatus.CONVERTED
                            opportunity, account = self._deal(
                                rng,
                                i,
                                lead_id,
                                quality,
                                slowness,
                                opp_offset,
                                horizon,
                                company,
                                industry,
                                size,
                                channel,
                                team_id,
                                intent,
                                events,
                                activities,
                            )
                    elif quality < 0.25 and rand() < 0.5:
                        status = LeadStatus.DISQUALIFIED
                    elif rand() < 0.5:
                        status = LeadStatus.NURTURING
            amount = budget.amount if budget is not None else None
            lead = {
                "id": lead_id,
                "created_at": created,
                "source": channel.value,
                "company": company,
                "contact_name": person,
                "phone": f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}",
                "email": f"c{i + 1}@example.com",
                "industry": industry,
                "company_size": size,
                "region": self._region_of[team_id],
                "needs": f"{industry} {'/'.join(pains) or 'general'} needs",
                "pain_points": pains,
                "intent": intent,
                "budget": budget,
                "authority": authority,
                "need": need,
                "timeline": timeline,
                "expected_amount": Money._trusted({"amount": amount, "currency": currency})
                if amount is not None
                else None,
                "owner_id": sdr_id,
                "status": status,
                "next_step": None,
                "account_id": None,
                "contact_id": f"contact-{i + 1:07d}",
                "opportunity_id": opportunity["id"] if opportunity else None,
                "disqualified_reason": "poor fit" if status is LeadStatus.DISQUALIFIED else None,
                "tags": frozenset({f"variant:{variant}"}),
                "custom": FrozenDict({"quality": round(quality, 4)}),
                "version": 1 + (status is not LeadStatus.NEW) + (opportunity is not None),
            }
            contact = {
                "id": f"contact-{i + 1:07d}",
                "name": person,
                "created_at": created,
                "account_id": account["id"] if account else None,
                "title": None,
                "phone": lead["phone"],
                "email": lead["email"],
                "wechat": None,
                "authority": authority,
                "tags": frozenset(),
                "custom": FrozenDict(),
                "version": 1,
            }
            yield _Story(i, lead, contact, account, opportunity, events, activities)

    def _arrival(self, rng: random.Random, horizon: float) -> float:
        # Mostly in working hours: a time outside 09:00-18:00 Monday-Friday (local time of
        # ``start``) is kept only one time in five, else drawn again.
        start = self.config.origin
        offset = rng.random() * horizon
        for _ in range(8):
            local = start + timedelta(seconds=offset)
            if (local.weekday() < 5 and 9 <= local.hour < 18) or rng.random() < 0.2:
                return offset
            offset = rng.random() * horizon
        return offset

    def _deal(
        self,
        rng: random.Random,
        i: int,
        lead_id: str,
        quality: float,
        slowness: float,
        opp_offset: float,
        horizon: float,
        company: str,
        industry: str,
        size: int,
        channel: SourceChannel,
        team_id: str,
        intent: Intent,
        events: list[tuple[str | None, str, datetime, str]],
        activities: list[Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        cfg = self.config
        start = cfg.origin
        stage_ids = cfg.stage_ids
        n_stages = len(stage_ids)
        team_aes = [a for a in self._aes if a[2] == team_id] or self._aes
        ae_id, ae_skill, _ = team_aes[i % len(team_aes)]
        opp_id = f"opp-{i + 1:07d}"
        created = start + timedelta(seconds=opp_offset)
        # Amount: log-normal body with a Pareto tail (2 % of deals are very large).
        body = rng.lognormvariate(11.0 + 0.8 * quality, 0.9)
        amount = int(body * (rng.paretovariate(1.5) if rng.random() < 0.02 else 1.0)) + 1000
        events.append((None, stage_ids[0], created, ae_id))
        t = opp_offset
        stage = 0
        closed_at: datetime | None = None
        final_stage = stage_ids[0]
        lost_reason = won_reason = None
        p_advance = min(0.97, max(0.05, 0.45 + 0.5 * quality * ae_skill + cfg.win_bias * 0.3))
        while True:
            median_days = (2.0 + 2.0 * stage) * slowness * (1.6 - quality) / ae_skill
            stay = rng.lognormvariate(math.log(median_days * _DAY), 0.7)
            self._stage_activities(rng, t, min(t + stay, horizon), ae_id, quality, activities)
            t += stay
            if t >= horizon:
                break
            at = start + timedelta(seconds=t)
            if rng.random() < p_advance:
                if stage > 0 and rng.random() < cfg.regression_rate:
                    events.append((stage_ids[stage], stage_ids[stage - 1], at, ae_id))
                    stage -= 1
                    final_stage = stage_ids[stage]
                    continue
                if stage + 1 < n_stages:
                    events.append((stage_ids[stage], stage_ids[stage + 1], at, ae_id))
                    stage += 1
                    final_stage = stage_ids[stage]
                    continue
                events.append((stage_ids[stage], cfg.won_stage, at, ae_id))
                final_stage, closed_at = cfg.won_stage, at
                won_reason = rng.choice(_WON_REASONS)
                break
            events.append((stage_ids[stage], cfg.lost_stage, at, ae_id))
            final_stage, closed_at = cfg.lost_stage, at
            lost_reason = rng.choice(_LOST_REASONS)
            break
        stage_entered = events[-1][2]
        next_step = None
        if closed_at is None:
            # Open at the horizon: the next step is due within five days either side of it.
            due = start + timedelta(seconds=horizon + (rng.random() - 0.5) * 10 * _DAY)
            next_step = NextStep._trusted(
                {"action": "follow up", "due_at": max(due, stage_entered)}
            )
        opportunity = {
            "id": opp_id,
            "name": f"{company} - {industry}",
            "created_at": created,
            "owner_id": ae_id,
            "stage": final_stage,
            "stage_entered_at": stage_entered,
            "pipeline": cfg.pipeline_id,
            "lead_id": lead_id,
            "account_id": f"account-{i + 1:07d}",
            "contact_id": f"contact-{i + 1:07d}",
            "team_id": team_id,
            "source": channel.value,
            "needs": f"{industry} needs",
            "intent": intent,
            "expected_amount": Money._trusted(
                {"amount": Decimal(amount), "currency": cfg.currency}
            ),
            "probability": None,
            "expected_close": None,
            "next_step": next_step,
            "closed_at": closed_at,
            "lost_reason": lost_reason,
            "won_reason": won_reason,
            "parent_id": None,
            "tags": frozenset(),
            "custom": FrozenDict(),
            "version": len(events),
        }
        account = {
            "id": f"account-{i + 1:07d}",
            "name": company,
            "created_at": created,
            "industry": industry,
            "company_size": size,
            "region": self._region_of[team_id],
            "owner_id": ae_id,
            "source": channel.value,
            "customer_since": closed_at if won_reason else None,
            "tags": frozenset(),
            "custom": FrozenDict(),
            "version": 1,
        }
        return opportunity, account

    @staticmethod
    def _stage_activities(
        rng: random.Random,
        t0: float,
        t1: float,
        owner: str,
        quality: float,
        activities: list[Any],
    ) -> None:
        if t1 <= t0:
            return
        n = 1 + int(rng.random() * 3)
        times = sorted(t0 + rng.random() * (t1 - t0) for _ in range(n))
        for at in times:
            kind = rng.choices(_KINDS, _KIND_WEIGHTS)[0]
            activities.append(
                (
                    kind,
                    at,
                    owner,
                    _outcome(rng, quality),
                    rng.random() < 0.3 + 0.5 * quality,
                    True,
                    "follow-up",
                    None,
                    ("next contact", at + 3 * _DAY) if rng.random() < 0.3 else None,
                )
            )

    def _activity_records(self, story: _Story) -> Iterator[Activity]:
        start = self.config.origin
        lead_id = story.lead["id"]
        opp_id = story.opportunity["id"] if story.opportunity else None
        for k, (kind, at, owner, outcome, replied, on_opp, notes, variant, nxt) in enumerate(
            story.activities
        ):
            when = start + timedelta(seconds=at)
            next_action = None
            if nxt is not None:
                next_action = NextStep._trusted(
                    {"action": nxt[0], "due_at": start + timedelta(seconds=nxt[1])}
                )
            yield Activity._trusted(
                {
                    "id": f"{lead_id}-a{k:02d}",
                    "kind": kind,
                    "at": when,
                    "owner_id": owner,
                    "lead_id": None if on_opp else lead_id,
                    "opportunity_id": opp_id if on_opp else None,
                    "account_id": None,
                    "contact_id": story.contact["id"],
                    "outcome": outcome,
                    "replied": replied,
                    "notes": notes,
                    "next_action": next_action,
                    "variant": variant,
                    "tags": frozenset(),
                    "version": 1,
                }
            )


def _pick(rng: random.Random, values: Sequence[Any], weights: Sequence[float]) -> Any:
    return rng.choices(values, [max(w, 0.001) for w in weights])[0]


def _outcome(rng: random.Random, quality: float) -> Outcome:
    r = rng.random()
    if r < 0.2 + 0.6 * quality:
        return Outcome.POSITIVE
    if r < 0.85:
        return Outcome.WATCHING
    return Outcome.AVERSE


# --------------------------------------------------------------------------- column projections

_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "leads": (*LEAD_COLUMNS, "variant", "quality"),
    "opportunities": (
        "id",
        "name",
        "created_at",
        "owner_id",
        "team_id",
        "stage",
        "stage_entered_at",
        "source",
        "lead_id",
        "expected_amount",
        "currency",
        "closed_at",
        "lost_reason",
        "won_reason",
        "due_at",
        "version",
    ),
    "stage_events": ("id", "opportunity_id", "from_stage", "to_stage", "at", "seq", "by"),
    "activities": (
        "id",
        "kind",
        "at",
        "owner_id",
        "lead_id",
        "opportunity_id",
        "outcome",
        "replied",
        "variant",
    ),
}


def _lead_rows(company: SampleCompany, story: _Story) -> Iterator[tuple[Any, ...]]:
    d = story.lead
    budget = d["budget"]
    yield (
        d["id"],
        d["created_at"],
        d["source"],
        d["company"],
        d["industry"],
        d["company_size"],
        d["region"],
        _value(d["intent"]),
        int(budget.amount) if budget else None,
        company.config.currency,
        _value(d["authority"]),
        _value(d["need"]),
        _value(d["timeline"]),
        d["owner_id"],
        d["status"].value,
        d["opportunity_id"],
        "B" if "variant:B" in d["tags"] else "A",
        d["custom"]["quality"],
    )


def _opportunity_rows(company: SampleCompany, story: _Story) -> Iterator[tuple[Any, ...]]:
    d = story.opportunity
    if d is None:
        return
    nxt = d["next_step"]
    yield (
        d["id"],
        d["name"],
        d["created_at"],
        d["owner_id"],
        d["team_id"],
        d["stage"],
        d["stage_entered_at"],
        d["source"],
        d["lead_id"],
        int(d["expected_amount"].amount),
        company.config.currency,
        d["closed_at"],
        d["lost_reason"],
        d["won_reason"],
        nxt.due_at if nxt else None,
        d["version"],
    )


def _event_rows(company: SampleCompany, story: _Story) -> Iterator[tuple[Any, ...]]:
    if story.opportunity is None:
        return
    opp_id = story.opportunity["id"]
    for k, (src, dst, at, by) in enumerate(story.events):
        yield (f"{opp_id}-ev{k:02d}", opp_id, src, dst, at, k + 1, by)


def _activity_rows(company: SampleCompany, story: _Story) -> Iterator[tuple[Any, ...]]:
    for a in company._activity_records(story):
        yield (
            a.id,
            a.kind.value,
            a.at,
            a.owner_id,
            a.lead_id,
            a.opportunity_id,
            a.outcome.value if a.outcome else None,
            a.replied,
            a.variant,
        )


def _value(member: Any) -> Any:
    return None if member is None else member.value


_PROJECTIONS: Final[dict[str, Callable[[SampleCompany, _Story], Iterator[tuple[Any, ...]]]]] = {
    "leads": _lead_rows,
    "opportunities": _opportunity_rows,
    "stage_events": _event_rows,
    "activities": _activity_rows,
}


def generate(config: SampleConfig | None = None) -> SampleCompany:
    """A generated company for ``config`` (defaults: 1,000 leads over 90 days from 2025-01-06)."""
    return SampleCompany(config or SampleConfig())
