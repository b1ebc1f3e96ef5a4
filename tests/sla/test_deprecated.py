"""The old SLA names and keywords keep working for one release, each with a DeprecationWarning."""

from __future__ import annotations

import importlib
import warnings
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pipeline_core.sla import Agenda, SlaEngine, SlaState, default_policy

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 4, 7, 10, tzinfo=SH)
ENGINE = SlaEngine(default_policy())
STATES = [
    SlaState(subject_id=f"l{i}", kind="lead", created_at=NOW - timedelta(days=i, hours=3))
    for i in range(1, 4)
]

MOVED = [
    ("pipeline_core.sla", "backtest", "pipeline_core.sla.policy_backtest", "backtest_policy"),
    ("pipeline_core.sla", "BacktestReport", "pipeline_core.sla.policy_backtest", "PolicyBacktestReport"),
    ("pipeline_core.sla", "evaluate_batch", "pipeline_core.sla.batch", "evaluate_batch"),
    ("pipeline_core.sla.backtest", "backtest", "pipeline_core.sla.policy_backtest", "backtest_policy"),
    ("pipeline_core.sla.backtest", "BacktestReport", "pipeline_core.sla.policy_backtest",
     "PolicyBacktestReport"),
    ("pipeline_core.sla.batch", "scan_batch", "pipeline_core.sla.batch", "scan_columns"),
    ("pipeline_core.sla.engine", "compute_facts", "pipeline_core.sla.compiled", "compute_facts"),
    ("pipeline_core.sla.risk", "compile_risk", "pipeline_core.sla.compiled", "compile_risk"),
    ("pipeline_core.sla.policy", "LEVEL_ORDER", "pipeline_core.sla.rules", "LEVEL_ORDER"),
    ("pipeline_core.sla.policy", "RiskLevel", "pipeline_core.sla.rules", "RiskLevel"),
    ("pipeline_core.sla.policy", "RiskSignal", "pipeline_core.sla.rules", "RiskSignal"),
    ("pipeline_core.sla.policy", "title_of", "pipeline_core.sla.rules", "title_of"),
]  # fmt: skip


@pytest.mark.parametrize(("old_module", "old", "new_module", "new"), MOVED)
def test_a_moved_name_warns_and_resolves_to_the_new_object(
    old_module: str, old: str, new_module: str, new: str
) -> None:
    module = importlib.import_module(old_module)
    # a shim module lists its old names (``from shim import *``); a live module does not
    shim = old_module == "pipeline_core.sla.backtest"
    assert (old in getattr(module, "__all__", ())) is shim
    if (old_module, old) == ("pipeline_core.sla", "backtest"):
        # importing the shim module pipeline_core.sla.backtest makes Python set this attribute to
        # that module (tested below): remove it to test the package's own alias
        vars(module).pop("backtest", None)
    with pytest.warns(DeprecationWarning, match=old):
        found = getattr(module, old)
    assert found is getattr(importlib.import_module(new_module), new)


def test_star_import_from_the_backtest_shim_gives_the_old_names() -> None:
    from pipeline_core.sla.policy_backtest import PolicyBacktestReport, RuleStats, backtest_policy

    names: dict[str, object] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec("from pipeline_core.sla.backtest import *", names)
    assert names["backtest"] is backtest_policy
    assert names["BacktestReport"] is PolicyBacktestReport
    assert names["RuleStats"] is RuleStats
    assert sorted(str(w.message).split(" is ")[0] for w in caught) == [
        "pipeline_core.sla.backtest.BacktestReport",
        "pipeline_core.sla.backtest.backtest",
    ]


def test_the_backtest_shim_module_is_callable_like_the_old_function() -> None:
    import pipeline_core.sla
    import pipeline_core.sla.backtest
    from pipeline_core.sla.policy_backtest import backtest_policy

    with pytest.warns(DeprecationWarning, match="backtest_policy"):
        old = pipeline_core.sla.backtest(default_policy(), until=NOW)
    assert old == backtest_policy(default_policy(), until=NOW)


def test_now_keyword_of_evaluate_warns_and_means_as_of() -> None:
    with pytest.warns(DeprecationWarning, match="as_of"):
        old = ENGINE.evaluate(STATES[0], now=NOW)
    assert old == ENGINE.evaluate(STATES[0], as_of=NOW) == ENGINE.evaluate(STATES[0], NOW)


def test_now_keyword_of_next_due_warns_and_means_as_of() -> None:
    with pytest.warns(DeprecationWarning, match="as_of"):
        old = ENGINE.next_due(STATES[0], now=NOW)
    assert old == ENGINE.next_due(STATES[0], as_of=NOW)


def test_now_keyword_of_evaluate_batch_warns_and_means_as_of() -> None:
    with pytest.warns(DeprecationWarning, match="as_of"):
        old = sorted(i.id for i in ENGINE.evaluate_batch(STATES, now=NOW))
    assert old == sorted(i.id for i in ENGINE.evaluate_batch(STATES, as_of=NOW))


def test_now_keyword_of_agenda_advance_warns_and_means_as_of() -> None:
    old, new = Agenda(ENGINE), Agenda(ENGINE)
    old.load(STATES)
    new.load(STATES)
    with pytest.warns(DeprecationWarning, match="as_of"):
        reported = old.advance(now=NOW)
    assert reported == new.advance(as_of=NOW)


def test_evaluate_many_warns_and_streams_the_same_items() -> None:
    with pytest.warns(DeprecationWarning, match="evaluate_batch"):
        items = list(ENGINE.evaluate_many(STATES, NOW))
    assert items == [i for s in STATES for i in ENGINE.evaluate(s, NOW)]


def test_module_level_evaluate_batch_warns_and_gives_the_same_items() -> None:
    from pipeline_core.sla.batch import evaluate_batch

    with pytest.warns(DeprecationWarning, match="evaluate_batch"):
        due = evaluate_batch(ENGINE, STATES, NOW)
    assert list(due) == list(ENGINE.evaluate_batch(STATES, NOW))


def test_due_items_now_warns_and_is_as_of() -> None:
    due = ENGINE.evaluate_batch(STATES, NOW)
    with pytest.warns(DeprecationWarning, match="as_of"):
        assert due.now == due.as_of == NOW


def test_scan_and_scan_batch_read_the_old_keyword_now() -> None:
    from pipeline_core.sla import batch
    from pipeline_core.sla.instants import to_us

    engine = SlaEngine(default_policy())
    mark = to_us(NOW)
    with pytest.warns(DeprecationWarning, match=r"scan\(now=\.\.\.\) is deprecated"):
        old = engine.scan(STATES[0], now=mark)
    assert old == engine.scan(STATES[0], as_of=mark)
    with pytest.warns(DeprecationWarning, match="scan_batch is deprecated"):
        scan_batch = batch.scan_batch
    with pytest.warns(DeprecationWarning, match=r"scan_columns\(now=\.\.\.\) is deprecated"):
        due, nexts = scan_batch(engine, STATES, now=[mark] * len(STATES))
    new_due, new_nexts = batch.scan_columns(engine, STATES, [mark] * len(STATES))
    assert list(due) == list(new_due) and nexts == new_nexts
