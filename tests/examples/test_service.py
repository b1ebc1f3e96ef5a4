"""The embedding example (examples/service/app.py) through FastAPI's TestClient.

Expected values are computed in each test with the library itself (scoring, the pipeline's move and
unmet conditions, the SLA engine over the stored records), never copied from the service's output.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from pipeline_core import storage
from pipeline_core.errors import ValidationError
from pipeline_core.records import Lead, Money
from pipeline_core.scoring import BANT
from pipeline_core.sla import SlaEngine, default_policy, state_from_records
from pipeline_core.stages import templates

APP_PATH = Path(__file__).resolve().parents[2] / "examples" / "service" / "app.py"
T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
COMPANIES = {"L1": "北京某某科技有限公司", "L2": "Acme Widgets Co., Ltd."}


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pipeline_service_example", APP_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


service = _load()


def lead_payload(id: str = "L1", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": id,
        "created_at": T0.isoformat(),
        "source": "referral",
        "company": COMPANIES.get(id, f"Company {id}"),
        "owner_id": "amy",
        "phone": "13800138000" if id == "L1" else None,
        "budget": {"amount": "200000", "currency": "CNY"},
        "authority": "decision_maker",
        "need": "strong",
        "timeline": "within_1_month",
        "needs": "20 charging piles",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


class _nullctx:
    """A second connection to the service's store, closed at the end of the block."""

    def __init__(self, url: str) -> None:
        self.store = storage.open(url)

    def __enter__(self) -> Any:
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'service.db'}"


@pytest.fixture
def client(url: str) -> Iterator[TestClient]:
    with TestClient(service.create_app(url)) as c:
        yield c


def convert(client: TestClient, lead_id: str = "L1") -> dict[str, Any]:
    response = client.post(
        f"/leads/{lead_id}/convert", json={"by": "amy", "at": (T0 + timedelta(hours=1)).isoformat()}
    )
    assert response.status_code == 201, response.text
    return response.json()["opportunity"]  # type: ignore[no-any-return]


# --- leads ----------------------------------------------------------------------------------


def test_post_lead_scores_grades_and_stores(client: TestClient, url: str) -> None:
    payload = lead_payload()
    response = client.post("/leads", json=payload)
    assert response.status_code == 201, response.text
    lead = Lead.from_dict(payload)
    expected = BANT.default().score(lead)
    body = response.json()
    assert body["grade"] == expected.grade.name
    assert body["score"] == float(expected.value)
    assert Lead.from_dict(body["lead"]) == lead
    with _nullctx(url) as other:
        assert other.leads.get("L1") == lead


def test_post_lead_lists_every_problem_and_stores_nothing(client: TestClient) -> None:
    payload = lead_payload(
        created_at="2025-03-03T09:00:00",
        authority="boss",
        budget={"amount": "-5", "currency": "CNY"},
    )
    with pytest.raises(ValidationError) as direct:
        Lead.from_dict(payload)
    response = client.post("/leads", json=payload)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid"
    assert {p["field"] for p in body["problems"]} == {p.field for p in direct.value.problems}
    assert len(body["problems"]) == len(direct.value.problems) >= 3
    assert client.app.state.store.leads.count() == 0  # type: ignore[attr-defined]


def test_post_lead_refuses_a_likely_duplicate_unless_allowed(client: TestClient) -> None:
    assert client.post("/leads", json=lead_payload()).status_code == 201
    twin = lead_payload("L2", phone="+86 138 0013 8000")
    response = client.post("/leads", json=twin)
    assert response.status_code == 409
    matches = response.json()["matches"]
    assert [m["existing_id"] for m in matches] == ["L1"]
    assert "+8613800138000" in matches[0]["reason"]
    assert client.post("/leads", params={"allow_duplicate": "true"}, json=twin).status_code == 201


def test_post_lead_with_a_taken_id_is_a_conflict(client: TestClient) -> None:
    assert client.post("/leads", json=lead_payload()).status_code == 201
    again = lead_payload(phone=None, company="Other Co")
    response = client.post("/leads", params={"allow_duplicate": "true"}, json=again)
    assert response.status_code == 409
    assert response.json()["error"] == "duplicate_id"


# --- stages ---------------------------------------------------------------------------------


def test_convert_and_move_match_the_pipeline(client: TestClient) -> None:
    client.post("/leads", json=lead_payload())
    pipeline = templates.get("small_team")
    opp = convert(client)
    assert opp["stage"] == pipeline.first.id
    store = client.app.state.store  # type: ignore[attr-defined]
    stored = store.opportunities.get(opp["id"])
    at = T0 + timedelta(days=1)
    expected, _ = pipeline.move(stored, "needs_confirmed", at=at, by="amy", reason="call done")
    response = client.post(
        f"/opportunities/{opp['id']}/move",
        json={"to": "needs_confirmed", "by": "amy", "reason": "call done", "at": at.isoformat()},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["opportunity"] == expected.to_dict()
    assert store.opportunities.get(opp["id"]) == expected
    path = [e.to_stage for e in store.stage_events.for_opportunity(opp["id"])]
    assert path == ["first_contact", "needs_confirmed"]
    assert store.leads.get("L1").status.value == "converted"


def test_refused_move_is_409_with_the_unmet_conditions(client: TestClient) -> None:
    client.post("/leads", json=lead_payload(budget=None))
    opp = convert(client)
    store = client.app.state.store  # type: ignore[attr-defined]
    stored = store.opportunities.get(opp["id"])
    pipeline = templates.get("small_team")
    at = (T0 + timedelta(days=1)).isoformat()
    for target in ("proposal_quote", "won"):
        unmet = pipeline.unmet(stored, target)
        assert unmet  # the template refuses both moves for this deal
        response = client.post(
            f"/opportunities/{opp['id']}/move", json={"to": target, "by": "amy", "at": at}
        )
        assert response.status_code == 409
        body = response.json()
        assert body["error"] == "transition_refused"
        assert (body["from_stage"], body["to_stage"]) == ("first_contact", target)
        assert tuple(body["unmet"]) == tuple(unmet)
    assert store.opportunities.get(opp["id"]) == stored  # nothing written


def test_stale_version_is_409_and_writes_nothing(client: TestClient) -> None:
    client.post("/leads", json=lead_payload())
    opp = convert(client)
    store = client.app.state.store  # type: ignore[attr-defined]
    stored = store.opportunities.get(opp["id"])
    response = client.post(
        f"/opportunities/{opp['id']}/move",
        json={
            "to": "needs_confirmed",
            "by": "amy",
            "version": stored.version - 1,
            "at": (T0 + timedelta(days=1)).isoformat(),
        },
    )
    assert response.status_code == 409
    body = response.json()
    assert (body["error"], body["expected"], body["actual"]) == (
        "version_conflict",
        stored.version - 1,
        stored.version,
    )
    assert store.opportunities.get(opp["id"]) == stored


def test_concurrent_write_during_a_move_is_409(url: str) -> None:
    """Another process saves the deal while the service is moving it: the store refuses the save."""
    base = templates.get("small_team")

    def meddle(opportunity: Any) -> bool:
        with _nullctx(url) as other:
            current = other.opportunities.get(opportunity.id)
            other.opportunities.save(current.evolve(tags=frozenset({"touched"})))
        return True

    pipeline = attrs.evolve(base, entry_guards={"needs_confirmed": [meddle]})
    with TestClient(service.create_app(url, pipeline=pipeline)) as client:
        client.post("/leads", json=lead_payload())
        opp = convert(client)
        response = client.post(
            f"/opportunities/{opp['id']}/move",
            json={"to": "needs_confirmed", "by": "amy", "at": (T0 + timedelta(days=1)).isoformat()},
        )
        assert response.status_code == 409
        body = response.json()
        assert (body["error"], body["expected"], body["actual"]) == ("version_conflict", 1, 2)
        stored = client.app.state.store.opportunities.get(opp["id"])  # type: ignore[attr-defined]
        assert (stored.stage, stored.tags) == ("first_contact", frozenset({"touched"}))


def test_unknown_ids_are_404(client: TestClient) -> None:
    response = client.post("/opportunities/nope/move", json={"to": "won", "by": "amy"})
    assert response.status_code == 404
    assert response.json()["key"] == "nope"
    assert client.post("/leads/nope/convert", json={"by": "amy"}).status_code == 404


def test_naive_move_time_is_422(client: TestClient) -> None:
    client.post("/leads", json=lead_payload())
    opp = convert(client)
    response = client.post(
        f"/opportunities/{opp['id']}/move",
        json={"to": "needs_confirmed", "by": "amy", "at": "2025-03-04T09:00:00"},
    )
    assert response.status_code == 422
    assert response.json()["problems"][0]["code"] == "timezone_aware"


# --- reminders ------------------------------------------------------------------------------


def test_reminders_equal_the_engine_over_the_stored_records(client: TestClient) -> None:
    client.post("/leads", json=lead_payload())
    client.post(
        "/leads", json=lead_payload("L2", owner_id="bob", authority="user", timeline="no_plan")
    )
    convert(client)
    now = T0 + timedelta(days=3)
    store = client.app.state.store  # type: ignore[attr-defined]
    engine = SlaEngine(default_policy(), pipeline=templates.get("small_team"))
    model = BANT.default()
    expected = []
    for lead in store.leads.all():
        if lead.status.value == "new":
            expected += engine.evaluate(state_from_records(lead, grade=model.grade(lead).name), now)
    for deal in store.opportunities.open():
        grade = model.grade(store.leads.get(deal.lead_id)).name
        expected += engine.evaluate(state_from_records(deal, grade=grade), now)
    assert expected  # the story has items due
    response = client.get("/reminders", params={"now": now.isoformat()})
    assert response.status_code == 200, response.text
    got = response.json()["items"]
    assert sorted(i["id"] for i in got) == sorted(i.id for i in expected)
    assert [i["at"] for i in got] == sorted(i["at"] for i in got)
    subjects = {i["subject_id"] for i in got}
    assert "L2" in subjects and "L1" not in subjects  # L1 was converted: its deal is watched

    amy = client.get("/reminders", params={"now": now.isoformat(), "owner_id": "bob"}).json()
    assert {i["subject_id"] for i in amy["items"]} == {"L2"}


def test_reminders_need_an_aware_now(client: TestClient) -> None:
    missing = client.get("/reminders")
    assert missing.status_code == 422
    naive = client.get("/reminders", params={"now": "2025-03-05T09:00:00"})
    assert naive.status_code == 422
    problem = naive.json()["problems"][0]
    assert (problem["field"], problem["code"]) == ("now", "timezone_aware")
    assert client.get("/reminders", params={"now": "not a time"}).status_code == 422


def test_store_url_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv(service.STORE_URL_ENV, url)
    assert service.default_store_url() == url
    with TestClient(service.create_app()) as client:
        assert client.post("/leads", json=lead_payload()).status_code == 201
    with _nullctx(url) as other:
        assert other.leads.count() == 1
    monkeypatch.delenv(service.STORE_URL_ENV)
    assert service.default_store_url().endswith("pipeline-service.db")


def test_lead_budget_is_money(client: TestClient) -> None:
    body = client.post("/leads", json=lead_payload()).json()
    assert Lead.from_dict(body["lead"]).budget == Money.of("200000", "CNY")


def test_module_app_is_built_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``uvicorn app:app`` gets a service over the configured store; importing builds nothing."""
    module = _load()
    assert "app" not in vars(module)
    url = f"sqlite:///{tmp_path / 'lazy.db'}"
    monkeypatch.setenv(module.STORE_URL_ENV, url)
    with TestClient(module.app) as client:
        assert client.post("/leads", json=lead_payload()).status_code == 201
    assert module.app is module.app
    with _nullctx(url) as other:
        assert [lead.id for lead in other.leads.all()] == ["L1"]
