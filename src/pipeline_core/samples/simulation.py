"""The simulation behind the sample company: its people, and one story per lead, from the seed."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from pipeline_core._model import build_trusted
from pipeline_core._values import FrozenDict
from pipeline_core.records import (
    Activity,
    ActivityKind,
    Authority,
    Intent,
    LeadStatus,
    Money,
    NeedLevel,
    NextStep,
    Outcome,
    Role,
    SourceChannel,
    Team,
    Timeline,
    User,
)
from pipeline_core.samples._vocabulary import (
    CHANNELS,
    CITIES,
    DAY,
    GIVEN,
    HOUR,
    INDUSTRIES,
    KIND_WEIGHTS,
    KINDS,
    LOST_REASONS,
    PAIN_POINTS,
    REGIONS,
    REP_NAMES,
    SUFFIXES,
    SURNAMES,
    WON_REASONS,
    WORDS,
)
from pipeline_core.samples.config import SampleConfig

__all__ = ["Simulation", "Story"]


@attrs.frozen
class Story:
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


class Simulation:
    """The people of a generated company and the stories of its leads, regenerated from the seed
    on each call of :meth:`stories` (nothing is held between calls)."""

    def __init__(self, config: SampleConfig) -> None:
        self.config = config
        self.teams: list[Team] = []
        self.users: list[User] = []
        rng = random.Random(config.seed ^ 0x5EED)
        self._sdrs: list[tuple[str, float, str]] = []  # (id, skill, team)
        self._aes: list[tuple[str, float, str]] = []
        self._manager_of: dict[str, str] = {}
        self._region_of: dict[str, str] = {}
        names = iter(REP_NAMES * (1 + (config.n_teams * (config.reps_per_team + 1)) // 16))
        for t in range(config.n_teams):
            team_id = f"team-{t + 1}"
            manager_id = f"user-m{t + 1}"
            self.teams.append(
                Team(
                    id=team_id,
                    name=f"Team {REGIONS[t % 4].title()}",
                    manager_id=manager_id,
                    region=REGIONS[t % 4],
                )
            )
            self.users.append(
                User(id=manager_id, name=next(names), role=Role.MANAGER, team_id=team_id)
            )
            self._manager_of[team_id] = manager_id
            self._region_of[team_id] = REGIONS[t % 4]
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

    def stories(self) -> Iterator[Story]:
        cfg = self.config
        rng = random.Random(cfg.seed)
        rand = rng.random
        lognorm = rng.lognormvariate
        start = cfg.origin
        horizon = cfg.days * DAY
        channel_weights = [c[1] for c in CHANNELS]
        currency = cfg.currency
        sdrs = self._sdrs
        for i in range(cfg.n_leads):
            channel, _, shift, slowness = rng.choices(CHANNELS, channel_weights)[0]
            quality = min(0.99, max(0.01, rng.betavariate(2.0, 3.0) + shift))
            offset = self._arrival(rng, horizon)
            created = start + timedelta(seconds=offset)
            sdr_id, sdr_skill, team_id = sdrs[i % len(sdrs)]
            lead_id = f"lead-{i + 1:07d}"
            company = f"{rng.choice(CITIES)}{rng.choice(WORDS)}{rng.choice(SUFFIXES)}"
            person = f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}"
            industry = rng.choice(INDUSTRIES)
            size = max(1, int(lognorm(3.5 + 2.0 * quality, 1.0)))
            has_budget = rand() < 0.45 + 0.45 * quality
            budget = (
                build_trusted(
                    Money,
                    {
                        "amount": Decimal(int(lognorm(10.5 + 1.5 * quality, 0.8))),
                        "currency": currency,
                    },
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
            pains = tuple(p for p in PAIN_POINTS if rand() < 0.15 + 0.3 * quality)
            variant = "B" if rand() < 0.5 else "A"
            activities: list[Any] = []
            events: list[tuple[str | None, str, datetime, str]] = []
            touched = rand() < cfg.touch_rate
            status = LeadStatus.NEW
            opportunity = account = None
            if touched:
                delay = lognorm(math.log(2.0 * HOUR / sdr_skill), 1.2)
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
                        opp_offset = first_touch + lognorm(math.log(2.0 * DAY), 0.8)
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
                "expected_amount": build_trusted(Money, {"amount": amount, "currency": currency})
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
            yield Story(i, lead, contact, account, opportunity, events, activities)

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
            stay = rng.lognormvariate(math.log(median_days * DAY), 0.7)
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
                won_reason = rng.choice(WON_REASONS)
                break
            events.append((stage_ids[stage], cfg.lost_stage, at, ae_id))
            final_stage, closed_at = cfg.lost_stage, at
            lost_reason = rng.choice(LOST_REASONS)
            break
        stage_entered = events[-1][2]
        next_step = None
        if closed_at is None:
            # Open at the horizon: the next step is due within five days either side of it.
            due = start + timedelta(seconds=horizon + (rng.random() - 0.5) * 10 * DAY)
            next_step = build_trusted(
                NextStep, {"action": "follow up", "due_at": max(due, stage_entered)}
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
            "expected_amount": build_trusted(
                Money, {"amount": Decimal(amount), "currency": cfg.currency}
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
            kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
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
                    ("next contact", at + 3 * DAY) if rng.random() < 0.3 else None,
                )
            )

    def activity_records(self, story: Story) -> Iterator[Activity]:
        start = self.config.origin
        lead_id = story.lead["id"]
        opp_id = story.opportunity["id"] if story.opportunity else None
        for k, (kind, at, owner, outcome, replied, on_opp, notes, variant, nxt) in enumerate(
            story.activities
        ):
            when = start + timedelta(seconds=at)
            next_action = None
            if nxt is not None:
                next_action = build_trusted(
                    NextStep, {"action": nxt[0], "due_at": start + timedelta(seconds=nxt[1])}
                )
            yield build_trusted(
                Activity,
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
                },
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
