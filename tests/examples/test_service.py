"""The embedding example (examples/service/app.py) through FastAPI's TestClient.

Expected values are computed in each test with the library itself (scoring, the pipeline's move and
unmet conditions, the SLA engine over the stored records), never copied from the service's output.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from pipeline_core import storage
from pipeline_core.errors import ValidationError
from pipeline_core.records import Lead, Money, Role, Team, User
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


# The organisation every test runs in: team east (manager max; reps amy, bob), team west (wu),
# an administrator and an analyst. Each person signs in with the bearer token "t-<id>".
PEOPLE = {
    "amy": (Role.AE, "east"),
    "bob": (Role.AE, "east"),
    "max": (Role.MANAGER, "east"),
    "wu": (Role.AE, "west"),
    "root": (Role.ADMIN, None),
    "ana": (Role.ANALYST, None),
}
TOKENS = {f"t-{uid}": uid for uid in PEOPLE}


def seed_org(url: str) -> None:
    with _nullctx(url) as store:
        store.teams.bulk_add(
            [Team(id="east", name="East", manager_id="max"), Team(id="west", name="West")]
        )
        store.users.bulk_add(
            User(id=uid, name=uid.title(), role=role, team_id=team)
            for uid, (role, team) in PEOPLE.items()
        )


def auth(uid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer t-{uid}"}


@pytest.fixture
def url(tmp_path: Path) -> str:
    u = f"sqlite:///{tmp_path / 'service.db'}"
    seed_org(u)
    return u


@pytest.fixture
def client(url: str) -> Iterator[TestClient]:
    """The service as east's manager (who may act on amy's and bob's records)."""
    with TestClient(service.create_app(url, tokens=TOKENS), headers=auth("max")) as c:
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
    with TestClient(
        service.create_app(url, pipeline=pipeline, tokens=TOKENS), headers=auth("amy")
    ) as client:
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
            expected += engine.evaluate(
                state_from_records(lead, grade=model.score(lead).grade.name), now
            )
    for deal in store.opportunities.open():
        grade = model.score(store.leads.get(deal.lead_id)).grade.name
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
    seed_org(url)
    monkeypatch.setenv(service.STORE_URL_ENV, url)
    monkeypatch.setenv(service.TOKENS_ENV, '{"t-amy": "amy"}')
    assert service.default_store_url() == url
    with TestClient(service.create_app(), headers=auth("amy")) as client:
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
    seed_org(url)
    monkeypatch.setenv(module.STORE_URL_ENV, url)
    monkeypatch.setenv(module.TOKENS_ENV, '{"t-amy": "amy"}')
    with TestClient(module.app, headers=auth("amy")) as client:
        assert client.post("/leads", json=lead_payload()).status_code == 201
    assert module.app is module.app
    with _nullctx(url) as other:
        assert [lead.id for lead in other.leads.all()] == ["L1"]


# --- who is asking --------------------------------------------------------------------------


def test_requests_without_a_valid_token_are_401(client: TestClient) -> None:
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer nope"},
        {"Authorization": "t-amy"},
    ):
        response = client.get("/reminders", params={"now": T0.isoformat()}, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert (
        client.post("/leads", json=lead_payload(), headers={"Authorization": ""}).status_code == 401
    )
    assert client.app.state.store.leads.count() == 0  # type: ignore[attr-defined]


def test_another_team_can_neither_read_nor_change(client: TestClient) -> None:
    assert client.post("/leads", json=lead_payload(), headers=auth("amy")).status_code == 201
    opp = convert(client)
    store = client.app.state.store  # type: ignore[attr-defined]
    before = (store.leads.get("L1"), store.opportunities.get(opp["id"]))
    wu = auth("wu")
    later = (T0 + timedelta(days=3)).isoformat()
    # amy's deal has reminders due (the manager sees them); wu sees none of them
    assert client.get("/reminders", params={"now": later}).json()["items"]
    assert client.get("/reminders", params={"now": later}, headers=wu).json()["items"] == []
    moved = client.post(
        f"/opportunities/{opp['id']}/move", json={"to": "needs_confirmed"}, headers=wu
    )
    assert moved.status_code == 404  # a hidden deal does not exist for wu
    assert client.post("/leads/L1/convert", json={}, headers=wu).status_code == 404
    forged = client.post("/leads", json=lead_payload("L9", phone=None), headers=wu)
    assert forged.status_code == 403  # a lead in amy's name
    assert (store.leads.get("L1"), store.opportunities.get(opp["id"])) == before
    assert store.leads.find("L9") is None
    # a duplicate of amy's customer is refused without describing it
    twin = lead_payload("L2", owner_id="wu", company=COMPANIES["L1"], phone="13800138000")
    answer = client.post("/leads", json=twin, headers=wu)
    assert answer.status_code == 409
    assert answer.json()["matches"] == [] and answer.json()["hidden_matches"] == 1
    assert "L1" not in answer.text and "amy" not in answer.text


def test_a_rep_may_not_write_in_a_colleagues_name(client: TestClient) -> None:
    assert client.post("/leads", json=lead_payload(), headers=auth("amy")).status_code == 201
    response = client.post("/leads/L1/convert", json={"by": "bob"}, headers=auth("amy"))
    assert response.status_code == 403  # the stage event would name bob as its author
    assert client.app.state.store.opportunities.count() == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"company": "Acme \ud800 Ltd"}, "company"),  # a lone surrogate, escaped in the JSON
        ({"id": "\udfff"}, "id"),
        ({"custom": {"k\ud800": "v"}}, "custom.k\\ud800"),  # in a key: named, escaped
        ({"pain_points": ["ok", "\ud83d"]}, "pain_points[1]"),
    ],
)
def test_text_that_is_not_unicode_is_422(
    client: TestClient, changes: dict[str, Any], field: str
) -> None:
    body = json.dumps({**lead_payload(), **changes})
    response = client.post("/leads", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    problem = response.json()["problems"][0]
    assert (problem["field"], problem["code"]) == (field, "unicode")
    assert client.app.state.store.leads.count() == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "now", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z"]
)
def test_instants_out_of_range_are_422(client: TestClient, now: str) -> None:
    client.post("/leads", json=lead_payload())
    response = client.get("/reminders", params={"now": now})
    assert response.status_code == 422, response.text
    assert response.json()["problems"][0]["code"] in ("out_of_range", "datetime_from_date_parsing")


_TEXT = st.text(
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.characters(), max_size=8
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)
_SERIAL = itertools.count()
_FIELDS = [
    "id",
    "created_at",
    "source",
    "company",
    "phone",
    "email",
    "budget",
    "custom",
    "tags",
    "next_step",
    "owner_id",
    "pain_points",
    "authority",
    "needs",
    "expected_amount",
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=3))
def test_no_lead_payload_is_a_server_error(client: TestClient, changes: dict[str, Any]) -> None:
    fresh = f"F{next(_SERIAL)}"  # a new id per example (the store lives across examples)
    body = json.dumps({**lead_payload(fresh, owner_id="bob", phone=None), **changes})
    response = client.post(
        "/leads",
        content=body,
        params={"allow_duplicate": "true"},
        headers={"content-type": "application/json"},
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]
