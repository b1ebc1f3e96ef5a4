"""Hostile definitions (pipelines, policies, scoring models, calendars, team policies) and hostile
command-line arguments."""

from __future__ import annotations

import json
import reprlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hostile import OTHER, TEXT, deep

from pipeline_core.cli import main
from pipeline_core.stages import templates


def _loaders() -> dict[str, Any]:
    from pipeline_core.access import AccessPolicy
    from pipeline_core.assignment.pool import PoolPolicy
    from pipeline_core.assignment.routing import RoutingPolicy
    from pipeline_core.metrics.segments import SegmentPolicy
    from pipeline_core.scoring import ScoreModel, WeightedSum
    from pipeline_core.scoring.predictive import PredictiveModel
    from pipeline_core.sla import Policy
    from pipeline_core.sla.calendar import BusinessCalendar
    from pipeline_core.stages import Pipeline
    from pipeline_core.stages.guards import Condition

    return {
        "Pipeline": (Pipeline.from_dict, templates.data("small_team")),
        "Policy": (Policy.from_dict, {"id": "p", "rules": []}),
        "ScoreModel": (ScoreModel.from_dict, {"name": "m", "criteria": []}),
        "WeightedSum": (WeightedSum.from_dict, {"name": "w", "parts": []}),
        "PredictiveModel": (PredictiveModel.from_dict, {}),
        "Condition": (Condition.from_dict, {"field": "budget", "op": "present"}),
        "BusinessCalendar": (BusinessCalendar.from_dict, {}),
        "PoolPolicy": (PoolPolicy.from_dict, {}),
        "RoutingPolicy": (RoutingPolicy.from_dict, {}),
        "SegmentPolicy": (SegmentPolicy.from_dict, {}),
        "AccessPolicy": (AccessPolicy.from_dict, {}),
    }


def test_hostile_definitions_raise_typed_errors(tally: Any) -> None:
    t = tally("definitions: from_dict")
    values = TEXT[:40] + OTHER + [deep(1000), [deep(1000)]]
    for name, (load, base) in _loaders().items():
        # every top-level field of the definition's full plain form (defaults included), so a
        # definition given as {} is still tried field by field, and one unknown field
        try:
            full = {**load(base).to_dict(), **base}
        except Exception:  # a base that is not complete on its own: its own fields only
            full = dict(base)
        for key in [*full, "extra_settings"]:
            for value in values:
                data = {**full, key: value}
                t.attempt(
                    f"{name}.{key}={reprlib.repr(value)}",
                    lambda f=load, d=data: f(d),
                    check=lambda got, k=key, v=value: _kept_as_given(got, k, v),
                )
        for whole in (deep(1000), [], "text", None, 42):
            t.attempt(f"{name}({reprlib.repr(whole)})", lambda f=load, d=whole: f(d))


def _kept_as_given(definition: Any, key: str, value: Any) -> str | None:
    """A silent change: an accepted hostile scalar that the definition's plain form does not
    give back as it was given (a number read from text, a stripped or re-cased string ...)."""
    if isinstance(value, list | dict) or value is None:
        return None  # containers and null: their meaning is the definition's own
    back = definition.to_dict().get(key)
    numbers = (int, float)
    same_kind = type(back) is type(value) or (  # a whole number where a real is expected
        type(value) is int and type(back) is float
    )
    if (
        back == value
        and same_kind
        and isinstance(value, (*numbers, str, bool)) == isinstance(back, (*numbers, str, bool))
    ):
        return None
    return f"{key}: {value!r} came back as {back!r}"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo store (generated once for the module)."""
    from pipeline_core import storage
    from pipeline_core.records import Lead

    path = tmp_path_factory.mktemp("cli") / "store.db"
    store = storage.open(f"sqlite:///{path}")
    for i in range(5):
        store.leads.add(
            Lead.from_dict(
                {
                    "id": f"lead-{i}",
                    "created_at": "2025-01-06T09:00:00+08:00",
                    "source": "web",
                    "company": f"Co\x1b[2J{i}",
                }
            )
        )
    from pipeline_core.records import Opportunity

    first = templates.get("small_team").first.id
    store.opportunities.add(
        Opportunity.from_dict(
            {
                "id": "opp-1",
                "name": "Deal",
                "created_at": "2025-01-06T09:00:00+08:00",
                "owner_id": "u1",
                "stage": first,
                "stage_entered_at": "2025-01-06T09:00:00+08:00",
                "pipeline": "small_team",
            }
        )
    )
    store.close()
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


ARGS: list[tuple[list[str], set[int]]] = (
    [
        (["funnel", "--horizon", v], {2})
        for v in ("inf", "-inf", "nan", "1e20", "-1", "１", "1_0", "0x10", "")
    ]
    + [
        (["score", "--top", v], {2})
        for v in ("-1", "-999", "1e3", "１", "nan", "99999999999999999999")
    ]
    + [(["sla", "--limit", v], {2}) for v in ("-1", "-0.5", "x")]
    + [
        (["sla", "--now", v], {2})
        for v in (
            "9999-12-31T23:59:59-12:00",
            "0001-01-01T00:00:00+14:00",
            "45663",
            "1736125200",
            "2025-01-06T09:00:00",
            "2025-01-06T09:00:00+16:00",
            "２０２５-01-06T09:00:00+08:00",
            "\x1b[2J",
            "",
        )
    ]
    + [
        (["funnel", "--start", "10000-01-01T00:00:00Z"], {2}),
        (["funnel", "--end", "45663"], {2}),
        (["score", "--top", "0"], {0}),
        (["sla", "--now", "2025-04-06T00:00:00+08:00", "--limit", "0"], {0}),
        (["funnel", "--horizon", "30", "--pipeline", "small_team"], {0}),
        (["import", "lead", "/nonexistent/x.csv"], {1, 2}),
        (["export", "no_such_kind", "x.csv"], {2}),
        (["check", "--store", "nosuch://x"], {2}),
        (["check", "--store", "memory://"], {0}),
        (["score", "--store", "sqlite:///\x1b[2J.db"], {2}),
    ]
)


def test_hostile_arguments_give_usage_errors(
    tally: Any, demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = tally("cli: arguments")
    store = ["--store", f"sqlite:///{demo_db}"]
    for argv, expected in ARGS:
        full = argv if "--store" in argv or argv[0] in ("export",) else argv + store

        def run(full: list[str] = full) -> tuple[int, str, str]:
            return _run(full, capsys)

        def check(
            result: tuple[int, str, str], argv: list[str] = argv, expected: set[int] = expected
        ) -> str | None:
            code, out, err = result
            if "unexpected" in err:
                return f"{argv}: unexpected error: {err.strip()[:200]}"
            if code not in expected:
                return f"{argv}: exit {code}, expected {sorted(expected)}: {err.strip()[:200]}"
            if "\x1b" in out or "\x1b" in err or "\x07" in out + err:
                return f"{argv}: printed a control character"
            return None

        t.attempt(" ".join(argv), run, check, refused=lambda result: result[0] == 2)


def test_the_cli_prints_no_control_characters(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A store written before ids were checked: an id holding ESC sequences and a BEL.
    old = tmp_path / "old.db"
    old.write_bytes(demo_db.read_bytes())
    with sqlite3.connect(old) as conn:
        doc = json.loads(conn.execute("SELECT doc FROM leads WHERE id = 'lead-0'").fetchone()[0])
        doc["id"] = "lead-\x1b]0;owned\x07\x1b[2J"
        conn.execute(
            "UPDATE leads SET id = ?, doc = ? WHERE id = 'lead-0'", (doc["id"], json.dumps(doc))
        )
    code, out, err = _run(["check", "--store", f"sqlite:///{old}"], capsys)
    assert code == 3  # found: listed, nothing changed
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "lead-\\x1b]0;owned\\x07" in out  # shown, escaped
    code, out, err = _run(["check", "--store", f"sqlite:///{old}", "--json"], capsys)
    report = json.loads(out)
    # the access audit cannot read a store holding a refused record: it says it did not run
    assert [f["code"] for f in report["findings"] if f["auditor"] == "access"] == ["audit_not_run"]
    report["findings"] = [f for f in report["findings"] if f["auditor"] == "stored_values"]
    assert len(report["findings"]) == 1 and report["findings"][0]["field"] == "id"
    assert (
        report["findings"][0]["value"] == "lead-\x1b]0;owned\x07\x1b[2J"
    )  # JSON keeps the value exactly
    with sqlite3.connect(old) as conn:  # nothing was changed
        assert conn.execute("SELECT count(*) FROM leads WHERE id LIKE 'lead-%'").fetchone()[0] == 5
