"""History: path, time in stage, state at an instant; bad event lists are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_core.errors import ValidationError
from pipeline_core.records import StageEvent
from pipeline_core.stages.history import (
    History,
    check_events,
    current_stage,
    path,
    state_at,
    time_in_stages,
)

T = datetime(2025, 3, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T + timedelta(days=n)


def chain(*steps: tuple[str, float], opp: str = "o1") -> list[StageEvent]:
    out, prev = [], None
    for i, (stage, d) in enumerate(steps):
        out.append(
            StageEvent(
                id=f"e{i}", opportunity_id=opp, from_stage=prev, to_stage=stage, at=day(d), by="u"
            )
        )
        prev = stage
    return out


def test_path_current_and_time_in_stages() -> None:
    events = chain(("new", 0), ("quote", 2), ("new", 3), ("quote", 7), ("won", 8))
    h = History.of(events)
    assert h.path == ("new", "quote", "new", "quote", "won")
    assert h.current.stage == "won" and h.current.entered_at == day(8) and h.current.events == 5
    assert h.time_in_stages(day(10)) == {
        "new": timedelta(days=2 + 4),
        "quote": timedelta(days=1 + 1),
        "won": timedelta(days=2),
    }
    assert h.age(day(10)) == timedelta(days=10)
    assert h.stage_age(day(10)) == timedelta(days=2)
    assert [v.stage for v in h.visits] == list(h.path)
    assert h.visits[-1].left_at is None
    assert path(events) == h.path and current_stage(events) == h.current
    assert time_in_stages(events, day(10)) == h.time_in_stages(day(10))


def test_state_at_any_instant() -> None:
    events = chain(("new", 0), ("quote", 2), ("won", 5))
    assert state_at(events, day(-1)) is None
    assert state_at(events, day(0)).stage == "new"  # type: ignore[union-attr]
    assert state_at(events, day(1.9)).stage == "new"  # type: ignore[union-attr]
    s = state_at(events, day(2))
    assert s is not None and (s.stage, s.entered_at, s.events) == ("quote", day(2), 2)
    assert state_at(events, day(100)).stage == "won"  # type: ignore[union-attr]
    # Instants in another offset compare by the absolute time.
    east = timezone(timedelta(hours=8))
    assert state_at(events, day(2).astimezone(east) - timedelta(seconds=1)).stage == "new"  # type: ignore[union-attr]


def test_out_of_order_and_broken_chains_are_refused() -> None:
    events = chain(("new", 0), ("quote", 2), ("won", 1))
    with pytest.raises(ValidationError) as info:
        History.of(events)
    assert [p.code for p in info.value.problems] == ["out_of_order"]
    assert "earlier than event 1" in str(info.value)
    mixed = chain(("new", 0)) + chain(("new", 0), ("quote", 1), opp="o2")[1:]
    broken = [
        *chain(("new", 0), ("quote", 1)),
        StageEvent(
            id="x", opportunity_id="o1", from_stage="new", to_stage="won", at=day(3), by="u"
        ),
    ]
    with pytest.raises(ValidationError) as info:
        check_events(mixed)
    assert [p.code for p in info.value.problems] == ["mixed_opportunities"]
    with pytest.raises(ValidationError) as info:
        check_events(broken)
    assert [p.code for p in info.value.problems] == ["broken_chain"]
    with pytest.raises(ValidationError):
        check_events([])


def test_now_before_the_last_event_or_naive_is_refused() -> None:
    h = History.of(chain(("new", 0), ("quote", 2)))
    with pytest.raises(ValidationError):
        h.time_in_stages(day(1))
    with pytest.raises(ValidationError):
        h.age(datetime(2025, 4, 1))
    with pytest.raises(ValidationError):
        h.state_at(datetime(2025, 4, 1))


stages = st.sampled_from(["a", "b", "c", "d"])


@given(
    st.lists(st.tuples(stages, st.integers(0, 10**6)), min_size=1, max_size=30),
    st.integers(0, 10**6),
)
def test_time_in_stages_sums_to_age_and_state_at_agrees(
    steps: list[tuple[str, int]], extra: int
) -> None:
    t, seq = 0, []
    for stage, gap in steps:
        t += gap
        seq.append((stage, t / 86400))
    events = chain(*seq)
    h = History.of(events)
    now = events[-1].at + timedelta(seconds=extra)
    assert sum(h.time_in_stages(now).values(), timedelta(0)) == h.age(now)
    # state_at at each event instant gives the last event at that instant.
    for i, ev in enumerate(events):
        last = max(j for j, e in enumerate(events) if e.at <= ev.at)
        s = h.state_at(ev.at)
        assert s is not None and s.stage == events[last].to_stage and s.events == last + 1
        assert i <= last


def test_non_events_are_named() -> None:
    with pytest.raises(ValidationError) as info:
        check_events([*chain(("new", 0)), "not an event"])  # type: ignore[list-item]
    assert [p.code for p in info.value.problems] == ["event_type"]
    with pytest.raises(ValidationError):
        check_events(["nope"])  # type: ignore[list-item]


def test_event_log_keeps_every_event_and_groups_histories() -> None:
    from pipeline_core.stages.history import EventLog

    a = chain(("new", 0), ("quote", 2), ("won", 5), opp="a")
    b = chain(("new", 1), ("quote", 3), opp="b")
    log = EventLog()
    for pair in zip(a, b, strict=False):
        log.extend(pair)
    log.append(a[2])
    assert len(log) == 5
    assert list(log) == [a[0], b[0], a[1], b[1], a[2]]
    assert log.events("a") == a and log.events("b") == b
    histories = {h.opportunity_id: h for h in log.histories()}
    assert (
        histories["a"].path == ("new", "quote", "won") and histories["b"].current.stage == "quote"
    )
    cols = log.columns()
    assert cols["opportunity_id"] == ["a", "b", "a", "b", "a"]
    assert cols["at"] == [e.at for e in (a[0], b[0], a[1], b[1], a[2])]
    assert set(cols) == {name for name, _ in StageEvent.__pc_fields__}
    assert EventLog().columns()["id"] == []
    with pytest.raises(ValidationError):
        log.append("not an event")  # type: ignore[arg-type]


def test_event_log_appends_create_nothing_for_the_garbage_collector() -> None:
    import gc

    from pipeline_core.stages.history import EventLog

    events = chain(*((("new", "quote")[k % 2], k) for k in range(300)))
    log = EventLog()
    log.append(events[0])  # the columns exist and have grown once
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        for event in events[1:]:
            log.append(event)
        created = gc.get_count()[0] - before
    finally:
        gc.enable()
    # a tuple or object per event would count one tracked allocation per append (299 here)
    assert created < 10
    assert list(log) == events


def test_event_log_extend_is_all_or_nothing() -> None:
    from pipeline_core.stages.history import EventLog

    a = chain(("new", 0), ("quote", 2), opp="a")
    log = EventLog(a[:1])
    with pytest.raises(ValidationError):
        log.extend([a[1], "not an event"])  # type: ignore[list-item]
    assert list(log) == a[:1] and len(log) == 1
    log.extend(iter(a[1:]))
    assert list(log) == a
