"""A small web service embedding pipeline_core: take in leads, move deals, list due reminders.

Run it with ``uvicorn app:app`` from this folder (or ``fastapi dev app.py``). The store is SQLite;
its URL comes from ``create_app(store_url=...)``, else the ``PIPELINE_CORE_STORE_URL`` environment
variable, else a file ``pipeline-service.db`` in the system's temporary folder.

Endpoints:

- ``POST /leads``: a lead as plain data (``Lead.from_dict``); scored and graded with
  ``BANT.default()``; a likely duplicate of a stored lead (same phone or e-mail, similar company
  name) is refused with 409 unless ``?allow_duplicate=true``. Bad input: 422 with every problem.
- ``POST /leads/{id}/convert``: opens an opportunity at the pipeline's first stage.
- ``POST /opportunities/{id}/move``: ``{"to", "by", "reason", "at", "version"}``; 409 with the unmet
  conditions on a refused move, 409 with the versions when the deal changed meanwhile.
- ``GET /reminders?now=...``: everything the SLA engine has due by ``now`` (required, with a
  timezone) for the open leads and opportunities, optionally of one ``owner_id``.

The library never reads the clock: the service passes ``at``/``now`` in, taking ``at`` from the
request or, when it is left out, from the injected :class:`~pipeline_core.clock.Clock`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from pipeline_core import storage
from pipeline_core.assignment import DedupIndex
from pipeline_core.clock import Clock, SystemClock, require_aware
from pipeline_core.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFoundError,
    TransitionError,
    ValidationError,
)
from pipeline_core.records import Lead, LeadStatus
from pipeline_core.scoring import BANT, ScoreModel
from pipeline_core.sla import Item, Policy, SlaEngine, default_policy, state_from_records
from pipeline_core.stages import Pipeline, convert, templates

__all__ = ["ConvertRequest", "MoveRequest", "create_app", "default_store_url"]

STORE_URL_ENV = "PIPELINE_CORE_STORE_URL"


def default_store_url() -> str:
    """``$PIPELINE_CORE_STORE_URL``, else a SQLite file in the temporary folder."""
    url = os.environ.get(STORE_URL_ENV)
    if url:
        return url
    return "sqlite:///" + str(Path(tempfile.gettempdir()) / "pipeline-service.db")


class MoveRequest(BaseModel):
    """Body of ``POST /opportunities/{id}/move``: target stage, who, why, when, expected version."""

    to: str
    by: str
    reason: str | None = None
    at: datetime | None = None
    version: int | None = None


class ConvertRequest(BaseModel):
    """Body of ``POST /leads/{id}/convert``: who converts, when, and the deal's owner if not the lead's."""

    by: str
    at: datetime | None = None
    owner_id: str | None = None


def _problems(problems: Any) -> list[dict[str, Any]]:
    return [
        {"field": p.field, "message": p.message, "value": _plain(p.value), "code": p.code}
        for p in problems
    ]


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def create_app(
    store_url: str | None = None,
    *,
    pipeline: Pipeline | None = None,
    model: ScoreModel | None = None,
    policy: Policy | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the service over the store at ``store_url`` (default :func:`default_store_url`).

    ``pipeline`` defaults to the ``small_team`` template, ``model`` to ``BANT.default()``, ``policy``
    to the default SLA policy, ``clock`` (used only when a request gives no ``at``) to UTC system time.
    """
    url = store_url or default_store_url()
    flow = pipeline or templates.get("small_team")
    scorer = model or BANT.default()
    engine = SlaEngine(policy or default_policy(), pipeline=flow)
    time = clock or SystemClock()
    store = storage.open(url)
    dedup = DedupIndex()
    for stored in store.leads.all():
        dedup.add_lead(stored)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield
        store.close()

    app = FastAPI(title="pipeline_core example service", lifespan=lifespan)
    app.state.store = store
    app.state.pipeline = flow

    @app.exception_handler(ValidationError)
    async def invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid", "what": exc.what, "problems": _problems(exc.problems)}, 422
        )

    @app.exception_handler(TransitionError)
    async def refused(_: Request, exc: TransitionError) -> JSONResponse:
        body = {
            "error": "transition_refused",
            "message": str(exc),
            "from_stage": exc.from_stage,
            "to_stage": exc.to_stage,
            "unmet": list(exc.unmet),
        }
        return JSONResponse(body, 409)

    @app.exception_handler(ConcurrencyError)
    async def conflict(_: Request, exc: ConcurrencyError) -> JSONResponse:
        body = {
            "error": "version_conflict",
            "message": str(exc),
            "expected": exc.expected,
            "actual": exc.actual,
        }
        return JSONResponse(body, 409)

    @app.exception_handler(DuplicateError)
    async def duplicate(_: Request, exc: DuplicateError) -> JSONResponse:
        return JSONResponse({"error": "duplicate_id", "message": str(exc)}, 409)

    @app.exception_handler(NotFoundError)
    async def missing(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"error": "not_found", "kind": exc.kind, "key": str(exc.key)}, 404)

    def _at(value: datetime | None, field: str) -> datetime:
        return time.now() if value is None else require_aware(value, field)

    @app.post("/leads", status_code=201)
    def add_lead(payload: dict[str, Any], allow_duplicate: bool = False) -> Any:
        """Validate, de-duplicate, score and store a lead."""
        lead = Lead.from_dict(payload)
        matches = [m for m in dedup.find_lead(lead) if m.score >= 0.9]
        if matches and not allow_duplicate:
            return JSONResponse(
                {
                    "error": "duplicate",
                    "matches": [
                        {"existing_id": m.existing_id, "score": m.score, "reason": m.reason}
                        for m in matches
                    ],
                },
                409,
            )
        store.leads.add(lead)
        dedup.add_lead(lead)
        score = scorer.score(lead)
        return {"lead": lead.to_dict(), "score": float(score.value), "grade": score.grade.name}

    @app.post("/leads/{lead_id}/convert", status_code=201)
    def convert_lead(lead_id: str, body: ConvertRequest) -> Any:
        """Open an opportunity for a lead at the pipeline's first stage."""
        lead = store.leads.get(lead_id)
        at = _at(body.at, "at")
        deal, event, converted = convert(lead, flow, at=at, by=body.by, owner_id=body.owner_id)
        with store.unit_of_work() as uow:
            uow.leads.save(converted)
            uow.opportunities.add(deal)
            uow.stage_events.append(event)
        return {"opportunity": deal.to_dict(), "event": event.to_dict()}

    @app.post("/opportunities/{opportunity_id}/move")
    def move(opportunity_id: str, body: MoveRequest) -> Any:
        """Move a deal to another stage; refused moves and stale versions are 409."""
        current = store.opportunities.get(opportunity_id)
        if body.version is not None and body.version != current.version:
            raise ConcurrencyError(
                "Opportunity", opportunity_id, expected=body.version, actual=current.version
            )
        at = _at(body.at, "at")
        moved, event = flow.move(current, body.to, at=at, by=body.by, reason=body.reason)
        with store.unit_of_work() as uow:
            uow.opportunities.save(moved)
            uow.stage_events.append(event)
        return {"opportunity": moved.to_dict(), "event": event.to_dict()}

    @app.get("/reminders")
    def reminders(
        now: Annotated[datetime, Query(description="the instant to evaluate at, with a timezone")],
        owner_id: str | None = None,
    ) -> Any:
        """Every reminder, breach, escalation and risk flag due by ``now``."""
        at = require_aware(now, "now")
        items = sorted(_due(at, owner_id), key=lambda i: (i.at_us, i.id))
        return {"now": at.isoformat(), "items": [i.to_dict() for i in items]}

    def _due(now: datetime, owner_id: str | None) -> Iterator[Item]:
        for lead in store.leads.all():
            if lead.status in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED):
                continue
            if owner_id is not None and lead.owner_id != owner_id:
                continue
            acts = list(store.activities.for_subject(lead.id))
            state = state_from_records(lead, acts, grade=scorer.grade(lead).name)
            yield from engine.evaluate(state, now)
        for deal in store.opportunities.open(owner_id=owner_id):
            origin = store.leads.find(deal.lead_id) if deal.lead_id else None
            grade = scorer.grade(origin).name if origin is not None else None
            acts = list(store.activities.for_subject(deal.id))
            yield from engine.evaluate(state_from_records(deal, acts, grade=grade), now)

    return app


def __getattr__(name: str) -> Any:
    """``app``: the service over :func:`default_store_url`, built on first use (``uvicorn app:app``)."""
    if name == "app":
        built = create_app()
        globals()["app"] = built
        return built
    raise AttributeError(name)
