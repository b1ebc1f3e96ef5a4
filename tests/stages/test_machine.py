"""Moves: pure, version + 1, a StageEvent per move; illegal moves raise and change nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from pipeline_core.errors import TransitionError, ValidationError
from pipeline_core.ids import SequentialIds
from pipeline_core.records import Opportunity, StageEvent
from pipeline_core.stages import Pipeline

H = timedelta(hours=1)


def test_a_legal_move(pipeline: Pipeline, ready: Opportunity, t0: datetime) -> None:
    before = ready.to_dict()
    new, event = pipeline.move(ready, "qualified", at=t0 + H, by="u2", reason="needs heard")
    assert ready.to_dict() == before  # the input is untouched
    assert (new.stage, new.stage_entered_at, new.version) == (
        "qualified",
        t0 + H,
        ready.version + 1,
    )
    assert new.probability == pipeline.stage("qualified").probability
    assert new.closed_at is None
    assert (event.from_stage, event.to_stage, event.at, event.by, event.reason) == (
        "new",
        "qualified",
        t0 + H,
        "u2",
        "needs heard",
    )
    assert event.opportunity_id == ready.id and event.pipeline == "simple"
    assert event.checks == ("needs present",)
    assert event.id == "event-000001"
    # Everything else is carried over unchanged.
    changed = {k for k, v in new.to_dict().items() if before[k] != v}
    assert changed == {"stage", "stage_entered_at", "probability", "version"}
    # Records built on the fast path are ordinary frozen records, equal to validated ones.
    assert type(new) is Opportunity and type(event) is StageEvent
    assert Opportunity.from_dict(new.to_dict()) == new
    assert StageEvent.from_dict(event.to_dict()) == event
    assert hash(new) == hash(Opportunity.from_dict(new.to_dict()))
    with pytest.raises(AttributeError):
        new.stage = "won"  # type: ignore[misc]


def test_ids_come_from_the_move_or_the_pipeline(
    pipeline: Pipeline, ready: Opportunity, t0: datetime
) -> None:
    _, e1 = pipeline.move(ready, "qualified", at=t0, by="u")
    _, e2 = pipeline.move(ready, "qualified", at=t0, by="u", ids=SequentialIds(width=2))
    assert (e1.id, e2.id) == ("event-000001", "event-01")


def test_unmet_guards_are_all_named(
    make_pipeline: Callable[..., Pipeline], make_opp: Callable[..., Opportunity], t0: datetime
) -> None:
    p = make_pipeline(skip_forward=True)
    opp = make_opp()
    with pytest.raises(TransitionError) as info:
        p.move(opp, "quote", at=t0, by="u")
    err = info.value
    assert (err.from_stage, err.to_stage) == ("new", "quote")
    assert err.unmet == ("expected_amount must be present",)
    assert "'new'" in str(err) and "'quote'" in str(err)
    with pytest.raises(TransitionError) as info:
        p.move(opp, "lost", at=t0, by="u")
    assert info.value.unmet == ("lost_reason must be present",)


def test_no_edge_and_unknown_stages(pipeline: Pipeline, ready: Opportunity, t0: datetime) -> None:
    with pytest.raises(TransitionError) as info:
        pipeline.move(ready, "won", at=t0, by="u")
    assert info.value.unmet == ("no transition from 'new' to 'won' (allowed: 'qualified', 'lost')",)
    with pytest.raises(TransitionError) as info:
        pipeline.move(ready, "nowhere", at=t0, by="u")
    assert "'nowhere' is not a stage" in info.value.unmet[0]
    with pytest.raises(TransitionError) as info:
        pipeline.move(ready, "new", at=t0, by="u")
    assert "already at 'new'" in info.value.unmet[0]
    other = ready.evolve(pipeline="other")
    with pytest.raises(TransitionError) as info:
        pipeline.move(other, "qualified", at=t0, by="u")
    assert "belongs to pipeline 'other'" in info.value.unmet[0]


def _walk(p: Pipeline, opp: Opportunity, stages: list[str], t: datetime) -> Opportunity:
    for i, s in enumerate(stages, 1):
        opp, _ = p.move(opp, s, at=t + i * H, by="u")
    return opp


def test_ended_stays_ended_unless_reopening(
    make_pipeline: Callable[..., Pipeline], ready: Opportunity, t0: datetime
) -> None:
    p = make_pipeline()
    won = _walk(p, ready, ["qualified", "quote", "won"], t0)
    assert won.closed_at == t0 + 3 * H and won.probability == 1.0
    for target in p.stage_ids:
        with pytest.raises(TransitionError) as info:
            p.move(won, target, at=t0 + 4 * H, by="u")
        assert info.value.from_stage == "won"
    with pytest.raises(TransitionError) as info:
        p.move(won, "new", at=t0 + 4 * H, by="u")
    assert "does not allow reopening" in info.value.unmet[0]

    r = make_pipeline(reopen=True)
    lost = _walk(r, ready, ["qualified", "lost"], t0)
    assert lost.closed_at == t0 + 2 * H and lost.probability == 0.0
    back, event = r.move(lost, "qualified", at=t0 + 5 * H, by="u", reason="customer came back")
    assert back.closed_at is None and back.stage == "qualified" and event.from_stage == "lost"
    with pytest.raises(TransitionError):
        r.move(_walk(r, ready, ["qualified", "quote", "won"], t0), "new", at=t0 + 9 * H, by="u")


def test_time_and_actor_are_checked(pipeline: Pipeline, ready: Opportunity, t0: datetime) -> None:
    with pytest.raises(ValidationError) as info:
        pipeline.move(ready, "qualified", at=datetime(2025, 3, 4, 9), by="u")
    assert info.value.problems[0].code == "timezone_aware"
    with pytest.raises(ValidationError) as info:
        pipeline.move(ready, "qualified", at=t0 - timedelta(seconds=1), by="u")
    assert info.value.problems[0].code == "before_stage_entered"
    for by in ("", "two words", 7):
        with pytest.raises(ValidationError):
            pipeline.move(ready, "qualified", at=t0, by=by)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        pipeline.move(ready, "qualified", at=t0, by="u", reason="x" * 2001)
    # The same instant as the stage entry is allowed (several moves in one second).
    assert pipeline.move(ready, "qualified", at=t0, by="u")[0].stage_entered_at == t0


def test_unmet_and_available(pipeline: Pipeline, make_opp: Callable[..., Opportunity]) -> None:
    bare = make_opp()
    assert pipeline.available(bare) == ()
    assert pipeline.unmet(bare, "qualified") == ("needs must be present",)
    assert pipeline.available(make_opp(needs="x", lost_reason="y")) == ("qualified", "lost")
    assert pipeline.unmet(make_opp(needs="x"), "qualified") == ()


def test_named_zones_and_datetime_subclasses_become_fixed_offsets(
    pipeline: Pipeline, ready: Opportunity, t0: datetime
) -> None:
    from datetime import timezone
    from zoneinfo import ZoneInfo

    class Stamp(datetime):  # stands for pandas.Timestamp and other datetime subclasses
        pass

    berlin = (t0 + timedelta(days=1)).astimezone(ZoneInfo("Europe/Berlin"))
    stamp = Stamp.fromisoformat((t0 + timedelta(days=2)).isoformat())
    for at in (berlin, stamp):
        new, event = pipeline.move(ready, "qualified", at=at, by="u")
        for value in (new.stage_entered_at, event.at):
            # exactly what a validated record keeps: a plain datetime with a fixed offset
            assert type(value) is datetime and type(value.tzinfo) is timezone
            assert value == at and value.utcoffset() == at.utcoffset()
        assert Opportunity.from_dict(new.to_dict()) == new
        assert new.to_dict() == Opportunity.from_dict(new.to_dict()).to_dict()


def test_a_move_refuses_the_instants_a_record_refuses() -> None:
    """One rule for instants: a move's ``at`` is read like a record's timestamp, so an offset
    with seconds (local mean time, +08:05:43) or beyond +14:00 is refused naming ``at``, and a
    named zone becomes its fixed offset at that instant."""
    from datetime import UTC, datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from pipeline_core.errors import ValidationError
    from pipeline_core.records import Opportunity
    from pipeline_core.stages import templates

    p = templates.get("small_team")
    t0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
    deal = Opportunity(
        id="o",
        name="A",
        created_at=t0,
        owner_id="amy",
        stage="first_contact",
        stage_entered_at=t0,
        needs="20 charging piles",
    )
    for bad in (timedelta(hours=8, minutes=5, seconds=43), timedelta(hours=15)):
        with pytest.raises(ValidationError) as info:
            p.move(
                deal, "needs_confirmed", at=datetime(2025, 3, 4, 9, tzinfo=timezone(bad)), by="amy"
            )
        assert info.value.fields == ("at",)
    moved, event = p.move(
        deal,
        "needs_confirmed",
        at=datetime(2025, 3, 4, 9, tzinfo=ZoneInfo("Asia/Shanghai")),
        by="amy",
    )
    assert moved.stage_entered_at.utcoffset() == timedelta(hours=8) == event.at.utcoffset()
    assert type(moved.stage_entered_at.tzinfo) is timezone
