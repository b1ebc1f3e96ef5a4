"""Stage moves: 1,000,000 moves over 100,000 opportunities, one guard per edge, full history kept.

The same states, edges and guard are run in ``pipeline_core.stages`` and in the two libraries users
reach for, ``transitions`` (0.9.x) and ``python-statemachine`` (3.x):

- states: new -> qualified -> proposal -> negotiation -> won, any open -> lost, moves back allowed;
- every edge has one guard: the opportunity has an expected amount;
- each opportunity makes the same 10 moves (forward, back, forward ... won), interleaved across
  opportunities (move k of every opportunity, then move k + 1);
- full history kept: ours keeps every :class:`~pipeline_core.records.StageEvent` (id, from, to,
  at, by, reason, pipeline, checks), in an :class:`~pipeline_core.stages.history.EventLog` or as a
  plain list of records (both rows shown); the baselines append ``(id, state, at, by)`` tuples from
  an after-transition callback;
- event ids: ours makes one per move (the default ``UuidIds``, or ``SequentialIds``); the
  baselines make none.

The default set-up (EventLog, UUID4 ids) is the row the target is read from. An EventLog keeps
columns, so keeping the history allocates nothing the cyclic garbage collector tracks and the
collector does not run at all during the million moves; a plain list of ``StageEvent`` records
(the second row) makes it run about 1,300 young and 10 full collections, about a quarter of that
row's time at 100,000 live opportunities.

Ours builds a new immutable opportunity (version + 1) and a stage event per move; the baselines
mutate a model in place. Set-up (building 100,000 machines / records) is timed separately.
Memory per opportunity is measured on a smaller run (it is linear in the count) with tracemalloc.
"""

from __future__ import annotations

import gc
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks._harness import Row, peak_memory
from pipeline_core.ids import SequentialIds, UuidIds
from pipeline_core.records import Money, Opportunity
from pipeline_core.stages import Condition, Pipeline, Stage, TransitionRules
from pipeline_core.stages.history import EventLog

OPEN = ["new", "qualified", "proposal", "negotiation"]
STATES = [*OPEN, "won", "lost"]
PATH = [
    "qualified",
    "new",
    "qualified",
    "proposal",
    "qualified",
    "proposal",
    "negotiation",
    "proposal",
    "negotiation",
    "won",
]
T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
TIMES = [T0 + timedelta(hours=i + 1) for i in range(len(PATH))]


def _edges() -> list[tuple[str, str]]:
    out = []
    for i, s in enumerate(OPEN):
        if i + 1 < len(OPEN):
            out.append((s, OPEN[i + 1]))
        else:
            out.append((s, "won"))
        out.append((s, "lost"))
        out.extend((s, t) for t in OPEN[:i])
    return out


# --------------------------------------------------------------------------- ours


def _pipeline(ids: Any) -> Pipeline:
    guard = [Condition("expected_amount", "present")]
    return Pipeline(
        "bench",
        "Bench",
        [Stage(s, s.title()) for s in OPEN]
        + [Stage("won", "Won", kind="won"), Stage("lost", "Lost", kind="lost")],
        rules=TransitionRules(regression=True),
        entry_guards={s: guard for s in STATES},  # one guard on every edge
        ids=ids,
    )


def _our_setup(n: int) -> list[Opportunity]:
    amount = Money.of("1000.00", "CNY")
    proto = Opportunity(
        id="opp-0",
        name="Deal",
        created_at=T0,
        owner_id="u1",
        stage="new",
        stage_entered_at=T0,
        pipeline="bench",
        expected_amount=amount,
    )
    fields = {name: getattr(proto, name) for name, _ in Opportunity.__pc_fields__}
    trusted = Opportunity._trusted
    return [trusted({**fields, "id": f"opp-{i}"}) for i in range(n)]


def _our_moves(p: Pipeline, opps: list[Opportunity], history: Any = None) -> Any:
    """Every move of every opportunity; the events go to ``history`` (a list by default)."""
    if history is None:
        history = []
    append = history.append
    move = p.move
    for to, at in zip(PATH, TIMES, strict=True):
        for i, opp in enumerate(opps):
            new, event = move(opp, to, at=at, by="u1")
            opps[i] = new
            append(event)
    return history


# --------------------------------------------------------------------------- transitions


def _transitions_setup(n: int, history: list[Any]) -> list[Any]:
    from transitions import Machine

    class Deal:
        def __init__(self, i: int) -> None:
            self.id = f"opp-{i}"
            self.expected_amount = 1000

        def has_amount(self, at: Any = None, by: Any = None) -> bool:
            return self.expected_amount is not None

        def record(self, at: Any = None, by: Any = None) -> None:
            history.append((self.id, self.state, at, by))  # type: ignore[attr-defined]

    deals = [Deal(i) for i in range(n)]
    Machine(
        model=deals,
        states=STATES,
        transitions=[
            {"trigger": f"to_{b}", "source": a, "dest": b, "conditions": "has_amount"}
            for a, b in _edges()
        ],
        initial="new",
        auto_transitions=False,
        after_state_change="record",
    )
    return deals


def _transitions_moves(deals: list[Any]) -> None:
    for to, at in zip(PATH, TIMES, strict=True):
        trigger = f"to_{to}"
        for deal in deals:
            if not getattr(deal, trigger)(at=at, by="u1"):
                raise AssertionError("guard failed")


# --------------------------------------------------------------------------- python-statemachine


def _statemachine_class(history: list[Any]) -> type[Any]:
    from statemachine import State, StateMachine

    states = {s: State(initial=(s == "new"), final=(s in ("won", "lost"))) for s in STATES}
    namespace: dict[str, Any] = dict(states)
    by_target: dict[str, list[str]] = {}
    for a, b in _edges():
        by_target.setdefault(b, []).append(a)
    for b, sources in by_target.items():
        event = None
        for a in sources:
            t = states[a].to(states[b], cond="has_amount")
            event = t if event is None else event | t
        namespace[f"to_{b}"] = event

    def after_transition(self: Any, target: Any, at: Any = None, by: Any = None) -> None:
        history.append((self.model.id, target.id, at, by))

    namespace["after_transition"] = after_transition
    return type("Deal", (StateMachine,), namespace)


class _Model:
    __slots__ = ("expected_amount", "id", "state")

    def __init__(self, i: int) -> None:
        self.id = f"opp-{i}"
        self.expected_amount = 1000
        self.state = None

    def has_amount(self) -> bool:
        return self.expected_amount is not None


def _statemachine_setup(n: int, history: list[Any]) -> list[Any]:
    cls = _statemachine_class(history)
    return [cls(_Model(i)) for i in range(n)]


def _statemachine_moves(machines: list[Any]) -> None:
    for to, at in zip(PATH, TIMES, strict=True):
        event = f"to_{to}"
        for sm in machines:
            sm.send(event, at=at, by="u1")


# --------------------------------------------------------------------------- run


def _timed(setup: Any, moves_fn: Any) -> tuple[float, float, Any]:
    """Set up fresh objects, then run the moves: (set-up seconds, move seconds, result)."""
    gc.collect()
    t0 = time.perf_counter()
    objs = setup()
    t1 = time.perf_counter()
    result = moves_fn(objs)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, (objs, result)


def run(scale: float) -> list[Row]:
    """Rows: moves (ours with UUID and with sequential event ids vs the faster baseline),
    set-up, and memory per opportunity."""
    n = max(100, int(100_000 * scale))
    moves = n * len(PATH)
    # Repeats are interleaved (ours, transitions, python-statemachine, ours ...) so that load from
    # other processes hits every contender alike; each figure is the median of its repeats.
    repeat = 3
    repeat_sm = 1 if scale >= 0.5 else 3  # python-statemachine needs minutes at full scale
    repeat_tr = 1 if scale >= 0.5 else 3  # transitions' set-up grows faster than n (3 min at 100k)
    # A python-statemachine machine takes ~70 KB: 100,000 of them would need ~7 GB, so it runs on
    # at most 10,000 machines and its times are scaled to n (the note says so).
    n_sm = min(n, 10_000)
    series: dict[str, list[tuple[float, float]]] = {
        "log": [],
        "list": [],
        "uuid": [],
        "transitions": [],
        "statemachine": [],
    }
    for r in range(repeat):
        for label, factory, log in (
            ("uuid", UuidIds, True),
            ("log", SequentialIds, True),
            ("list", SequentialIds, False),
        ):
            p = _pipeline(factory())
            setup_s, moves_s, (opps, history) = _timed(
                lambda: _our_setup(n),
                lambda opps, p=p, log=log: _our_moves(p, opps, EventLog() if log else []),
            )
            assert all(o.stage == "won" and o.version == 1 + len(PATH) for o in opps)
            assert len(history) == moves
            series[label].append((setup_s, moves_s))
            del opps, history
        if r >= repeat_tr:
            continue
        tr_hist: list[Any] = []
        setup_s, moves_s, _ = _timed(lambda h=tr_hist: _transitions_setup(n, h), _transitions_moves)
        assert len(tr_hist) == moves
        series["transitions"].append((setup_s, moves_s))
        if r < repeat_sm:
            sm_hist: list[Any] = []
            setup_s, moves_s, _ = _timed(
                lambda h=sm_hist: _statemachine_setup(n_sm, h), _statemachine_moves
            )
            assert len(sm_hist) == n_sm * len(PATH)
            # scaled linearly to n (per-machine set-up and per-move cost do not depend on n)
            series["statemachine"].append((setup_s * n / n_sm, moves_s * n / n_sm))

    def med(label: str, k: int) -> float:
        return statistics.median(x[k] for x in series[label])

    tr, sm = med("transitions", 1), med("statemachine", 1)
    names = {"transitions": "transitions 0.9", "statemachine": "python-statemachine 3.x"}
    fast, slow = ("transitions", "statemachine") if tr <= sm else ("statemachine", "transitions")
    base, other = med(fast, 1), med(slow, 1)
    sm_note = f", python-statemachine timed on {n_sm:,} and scaled" if n_sm < n else ""
    rows: list[Row] = []
    label = f"stages: {moves:,} moves over {n:,} opportunities, a guard per edge, full history"
    for key, text in (
        ("uuid", "history in an EventLog, UUID4 ids (default)"),
        ("log", "history in an EventLog, SequentialIds"),
        ("list", "history as a list of StageEvent, SequentialIds"),
    ):
        ours = med(key, 1)
        rows.append(
            Row(
                f"{label} - {text}",
                ours,
                base,
                names[fast],
                f"{base / ours:.1f}x faster than {names[fast]}, {other / ours:.1f}x than "
                f"{names[slow]} ({other:.2f} s){sm_note}; {ours / moves * 1e6:.2f} µs/move",
            )
        )
    tr_set, sm_set = med("transitions", 0), med("statemachine", 0)
    rows.append(
        Row(
            f"stages: set-up of {n:,} opportunities / machines",
            med("log", 0),
            min(tr_set, sm_set),
            names["transitions"] if tr_set <= sm_set else names["statemachine"],
            f"transitions {tr_set:.2f} s, python-statemachine {sm_set:.2f} s",
        )
    )

    # Memory per opportunity with its 10-entry history (linear in n; measured on up to 10,000).
    m = min(n, 10_000)

    def ours_mem() -> Any:
        opps = _our_setup(m)
        return opps, _our_moves(_pipeline(UuidIds()), opps, EventLog())

    def tr_mem() -> Any:
        history: list[Any] = []
        deals = _transitions_setup(m, history)
        _transitions_moves(deals)
        return deals, history

    def sm_mem() -> Any:
        history: list[Any] = []
        machines = _statemachine_setup(m, history)
        _statemachine_moves(machines)
        return machines, history

    peaks = {
        k: peak_memory(fn)[1] / m
        for k, fn in (("ours", ours_mem), ("transitions", tr_mem), ("statemachine", sm_mem))
    }
    best = min(("transitions", "statemachine"), key=peaks.__getitem__)
    rows.append(
        Row(
            "stages: memory per opportunity incl. its 10 history entries",
            peaks["ours"],
            peaks[best],
            names[best],
            f"tracemalloc peak / {m:,}; transitions {peaks['transitions']:,.0f} B, "
            f"python-statemachine {peaks['statemachine']:,.0f} B; ours: records + EventLog, UUID4 ids",
            unit="B",
        )
    )
    return rows
