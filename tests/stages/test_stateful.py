"""A hypothesis state machine drives random moves, legal and illegal, and checks the invariants:
illegal moves change nothing, replaying the events gives the same state, time in stages sums to
the opportunity's age, and versions rise by one per change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pipeline_core.errors import TransitionError, ValidationError
from pipeline_core.ids import SequentialIds
from pipeline_core.records import Money, Opportunity, StageEvent
from pipeline_core.stages import Pipeline, Stage, TransitionRules
from pipeline_core.stages.history import History

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
OPEN = ["new", "qualified", "quote", "negotiation"]
REQUIRED = {"qualified": "needs", "quote": "expected_amount", "lost": "lost_reason"}


def expected_edges(r: TransitionRules) -> set[tuple[str, str]]:
    """The documented meaning of the rules, written independently of the implementation."""
    out: set[tuple[str, str]] = set()
    for i, s in enumerate(OPEN):
        later, earlier = OPEN[i + 1 :], OPEN[:i]
        if r.forward and later:
            out.add((s, later[0]))
        if r.skip_forward:
            out.update((s, t) for t in later)
            out.add((s, "won"))
        if r.forward and not later:
            out.add((s, "won"))
        if r.win_from_open:
            out.add((s, "won"))
        if r.lose_from_open:
            out.add((s, "lost"))
        if r.regression:
            out.update((s, t) for t in earlier)
    if r.reopen:
        out.update(("lost", t) for t in OPEN)
    return out


class Moves(RuleBasedStateMachine):
    pipeline: Pipeline
    opp: Opportunity

    @initialize(
        skip=st.booleans(), regression=st.booleans(), reopen=st.booleans(), win=st.booleans()
    )
    def build(self, skip: bool, regression: bool, reopen: bool, win: bool) -> None:
        rules = TransitionRules(
            skip_forward=skip, regression=regression, reopen=reopen, win_from_open=win
        )
        stages = [
            Stage(s, s.title(), required_fields=[REQUIRED[s]] if s in REQUIRED else [])
            for s in OPEN
        ]
        stages += [
            Stage("won", "Won", kind="won"),
            Stage("lost", "Lost", kind="lost", required_fields=["lost_reason"]),
        ]
        self.pipeline = Pipeline("p", "P", stages, rules=rules, ids=SequentialIds())
        self.edges = expected_edges(rules)
        self.opp = Opportunity(
            id="o",
            name="n",
            created_at=T0,
            owner_id="u",
            stage="new",
            stage_entered_at=T0,
            pipeline="p",
        )
        self.events: list[StageEvent] = [
            StageEvent(id="e0", opportunity_id="o", to_stage="new", at=T0, by="u", pipeline="p")
        ]
        self.now = T0
        self.changes = 0

    @rule(
        to=st.sampled_from([*OPEN, "won", "lost", "ghost"]),
        minutes=st.integers(-30, 60 * 24 * 5),
    )
    def move(self, to: str, minutes: int) -> None:
        target = to
        at = self.now + timedelta(minutes=minutes)
        before = self.opp
        snapshot = before.to_dict()
        legal_edge = (before.stage, target) in self.edges
        fields_ok = target not in REQUIRED or getattr(before, REQUIRED[target]) is not None
        time_ok = at >= before.stage_entered_at
        try:
            new, event = self.pipeline.move(before, target, at=at, by="u", reason="r")
        except (TransitionError, ValidationError) as exc:
            assert not (legal_edge and fields_ok and time_ok), exc
            if isinstance(exc, TransitionError):
                assert (exc.from_stage, exc.to_stage) == (before.stage, target)
                assert exc.unmet
            assert self.opp is before and before.to_dict() == snapshot
            return
        assert legal_edge and fields_ok and time_ok
        assert new.version == before.version + 1
        assert (event.from_stage, event.to_stage, event.at) == (before.stage, target, at)
        assert new.stage == target and new.stage_entered_at == at
        self.opp, self.now = new, at
        self.events.append(event)
        self.changes += 1

    @rule(field=st.sampled_from(sorted(set(REQUIRED.values()))), fill=st.booleans())
    def edit(self, field: str, fill: bool) -> None:
        value = (Money.of(100, "CNY") if field == "expected_amount" else "text") if fill else None
        before = self.opp.version
        self.opp = self.opp.evolve(**{field: value})
        assert self.opp.version == before + 1
        self.changes += 1

    @invariant()
    def replay_gives_the_same_state(self) -> None:
        h = History.of(self.events)
        assert h.matches(self.opp)
        assert h.path[-1] == self.opp.stage

    @invariant()
    def time_in_stages_sums_to_age(self) -> None:
        h = History.of(self.events)
        later = self.now + timedelta(hours=1)
        assert sum(h.time_in_stages(later).values(), timedelta(0)) == later - self.opp.created_at

    @invariant()
    def versions_count_changes(self) -> None:
        assert self.opp.version == 1 + self.changes

    @invariant()
    def closed_iff_final(self) -> None:
        final = self.pipeline.is_final(self.opp.stage)
        assert (self.opp.closed_at is not None) is final
        assert self.opp.probability in (None, self.pipeline.stage(self.opp.stage).probability)


TestMoves = Moves.TestCase
TestMoves.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
