"""``pipeline-core demo``: the database and the report hold what the library computes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline_core import metrics as m
from pipeline_core import storage
from pipeline_core.cli.demo import DEMO_START
from pipeline_core.samples import SampleConfig, generate
from pipeline_core.scoring import BANT
from pipeline_core.sla import SlaEngine, default_calendar, default_policy, state_from_records
from pipeline_core.stages import templates

SEED = 5  # as in conftest.py's demo fixture
LEADS = 150


def _company() -> Any:
    pipeline = templates.get("small_team")
    return pipeline, generate(
        SampleConfig.for_pipeline(pipeline, seed=SEED, n_leads=LEADS, start=DEMO_START, days=90)
    )


def test_database_holds_the_generated_company(demo: dict[str, Any]) -> None:
    _, company = _company()
    store = storage.open(demo["url"])
    try:
        assert store.leads.count() == LEADS
        assert store.opportunities.count() == sum(1 for _ in company.opportunities())
        assert store.stage_events.count() == sum(1 for _ in company.stage_events())
        assert store.activities.count() == sum(1 for _ in company.activities())
        assert store.users.count() == len(company.users)
        assert {o.id for o in store.opportunities.all()} == {o.id for o in company.opportunities()}
        model = BANT.default()
        for lead in store.leads.all():
            assert lead.custom["grade"] == model.score(lead).grade.name
            assert lead.custom["score"] == model.score_many([lead])[0]
        assert store.journal.count() == LEADS
        summary_stored = demo["summary"]["stored"]
        assert summary_stored["opportunities"] == store.opportunities.count()
        assert summary_stored["sla_outcomes"] == store.sla_outcomes.count() > 0
    finally:
        store.close()


def test_summary_numbers_match_the_library(demo: dict[str, Any]) -> None:
    assert (demo["seed"], demo["leads"]) == (SEED, LEADS)
    pipeline, company = _company()
    s = demo["summary"]
    now = company.config.end
    assert s["now"] == now.isoformat()
    leads = list(company.leads())
    model = BANT.default()
    grades = Counter(model.score(lead).grade.name for lead in leads)
    assert s["scoring"]["grades"] == {g: grades.get(g, 0) for g in "ABC"}
    best = max(model.score_units(lead) for lead in leads)
    top = s["scoring"]["top_leads"]
    assert top[0]["score"] == best / 10_000
    first = next(lead for lead in leads if lead.id == top[0]["id"])
    assert top[0]["explain"] == model.score(first).explain()

    opps, events = list(company.opportunities()), list(company.stage_events())
    funnel = m.cohort_funnel(opps, events, stages=pipeline, start=company.config.origin, end=now)
    assert s["funnel"]["rows"] == json.loads(json.dumps(funnel.records()))
    assert s["funnel"]["bottleneck"] == funnel.conversion().bottleneck()
    weighted = m.weighted_forecast(opps, stages=pipeline).records()[0]
    assert s["forecast"]["weighted"] == pytest.approx(weighted)
    mc = m.monte_carlo_forecast(opps, stages=pipeline, runs=2_000, seed=SEED).records()[0]
    assert s["forecast"]["monte_carlo"] == pytest.approx(mc)

    engine = SlaEngine(default_policy(default_calendar(country="CN")), pipeline=pipeline)
    managers = {u.id: u.manager_id for u in company.users if u.manager_id}
    acts = list(company.activities())
    items = []
    for lead in leads:
        st = state_from_records(
            lead,
            [a for a in acts if a.lead_id == lead.id],
            grade=model.score(lead).grade.name,
            grade_at=lead.created_at,
            manager_id=managers.get(lead.owner_id or ""),
        )
        items += engine.evaluate(st, now)
    for o in opps:
        st = state_from_records(
            o, [a for a in acts if a.opportunity_id == o.id], manager_id=managers.get(o.owner_id)
        )
        items += engine.evaluate(st, now)
    kinds = Counter(i.kind for i in items)
    assert s["sla"]["counts"] == {
        k: kinds.get(k, 0) for k in ("reminder", "breach", "escalation", "risk")
    }


def test_report_html_shows_the_numbers_and_the_charts(demo: dict[str, Any]) -> None:
    text = demo["report"].read_text(encoding="utf-8")
    s = demo["summary"]
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<svg") >= 2  # funnel and forecast fan (time in stage when any stay ended)
    w = s["forecast"]["weighted"]
    assert f"{w['weighted']:,.0f}" in text
    # people read stage labels (the template's Chinese labels under lang zh-CN), not ids
    label = {st.id: st.label_zh for st in templates.get(s["template"]).stages}
    b = s["funnel"]["bottleneck"]
    assert f"{label[b['from_stage']]} → {label[b['to_stage']]}" in text
    for row in s["funnel"]["rows"]:
        assert re.search(
            rf"<td>{label[row['stage']]}</td><td class='num'>{row['reached']:,}</td>", text
        )
        assert f"<td>{row['stage']}</td>" not in text
    for lead in s["scoring"]["top_leads"]:
        assert lead["id"] in text


def test_text_report_has_every_section(cli: Any, tmp_path: Path) -> None:
    code, out, err = cli(["demo", "--leads", "60", "--db", str(tmp_path / "x.db"), "--no-report"])
    assert code == 0, err
    for heading in (
        "Top leads",
        "SLA at",
        "due reminders",
        "breaches",
        "risk flags",
        "Funnel",
        "bottleneck:",
        "Forecast",
        "Monte-Carlo",
    ):
        assert heading in out
    assert not (tmp_path / "report.html").exists()


def test_rerun_replaces_the_database(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    assert cli(["demo", "--leads", "80", "--db", str(db), "--no-report"])[0] == 0
    assert cli(["demo", "--leads", "40", "--seed", "2", "--db", str(db), "--no-report"])[0] == 0
    store = storage.open(f"sqlite:///{db}")
    try:
        assert store.leads.count() == 40
    finally:
        store.close()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("p.db")) == []


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--leads", "0"], "--leads"),
        (["--days", "0"], "--days"),
        (["--template", "nope"], "--template"),
    ],
)
def test_bad_options_exit_2_naming_the_field(
    cli: Any, tmp_path: Path, argv: list[str], field: str
) -> None:
    code, _out, err = cli(["demo", "--db", str(tmp_path / "x.db"), "--no-report", *argv])
    assert code == 2
    assert field in err and "Traceback" not in err
    assert not (tmp_path / "x.db").exists()


def test_installed_script_defaults_write_into_the_current_directory(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("pipeline-core")
    if not script.exists():
        pytest.skip("the console script is not installed next to this interpreter")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [str(script), "demo", "--leads", "80"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "pipeline.db").stat().st_size > 0
    assert "<svg" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Funnel" in done.stdout
    assert done.stderr == ""  # no progress bar when stderr is not a terminal


def test_report_without_matplotlib_keeps_the_tables(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, out, err = cli(
        [
            "demo",
            "--leads",
            "40",
            "--db",
            str(tmp_path / "x.db"),
            "--report",
            str(tmp_path / "r.html"),
            "--json",
        ]
    )
    assert code == 0, err
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<svg" not in text and "pipeline-core[charts]" in text
    to_stage = json.loads(out)["funnel"]["bottleneck"]["to_stage"]
    assert (
        next(st.label_zh for st in templates.get("small_team").stages if st.id == to_stage) in text
    )
