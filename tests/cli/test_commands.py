"""score, sla, funnel, import, export, validate, diagram: --json against the library, exit codes."""

from __future__ import annotations

import io
import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline_core import metrics as m
from pipeline_core import storage
from pipeline_core.cli import build_parser
from pipeline_core.cli._common import ProgressBar
from pipeline_core.errors import ConfigError
from pipeline_core.scoring import BANT, ScoreModel
from pipeline_core.sla import (
    Policy,
    SlaEngine,
    default_calendar,
    default_policy,
    state_from_records,
)
from pipeline_core.stages import Pipeline, templates
from pipeline_core.storage.io import export_records

KINDS = ("reminder", "breach", "escalation", "risk")


def _records(url: str) -> dict[str, list[Any]]:
    store = storage.open(url)
    try:
        return {
            "leads": list(store.leads.all()),
            "opportunities": list(store.opportunities.all()),
            "stage_events": list(store.stage_events.all()),
            "activities": list(store.activities.all()),
            "users": list(store.users.all()),
        }
    finally:
        store.close()


# -- score ------------------------------------------------------------------------------------


def test_score_store_json_matches_the_model(cli: Any, demo: dict[str, Any]) -> None:
    code, out, err = cli(["score", "--store", demo["url"], "--json"])
    assert code == 0, err
    got = json.loads(out)
    model = BANT.default()
    leads = _records(demo["url"])["leads"]
    expected = sorted(leads, key=lambda lead: (-model.score_units(lead), lead.id))
    assert [r["id"] for r in got["leads"]] == [lead.id for lead in expected]
    assert [r["score"] for r in got["leads"]] == model.score_many(expected)
    assert [r["grade"] for r in got["leads"]] == [model.score(lead).grade.name for lead in expected]
    grades = Counter(model.score(lead).grade.name for lead in leads)
    assert got["grades"] == {g: grades.get(g, 0) for g in "ABC"}
    assert got["count"] == len(leads)


def test_score_csv_with_explain_and_top(cli: Any, demo: dict[str, Any], tmp_path: Path) -> None:
    store = storage.open(demo["url"])
    try:
        export_records(store, "lead", tmp_path / "leads.csv")
        leads = list(store.leads.all())
    finally:
        store.close()
    code, out, err = cli(
        ["score", str(tmp_path / "leads.csv"), "--top", "2", "--explain", "--json"]
    )
    assert code == 0, err
    got = json.loads(out)["leads"]
    model = BANT.default()
    best = sorted(leads, key=lambda lead: (-model.score_units(lead), lead.id))[:2]
    assert [r["explain"] for r in got] == [model.score(lead).explain() for lead in best]
    code, out, _ = cli(["score", str(tmp_path / "leads.csv"), "--top", "1"])
    assert code == 0 and best[0].id in out


def test_score_with_a_model_file(cli: Any, demo: dict[str, Any], tmp_path: Path) -> None:
    data = BANT.default().to_dict()
    data["name"] = "budget-only"
    data["criteria"] = [c for c in data["criteria"] if c["name"] == "budget"]
    (tmp_path / "model.json").write_text(json.dumps(data), encoding="utf-8")
    code, out, err = cli(
        ["score", "--store", demo["url"], "--model", str(tmp_path / "model.json"), "--json"]
    )
    assert code == 0, err
    model = ScoreModel.from_dict(data)
    got = {r["id"]: r["score"] for r in json.loads(out)["leads"]}
    for lead in _records(demo["url"])["leads"]:
        assert got[lead.id] == model.score_many([lead])[0]


def test_score_bad_csv_lists_every_bad_row(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "id,created_at,source,budget.amount,budget.currency\n"
        "L1,2025-01-06T09:00:00+08:00,website,50000,CNY\n"
        "L2,2025-01-06 9am,event,1,CNY\n"
        "L3,2025-01-06T09:00:00+08:00,website,12.345,CNY\n",
        encoding="utf-8",
    )
    code, out, err = cli(["score", str(path), "--json"])
    assert code == 2
    assert "row 3, created_at" in err and "row 4, budget.amount" in err and "Traceback" not in err
    fields = {p["field"] for p in json.loads(out)["error"]["problems"]}
    assert fields == {"[3].created_at", "[4].budget.amount"}


@pytest.mark.parametrize("name", ["missing.csv", "leads.txt"])
def test_score_missing_or_unknown_file_is_bad_input(cli: Any, tmp_path: Path, name: str) -> None:
    if name.endswith(".txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    code, _, err = cli(["score", str(tmp_path / name)])
    assert code == 2 and "LEADS" in err


# -- sla --------------------------------------------------------------------------------------


def _sla_items(records: dict[str, list[Any]], now: datetime, policy: Policy) -> list[Any]:
    pipeline = templates.get("small_team")
    engine = SlaEngine(policy, pipeline=pipeline)
    managers = {u.id: u.manager_id for u in records["users"] if u.manager_id}
    acts: defaultdict[str, list[Any]] = defaultdict(list)
    for a in records["activities"]:
        acts[a.lead_id or ""].append(a)
        if a.opportunity_id:
            acts[a.opportunity_id].append(a)
    items = []
    for lead in records["leads"]:
        items += engine.evaluate(
            state_from_records(
                lead,
                acts[lead.id],
                grade=BANT.default().score(lead).grade.name,
                grade_at=lead.created_at,
                manager_id=managers.get(lead.owner_id or ""),
            ),
            now,
        )
    for o in records["opportunities"]:
        items += engine.evaluate(
            state_from_records(o, acts[o.id], manager_id=managers.get(o.owner_id)), now
        )
    return items


def test_sla_json_matches_the_engine(cli: Any, demo: dict[str, Any]) -> None:
    now = demo["summary"]["now"]
    code, out, err = cli(["sla", "--store", demo["url"], "--now", now, "--json"])
    assert code == 0, err
    got = json.loads(out)
    items = _sla_items(
        _records(demo["url"]),
        datetime.fromisoformat(now),
        default_policy(default_calendar(country="CN")),
    )
    kinds = Counter(i.kind for i in items)
    assert got["counts"] == {k: kinds.get(k, 0) for k in KINDS}
    assert {i["id"] for i in got["items"]} == {i.id for i in items}
    assert got["pipeline"] == "small_team"


def test_sla_filters_and_a_policy_file(cli: Any, demo: dict[str, Any], tmp_path: Path) -> None:
    now = demo["summary"]["now"]
    data = default_policy().to_dict()
    (tmp_path / "policy.json").write_text(json.dumps(data), encoding="utf-8")
    code, out, err = cli(
        [
            "sla",
            "--store",
            demo["url"],
            "--now",
            now,
            "--policy",
            str(tmp_path / "policy.json"),
            "--kind",
            "breach",
            "--json",
        ]
    )
    assert code == 0, err
    got = json.loads(out)
    records = _records(demo["url"])
    policy = Policy.from_dict(data, stages=templates.get("small_team"))
    breaches = [
        i for i in _sla_items(records, datetime.fromisoformat(now), policy) if i.kind == "breach"
    ]
    assert sorted(i["id"] for i in got["items"]) == sorted(i.id for i in breaches)
    assert all(i["kind"] == "breach" for i in got["items"])
    code, out, _ = cli(["sla", "--store", demo["url"], "--now", now, "--limit", "2"])
    assert code == 0 and "breaches" in out and "risk flags" in out


@pytest.mark.parametrize("now", ["2025-04-06", "yesterday"])
def test_sla_bad_now_names_the_option(cli: Any, demo: dict[str, Any], now: str) -> None:
    code, _, err = cli(["sla", "--store", demo["url"], "--now", now])
    assert code == 2 and "--now" in err


# -- funnel -----------------------------------------------------------------------------------


def test_funnel_json_matches_metrics(cli: Any, demo: dict[str, Any]) -> None:
    code, out, err = cli(["funnel", "--store", demo["url"], "--json"])
    assert code == 0, err
    got = json.loads(out)
    r = _records(demo["url"])
    pipeline = templates.get("small_team")
    start = datetime.fromisoformat(got["start"])
    end = datetime.fromisoformat(got["end"])
    assert start == min(o.created_at for o in r["opportunities"])
    assert all(o.created_at < end for o in r["opportunities"])
    funnel = m.cohort_funnel(
        r["opportunities"], r["stage_events"], stages=pipeline, start=start, end=end
    )
    assert got["rows"] == json.loads(json.dumps(funnel.records()))
    assert got["bottleneck"] == funnel.conversion().bottleneck()
    # the whole quarter, as the demo counted it
    assert got["rows"] == demo["summary"]["funnel"]["rows"]


def test_funnel_by_source_with_horizon(cli: Any, demo: dict[str, Any]) -> None:
    code, out, err = cli(
        ["funnel", "--store", demo["url"], "--by", "source", "--horizon", "30", "--json"]
    )
    assert code == 0, err
    got = json.loads(out)
    r = _records(demo["url"])
    funnel = m.cohort_funnel(
        r["opportunities"],
        r["stage_events"],
        stages=templates.get("small_team"),
        start=datetime.fromisoformat(got["start"]),
        end=datetime.fromisoformat(got["end"]),
        horizon=timedelta(days=30),
        by=("source",),
    )
    assert got["rows"] == json.loads(json.dumps(funnel.records()))
    assert got["bottlenecks"] == json.loads(json.dumps(funnel.conversion().bottlenecks()))
    code, out, _ = cli(["funnel", "--store", demo["url"], "--by", "source"])
    assert code == 0 and "bottleneck source=" in out


def test_funnel_bad_input(cli: Any, demo: dict[str, Any], tmp_path: Path) -> None:
    code, _, err = cli(
        [
            "funnel",
            "--store",
            demo["url"],
            "--start",
            "2025-03-01T00:00:00+08:00",
            "--end",
            "2025-02-01T00:00:00+08:00",
        ]
    )
    assert code == 2 and "--end" in err
    code, _, err = cli(["funnel", "--store", f"sqlite:///{tmp_path / 'nope.db'}"])
    assert code == 2 and "--store" in err
    code, _, err = cli(["funnel", "--store", demo["url"], "--pipeline", "nope"])
    assert code == 2 and "--pipeline" in err
    code, _, err = cli(["funnel", "--store", "mysql://x"])
    assert code == 2 and "--store" in err


# -- import / export --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_export_then_import_round_trip(
    cli: Any, demo: dict[str, Any], tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"opps.{suffix}"
    code, out, err = cli(["export", "opportunity", str(path), "--store", demo["url"], "--json"])
    assert code == 0, err
    original = _records(demo["url"])["opportunities"]
    assert json.loads(out)["written"] == len(original)
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    code, out, err = cli(["import", "opportunity", str(path), "--store", copy, "--json"])
    assert code == 0, err
    assert json.loads(out) | {"file": None} == {
        "kind": "opportunity",
        "file": None,
        "store": copy,
        "rows": len(original),
        "written": len(original),
        "skipped": [],
    }
    assert _records(copy)["opportunities"] == original


def test_export_to_stdout(cli: Any, demo: dict[str, Any]) -> None:
    code, out, err = cli(["export", "team", "-", "--format", "jsonl", "--store", demo["url"]])
    assert code == 0, err
    teams = storage.open(demo["url"])
    try:
        assert [json.loads(line) for line in out.splitlines()] == [
            t.to_dict() for t in teams.teams.all()
        ]
    finally:
        teams.close()
    assert cli(["export", "team", "-", "--store", demo["url"]])[0] == 2  # no --format


def test_import_bad_rows_exit_2_and_write_nothing(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "id,created_at,source,budget.amount,budget.currency\n"
        "L1,2025-01-06T09:00:00+08:00,website,,\nL2,not a time,website,,\n"
        "L3,2025-01-06T09:00:00+08:00,website,12.345,CNY\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'x.db'}"
    code, out, err = cli(["import", "lead", str(path), "--store", url])
    assert code == 2
    assert "row 3, created_at" in err and "row 4, budget.amount" in err and "Traceback" not in err
    assert _records(url)["leads"] == []
    code, out, err = cli(["import", "lead", str(path), "--store", url, "--skip-invalid", "--json"])
    assert code == 0, err
    got = json.loads(out)
    assert got["written"] == 1 and [(e["row"], e["field"]) for e in got["skipped"]] == [
        (3, "created_at"),
        (4, "budget.amount"),
    ]
    code, _, err = cli(["import", "lead", str(path), "--store", url, "--skip-invalid"])
    assert code == 2 and "already exists" in err  # duplicate id: bad input, nothing written


def test_import_unknown_kind_and_missing_file(cli: Any, tmp_path: Path) -> None:
    assert cli(["import", "widget", "x.csv"])[0] == 2
    code, _, err = cli(["import", "lead", str(tmp_path / "none.csv"), "--store", "memory://"])
    assert code == 2 and "FILE" in err


def test_unwritable_export_is_a_failure(cli: Any, demo: dict[str, Any], tmp_path: Path) -> None:
    code, _, err = cli(
        ["export", "lead", str(tmp_path / "no" / "dir" / "x.csv"), "--store", demo["url"]]
    )
    assert code == 1 and err.startswith("pipeline-core: error:") and "Traceback" not in err


# -- validate ---------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, data: Any) -> str:
    (tmp_path / name).write_text(json.dumps(data), encoding="utf-8")
    return str(tmp_path / name)


def test_validate_good_files(cli: Any, tmp_path: Path) -> None:
    files = [
        _write(tmp_path, "p.json", templates.data("saas")),
        _write(tmp_path, "m.json", BANT.default().to_dict()),
        _write(tmp_path, "pol.json", default_policy().to_dict()),
    ]
    code, out, err = cli(["validate", *files, "--json"])
    assert code == 0, err
    got = json.loads(out)
    assert got["valid"] and [f["kind"] for f in got["files"]] == ["pipeline", "model", "policy"]
    code, out, _ = cli(["validate", *files, "--pipeline", "small_team"])
    assert code == 0 and out.count("ok ") == 3


def test_validate_lists_every_problem_of_every_file(cli: Any, tmp_path: Path) -> None:
    bad_pipeline = templates.data("small_team")
    bad_pipeline["stages"][0]["probability"] = 7
    bad_pipeline["stages"][1]["kind"] = "maybe"
    bad_model = BANT.default().to_dict()
    bad_model["criteria"][0]["weight"] = "-1"
    files = [
        _write(tmp_path, "p.json", bad_pipeline),
        _write(tmp_path, "m.json", bad_model),
        _write(tmp_path, "ok.json", templates.data("kanban")),
    ]
    code, out, err = cli(["validate", *files, "--json"])
    assert code == 2, err
    got = json.loads(out)
    assert not got["valid"] and [f["valid"] for f in got["files"]] == [False, False, True]
    for entry, data, build in (
        (got["files"][0], bad_pipeline, Pipeline.from_dict),
        (got["files"][1], bad_model, ScoreModel.from_dict),
    ):
        with pytest.raises(ConfigError) as caught:
            build(data)
        assert [p["field"] for p in entry["problems"]] == list(caught.value.fields)
    code, out, _ = cli(["validate", *files])
    first = got["files"][0]["problems"][0]["field"]
    assert code == 2 and first in out and "criteria[0].weight" in out and "invalid" in out


def test_validate_policy_stages_against_a_pipeline(cli: Any, tmp_path: Path) -> None:
    policy = default_policy().to_dict()
    policy["rules"][0]["conditions"] = {"stages": ["no_such_stage"]}
    path = _write(tmp_path, "pol.json", policy)
    code, out, _ = cli(["validate", path, "--pipeline", "small_team"])
    assert code == 2 and "no_such_stage" in out


@pytest.mark.parametrize(
    ("content", "text"), [("{not json", "not valid JSON"), ('{"x": 1}', "--kind")]
)
def test_validate_unreadable_or_unknown(cli: Any, tmp_path: Path, content: str, text: str) -> None:
    (tmp_path / "f.json").write_text(content, encoding="utf-8")
    code, out, _ = cli(["validate", str(tmp_path / "f.json")])
    assert code == 2 and text in out


# -- diagram ----------------------------------------------------------------------------------


def test_diagram_matches_the_pipeline(cli: Any, tmp_path: Path) -> None:
    code, out, _ = cli(["diagram", "saas"])
    assert code == 0 and out == templates.get("saas").to_mermaid() + "\n"
    path = _write(tmp_path, "p.json", templates.data("kanban"))
    code, out, _ = cli(["diagram", path, "--format", "dot", "--json"])
    assert code == 0
    assert json.loads(out) == {
        "pipeline": "kanban",
        "format": "dot",
        "diagram": Pipeline.from_dict(templates.data("kanban")).to_dot(),
    }
    code, out, _ = cli(["diagram", "--list", "--json"])
    assert json.loads(out) == {"templates": templates.names()}
    code, _, _ = cli(["diagram", "small_team", "-o", str(tmp_path / "d.mmd")])
    assert (tmp_path / "d.mmd").read_text(encoding="utf-8").startswith("stateDiagram")


def test_diagram_bad_input(cli: Any) -> None:
    code, _, err = cli(["diagram", "nope"])
    assert code == 2 and "PIPELINE" in err
    assert cli(["diagram"])[0] == 2
    assert cli(["diagram", "saas", "--format", "svg"])[0] == 2


# -- help, usage, plumbing --------------------------------------------------------------------

COMMANDS = ("demo", "score", "sla", "funnel", "import", "export", "validate", "diagram")


def test_top_level_help_lists_every_command_and_the_exit_codes(cli: Any) -> None:
    code, out, _ = cli(["--help"])
    assert code == 0
    for name in COMMANDS:  # listed once, by argparse's own command list
        assert len(re.findall(rf"\n +{name} ", out)) == 1, name
    assert "exit codes" in out and "  2  bad input" in out


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_explains_every_option(cli: Any, name: str) -> None:
    code, out, _ = cli([name, "--help"])
    assert code == 0 and "examples:" in out and "--json" in out
    sub = next(a for a in build_parser()._actions if a.dest == "==SUPPRESS==" or a.choices)
    parser = sub.choices[name]  # type: ignore[index]
    for action in parser._actions:
        for opt in action.option_strings:
            assert opt in out
        if not action.option_strings:
            assert (action.metavar or action.dest) in out
        assert action.help, (name, action.dest)


def test_usage_errors_exit_2(cli: Any) -> None:
    assert cli([])[0] == 2
    assert cli(["frobnicate"])[0] == 2
    assert cli(["score", "--top", "many"])[0] == 2


def test_progress_bar_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, plain = Tty(), io.StringIO()
    for stream in (tty, plain):
        bar = ProgressBar("importing", total=200, stream=stream)
        bar(100)
        bar(200)
        bar.done()
    assert plain.getvalue() == ""
    assert "100/200 (50%)" in tty.getvalue() and tty.getvalue().endswith("\n")


def test_progress_bar_without_total_can_erase_its_line() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = ProgressBar("storing leads", stream=stream, keep=False)
    bar(1_500)
    bar.done()
    assert "storing leads: 1,500" in stream.getvalue()
    assert not stream.getvalue().endswith("\n")


def test_sla_without_a_named_pipeline_runs_the_policy_alone(cli: Any, tmp_path: Path) -> None:
    from pipeline_core.records import Lead, Opportunity

    url = f"sqlite:///{tmp_path / 's.db'}"
    store = storage.open(url)
    created = datetime.fromisoformat("2025-03-03T09:00:00+08:00")  # a Monday
    store.leads.add(Lead(id="L1", created_at=created, source="website", owner_id="u1"))
    store.opportunities.add(  # names no pipeline: the policy runs without stage SOP limits
        Opportunity(
            id="O1",
            name="O1",
            created_at=created,
            owner_id="u1",
            stage="anything",
            stage_entered_at=created,
        )
    )
    store.close()
    now = "2025-03-03T15:00:00+08:00"  # 5 working hours later, nobody touched the lead
    code, out, err = cli(["sla", "--store", url, "--now", now, "--json"])
    assert code == 0, err
    got = json.loads(out)
    lead = _records(url)["leads"][0]
    state = state_from_records(
        lead, grade=BANT.default().score(lead).grade.name, grade_at=lead.created_at
    )
    items = SlaEngine(default_policy(default_calendar(country="CN"))).evaluate(
        state, datetime.fromisoformat(now)
    )
    assert got["pipeline"] is None
    assert sorted(i["id"] for i in got["items"]) == sorted(i.id for i in items)
    assert any(i["rule"] == "lead.first_touch" and i["kind"] == "breach" for i in got["items"])
