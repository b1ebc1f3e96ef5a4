"""Lead routing: round-robin, weighted and load-aware strategies behind rules, with a fallback queue.

A :class:`RoutingPolicy` (config as data) lists the reps with their capacity and the rules in
order. Each rule matches lead facts (territory = ``lead.region``, industry, source, grade,
language) and names the reps it routes to and the strategy that picks one of them. A
:class:`Router` holds the running state (open records per rep, assignments in the last 24 hours,
round-robin cursors) and routes one lead at a time:

1. the rules that match the lead are tried in order; in each, only *eligible* reps count: active,
   fewer open records than ``max_open``, fewer assignments in the last 24 hours than the daily quota;
2. the first rule with an eligible rep picks one by its strategy;
3. if no rule matched or none had an eligible rep, the ``default`` reps are tried the same way
   (``default_strategy``);
4. otherwise the lead goes to the fallback queue (``owner_id`` is ``None``).

Every decision says why (``"to bob: rule 'east-china' (round_robin), load 12/20, today 3/5"``; the
load is the count *before* this lead). Nothing is random: for the same policy, state and leads the
decisions are the same. Ties are broken by the order of the reps in the rule.

The daily quota follows Odoo: an explicit ``daily_quota``, or ``round(monthly_capacity / 30)``
(Python's round: half to even), minus the leads assigned to the rep in the 24 hours before the
lead's time.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import attrs
from pydantic import Field

from pipeline_core._definition import Definition, definition, plain, raise_problems
from pipeline_core._deprecation import renamed_params
from pipeline_core._plain_form import check_fields
from pipeline_core._values import FrozenDict
from pipeline_core.clock import require_aware
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.records import Lead

__all__ = [
    "FACTS",
    "RepCapacity",
    "Router",
    "RouterState",
    "RoutingDecision",
    "RoutingPolicy",
    "RoutingRule",
    "Strategy",
    "lead_facts",
]

FACTS: tuple[str, ...] = ("territory", "industry", "source", "grade", "language")
"""The lead facts a rule can match on."""

_DAY = timedelta(hours=24)


class Strategy(StrEnum):
    """How a rule picks one of its eligible reps."""

    ROUND_ROBIN = "round_robin"
    """Next eligible rep after the last one this rule picked, in the rule's order."""
    WEIGHTED = "weighted"
    """Smooth weighted round-robin (nginx): over time each rep gets leads in proportion to weight."""
    LEAST_LOADED = "least_loaded"
    """Lowest open/max_open (or open count without a maximum); ties by the rule's order."""


_Name = Annotated[str, Field(min_length=1, max_length=128)]
_Count = Annotated[int, Field(strict=True, ge=0)]


def _sorted_or_none(values: frozenset[str] | None) -> list[str] | None:
    return None if values is None else sorted(values)


def _set_or_none(values: list[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


_ALWAYS = plain(dump="always")
_FACT = plain(schema=list[str] | None, encode=_sorted_or_none, decode=_set_or_none)


@definition("RepCapacity")
@attrs.frozen
class RepCapacity(Definition):
    """A rep that can receive leads, with weight and limits (``None``: no limit).

    Validated on construction (:class:`ConfigError` naming each bad field)."""

    id: str = attrs.field(metadata=plain(schema=_Name, dump="always"))
    name: str | None = attrs.field(default=None, metadata=_ALWAYS)
    weight: int = attrs.field(
        default=1,
        metadata=plain(schema=Annotated[int, Field(strict=True, ge=1, le=1_000)], dump="always"),
    )
    max_open: int | None = attrs.field(
        default=None, metadata=plain(schema=_Count | None, dump="always")
    )
    monthly_capacity: int | None = attrs.field(
        default=None, metadata=plain(schema=_Count | None, dump="always")
    )
    daily_quota: int | None = attrs.field(
        default=None, metadata=plain(schema=_Count | None, dump="always")
    )
    active: bool = attrs.field(
        default=True, metadata=plain(schema=Annotated[bool, Field(strict=True)], dump="always")
    )

    def __attrs_post_init__(self) -> None:
        raise_problems("RepCapacity", self, (check_fields,))

    @property
    def quota(self) -> int | None:
        """Leads per 24 hours: ``daily_quota``, else ``round(monthly_capacity / 30)``, else none."""
        if self.daily_quota is not None:
            return self.daily_quota
        if self.monthly_capacity is not None:
            return round(self.monthly_capacity / 30)
        return None

    @property
    def label(self) -> str:
        """The name shown in explanations."""
        return self.name or self.id


@definition("RoutingRule")
@attrs.frozen(init=False)
class RoutingRule(Definition):
    """A rule: the facts it matches (no condition on a fact: any value) and the reps it routes to.

    Built as ``RoutingRule(name, reps, strategy, when={fact: values})`` or, in plain data, with one
    key per fact (``{"name": ..., "reps": [...], "territory": ["east"]}``). Validated on
    construction (:class:`ConfigError` naming each bad field: an empty name or rep list, an
    unknown strategy, a condition on a fact not in :data:`FACTS`)."""

    name: str = attrs.field(metadata=plain(schema=_Name))
    reps: tuple[str, ...] = attrs.field(
        metadata=plain(schema=Annotated[list[str], Field(min_length=1)])
    )
    strategy: Strategy = attrs.field(default=Strategy.ROUND_ROBIN, metadata=_ALWAYS)
    territory: frozenset[str] | None = attrs.field(default=None, metadata=_FACT)
    industry: frozenset[str] | None = attrs.field(default=None, metadata=_FACT)
    source: frozenset[str] | None = attrs.field(default=None, metadata=_FACT)
    grade: frozenset[str] | None = attrs.field(default=None, metadata=_FACT)
    language: frozenset[str] | None = attrs.field(default=None, metadata=_FACT)

    def __init__(
        self,
        name: str,
        reps: Iterable[str],
        strategy: Strategy = Strategy.ROUND_ROBIN,
        when: Mapping[str, Iterable[str]] | None = None,
        **facts: Iterable[str] | None,
    ) -> None:
        conditions = {**(when or {}), **facts}
        unknown = [
            Problem((fact,), f"not a lead fact (one of {', '.join(FACTS)})", fact, "unknown")
            for fact in conditions
            if fact not in FACTS
        ]
        if unknown:
            raise ConfigError("RoutingRule", unknown)
        given = {f: None if v is None else frozenset(v) for f, v in conditions.items()}
        self.__attrs_init__(name, tuple(reps), strategy, **given)

    def __attrs_post_init__(self) -> None:
        raise_problems("RoutingRule", self, (check_fields,))

    @property
    def when(self) -> Mapping[str, frozenset[str]]:
        """The conditions: fact → the values it may have (facts without a condition left out)."""
        return FrozenDict({f: v for f in FACTS if (v := getattr(self, f)) is not None})

    def matches(self, facts: Mapping[str, str | None]) -> bool:
        """True when every condition of the rule holds for ``facts``."""
        for fact in FACTS:
            allowed: frozenset[str] | None = getattr(self, fact)
            if allowed is None:
                continue
            value = facts.get(fact)
            if value is None or value not in allowed:
                return False
        return True


def check_rep_ids_unique(policy: RoutingPolicy) -> Iterator[Problem]:
    """No two reps with one id."""
    seen: set[str] = set()
    for i, rep in enumerate(policy.reps):
        if rep.id in seen:
            yield Problem(("reps", i, "id"), "duplicate rep id", rep.id, "duplicate")
        seen.add(rep.id)


def check_rule_names(policy: RoutingPolicy) -> Iterator[Problem]:
    """Rule names are unique and none is the default reps' key in the router state."""
    seen: set[str] = set()
    for i, rule in enumerate(policy.rules):
        if rule.name in seen:
            yield Problem(("rules", i, "name"), "duplicate rule name", rule.name, "duplicate")
        if rule.name == DEFAULT_KEY:
            yield Problem(
                ("rules", i, "name"),
                "reserved for the default reps in the router state",
                rule.name,
                "reserved",
            )
        seen.add(rule.name)


def check_reps_known(policy: RoutingPolicy) -> Iterator[Problem]:
    """Every rep a rule or the default names is one of the policy's reps."""
    known = {rep.id for rep in policy.reps}
    for i, rule in enumerate(policy.rules):
        for j, rep_id in enumerate(rule.reps):
            if rep_id not in known:
                yield Problem(("rules", i, "reps", j), "unknown rep", rep_id, "unknown_rep")
    for j, rep_id in enumerate(policy.default or ()):
        if rep_id not in known:
            yield Problem(("default", j), "unknown rep", rep_id, "unknown_rep")


_POLICY_CHECKS = (check_fields, check_rep_ids_unique, check_rule_names, check_reps_known)


@definition("RoutingPolicy")
@attrs.frozen
class RoutingPolicy(Definition):
    """Reps, rules in order, the default reps and the fallback queue. Build with ``from_dict``.

    ``default`` ``None`` means every rep; an empty tuple means no default (straight to the queue).
    Validated however it is built: :class:`ConfigError` lists every problem (including rules
    naming unknown reps and duplicate rule or rep names). ``from_dict``, ``to_dict`` and
    ``json_schema`` are derived (:mod:`pipeline_core._definition`).
    """

    reps: Annotated[tuple[RepCapacity, ...], Field(min_length=1)]
    rules: tuple[RoutingRule, ...] = attrs.field(default=(), metadata=_ALWAYS)
    default: tuple[str, ...] | None = attrs.field(default=None, metadata=_ALWAYS)
    default_strategy: Strategy = attrs.field(default=Strategy.LEAST_LOADED, metadata=_ALWAYS)
    fallback_queue: str = attrs.field(
        default="unassigned", metadata=plain(schema=_Name, dump="always")
    )

    def __attrs_post_init__(self) -> None:
        raise_problems("RoutingPolicy", self, _POLICY_CHECKS)


@attrs.frozen
class RoutingDecision:
    """Where one lead went and why. ``owner_id`` is ``None`` when it went to ``queue``."""

    lead_id: str
    owner_id: str | None
    rule: str | None
    reason: str
    at: datetime
    queue: str | None = None


def lead_facts(lead: Lead, grade: str | None = None) -> dict[str, str | None]:
    """The routing facts of a lead: territory (``region``), industry, source, grade (argument, or
    ``custom["grade"]``), language (``custom["language"]``)."""
    custom_grade = lead.custom.get("grade")
    language = lead.custom.get("language")
    return {
        "territory": lead.region,
        "industry": lead.industry,
        "source": lead.source,
        "grade": grade if grade is not None else (str(custom_grade) if custom_grade else None),
        "language": str(language) if language else None,
    }


DEFAULT_KEY = "(default)"
"""The key of the policy's default reps in :attr:`RouterState.last` and ``weighted``."""


def _frozen_counters(data: Mapping[str, Mapping[str, int]]) -> FrozenDict:
    return FrozenDict({k: FrozenDict(v) for k, v in dict(data).items()})


@definition("RouterState")
@attrs.frozen
class RouterState(Definition):
    """The rotation state of a :class:`Router`, to save between requests and pass back.

    ``last`` maps a rule name (:data:`DEFAULT_KEY` for the default reps) to the rep it chose last
    by round robin: the next pick starts with the rep after it in the rule's list. ``weighted``
    holds the smooth weighted round-robin counters per rule and rep. Plain data:
    ``to_dict`` / ``from_dict`` (``{"last": {rule: rep}, "weighted": {rule: {rep: int}}}``,
    JSON-compatible, :class:`ConfigError` naming every bad field); reading a state for another
    policy ignores rules and reps it no longer has.
    """

    last: FrozenDict = attrs.field(
        factory=FrozenDict,
        converter=FrozenDict,
        metadata=plain(schema=dict[str, _Name], dump="always"),
    )
    weighted: FrozenDict = attrs.field(
        factory=FrozenDict,
        converter=_frozen_counters,
        metadata=plain(schema=dict[str, dict[str, int]], dump="always"),
    )

    def __attrs_post_init__(self) -> None:
        raise_problems("RouterState", self, (check_fields,))


class Router:
    """Routes leads under a :class:`RoutingPolicy`, keeping load and quota state between calls.

    ``open_counts`` is the current number of open records per rep; ``recent`` the times of
    assignments already made (for the 24-hour quota). The router updates both as it assigns;
    :meth:`close` tells it a rep's record was closed. Not thread-safe: one router per worker.

    Round robin survives a new router per request or cron run: save :attr:`state` after routing
    and pass it back as ``state=``; without a state, the rotation is derived from ``recent`` (for
    each rule, the rule's rep assigned last, latest time, continues the rotation). Without either,
    it starts at the rule's first rep.
    """

    def __init__(
        self,
        policy: RoutingPolicy,
        *,
        open_counts: Mapping[str, int] | None = None,
        recent: Mapping[str, Iterable[datetime]] | None = None,
        state: RouterState | Mapping[str, Any] | None = None,
    ) -> None:
        self.policy = policy
        self._reps = {r.id: r for r in policy.reps}
        self._order = tuple(r.id for r in policy.reps)
        self._open: dict[str, int] = dict.fromkeys(self._order, 0)
        self._recent: dict[str, list[datetime]] = {rid: [] for rid in self._order}
        problems = [
            Problem(("open_counts", rid), "unknown rep", rid, "unknown_rep")
            for rid in (open_counts or {})
            if rid not in self._reps
        ] + [
            Problem(("recent", rid), "unknown rep", rid, "unknown_rep")
            for rid in (recent or {})
            if rid not in self._reps
        ]
        if problems:
            raise ConfigError("Router state", problems)
        for rid, n in (open_counts or {}).items():
            self._open[rid] = n
        for rid, times in (recent or {}).items():
            self._recent[rid] = sorted(require_aware(t, f"recent[{rid}]") for t in times)
        self._current: dict[str, dict[str, int]] = {}
        self._last: dict[str, str] = {}
        if state is not None:
            if not isinstance(state, RouterState):
                state = RouterState.from_dict(state)
            self._last = {k: v for k, v in state.last.items() if v in self._reps}
            self._current = {
                k: {r: n for r, n in v.items() if r in self._reps}
                for k, v in state.weighted.items()
            }
        else:
            self._last = self._derive_last()
        self._limits: dict[str, tuple[int | None, int | None] | None] = {
            r.id: (r.max_open, r.quota) if r.active else None for r in policy.reps
        }

    # -- state -------------------------------------------------------------------------------

    def _groups(self) -> list[tuple[str, Sequence[str]]]:
        groups: list[tuple[str, Sequence[str]]] = [(r.name, r.reps) for r in self.policy.rules]
        default = self._order if self.policy.default is None else self.policy.default
        return [*groups, (DEFAULT_KEY, default)]

    def _derive_last(self) -> dict[str, str]:
        """Per rule, its rep with the latest ``recent`` assignment (ties: the later in the rule's
        list, as the rotation would have reached it last)."""
        out: dict[str, str] = {}
        for key, reps in self._groups():
            best: tuple[datetime, int] | None = None
            for i, rid in enumerate(reps):
                times = self._recent.get(rid)
                if times and (best is None or (times[-1], i) > best):
                    best = (times[-1], i)
                    out[key] = rid
        return out

    @property
    def state(self) -> RouterState:
        """The rotation state to save and pass back as ``Router(..., state=)``."""
        return RouterState(
            last=dict(self._last),
            weighted={k: dict(v) for k, v in self._current.items()},
        )

    def open_count(self, rep_id: str) -> int:
        """Open records the router believes ``rep_id`` holds."""
        return self._open[rep_id]

    @renamed_params(at="as_of")
    def assigned_within_day(self, rep_id: str, as_of: datetime) -> int:
        """Assignments to ``rep_id`` in the 24 hours up to and including ``as_of`` (the old
        keyword ``at=`` is deprecated)."""
        return self._within_day(self._recent[rep_id], as_of)

    @staticmethod
    def _within_day(times: list[datetime], as_of: datetime) -> int:
        # assignments in (as_of - 24 h, as_of] of a sorted list of times
        return bisect.bisect_right(times, as_of) - bisect.bisect_right(times, as_of - _DAY)

    def close(self, rep_id: str, count: int = 1) -> None:
        """Tell the router ``count`` of ``rep_id``'s open records were closed or handed on."""
        self._open[rep_id] = max(0, self._open[rep_id] - count)

    def _eligible(self, rep_id: str, at: datetime) -> bool:
        limits = self._limits[rep_id]
        if limits is None:
            return False  # inactive
        max_open, quota = limits
        if max_open is not None and self._open[rep_id] >= max_open:
            return False
        if quota is None:
            return True
        times = self._recent[rep_id]
        if len(times) < quota:
            return True
        # Only the quota-th latest assignment matters: eligible if it is 24 hours old or more.
        return self._within_day(times, at) < quota

    # -- strategies ---------------------------------------------------------------------------

    def _pick(self, key: str, reps: Sequence[str], strategy: Strategy, at: datetime) -> str | None:
        if strategy is Strategy.ROUND_ROBIN:
            n = len(reps)
            last = self._last.get(key)
            start = (reps.index(last) + 1) % n if last in reps else 0
            for step in range(n):
                i = (start + step) % n
                if self._eligible(reps[i], at):
                    self._last[key] = reps[i]
                    return reps[i]
            return None
        eligible = [i for i, rid in enumerate(reps) if self._eligible(rid, at)]
        if not eligible:
            return None
        if strategy is Strategy.WEIGHTED:
            current = self._current.setdefault(key, {})
            total = 0
            for i in eligible:
                w = self._reps[reps[i]].weight
                total += w
                current[reps[i]] = current.get(reps[i], 0) + w
            chosen = max(eligible, key=lambda i: (current[reps[i]], -i))
            current[reps[chosen]] -= total
            return reps[chosen]

        def load(i: int) -> tuple[float, int, int]:
            rid = reps[i]
            cap = self._reps[rid].max_open
            n = self._open[rid]
            return (n / cap if cap else float(n), n, i)

        return reps[min(eligible, key=load)]

    # -- routing -----------------------------------------------------------------------------

    def route(
        self, lead: Lead, *, at: datetime | None = None, grade: str | None = None
    ) -> RoutingDecision:
        """Route one lead at ``at`` (default: the lead's ``created_at``) and update the state."""
        when = require_aware(at, "at") if at is not None else lead.created_at
        facts = lead_facts(lead, grade)
        tried: list[str] = []
        for rule in self.policy.rules:
            if not rule.matches(facts):
                continue
            chosen = self._pick(rule.name, rule.reps, rule.strategy, when)
            if chosen is not None:
                return self._assign(lead, chosen, rule.name, rule.strategy, when)
            tried.append(f"'{rule.name}'")
        default = self._order if self.policy.default is None else self.policy.default
        if default:
            chosen = self._pick(DEFAULT_KEY, default, self.policy.default_strategy, when)
            if chosen is not None:
                return self._assign(lead, chosen, "default", self.policy.default_strategy, when)
            tried.append("'default'")
        queue = self.policy.fallback_queue
        why = (
            f"no rep under its limits in rule {', '.join(tried)}"
            if tried
            else "no rule matched and no default reps"
        )
        return RoutingDecision(lead.id, None, None, f"to queue '{queue}': {why}", when, queue)

    def route_all(
        self, leads: Iterable[Lead], *, grades: Mapping[str, str] | None = None
    ) -> list[RoutingDecision]:
        """Route leads in the order given, each at its ``created_at``."""
        g = grades or {}
        return [self.route(lead, grade=g.get(lead.id)) for lead in leads]

    def _assign(
        self, lead: Lead, rep_id: str, rule: str, strategy: Strategy, at: datetime
    ) -> RoutingDecision:
        rep = self._reps[rep_id]
        n = self._open[rep_id]
        cap = "∞" if rep.max_open is None else str(rep.max_open)
        reason = f"to {rep.label}: rule '{rule}' ({strategy.value}), load {n}/{cap}"
        quota = rep.quota
        if quota is not None:
            reason += f", today {self.assigned_within_day(rep_id, at)}/{quota}"
        self._open[rep_id] = n + 1
        times = self._recent[rep_id]
        if not times or times[-1] <= at:
            times.append(at)
        else:
            bisect.insort(times, at)
        return RoutingDecision(lead.id, rep_id, rule, reason, at)
