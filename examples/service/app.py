"""A small web service embedding pipeline_core: take in leads, move deals, list due reminders.

Run it with ``uvicorn app:app`` from this folder (or ``fastapi dev app.py``). The store is SQLite;
its URL comes from ``create_app(store_url=...)``, else the ``PIPELINE_CORE_STORE_URL`` environment
variable, else a file ``pipeline-service.db`` in the system's temporary folder.

Every request names its caller with ``Authorization: Bearer <token>``; the service maps the token
to a stored user (``create_app(tokens={token: user_id})``, else the JSON object in the
``PIPELINE_CORE_SERVICE_TOKENS`` environment variable; no tokens: every request is 401) and works
through a :class:`~pipeline_core.access.ScopedStore` for that user, so each caller reads and
changes only what their access scope allows (a record outside it is 404, a refused write 403).
A real deployment would verify a signed token (OAuth2/OIDC) instead of a fixed table.

Endpoints:

- ``POST /leads``: a lead as plain data (``Lead.from_dict``); scored and graded with
  ``BANT.default()``; a likely duplicate of a stored lead (same phone or e-mail, similar company
  name) is refused with 409 unless ``?allow_duplicate=true``. Bad input: 422 with every problem.
- ``POST /leads/{id}/convert``: opens an opportunity at the pipeline's first stage.
- ``POST /opportunities/{id}/move``: ``{"to", "by", "reason", "at", "version"}``; 409 with the unmet
  conditions on a refused move, 409 with the versions when the deal changed meanwhile. ``by``
  defaults to the caller.
- ``GET /reminders?now=...``: everything the SLA engine has due by ``now`` (required, with a
  timezone) for the open leads and opportunities, optionally of one ``owner_id``.

Every bad input is a 4xx answer with the library's problem list (``{"error", "problems": [{"field",
"message", "value", "code"}]}``): a malformed request (FastAPI's own validation), text that is not
valid Unicode (a lone surrogate), an instant outside the supported range.

The library never reads the clock: the service passes ``at``/``now`` in, taking ``at`` from the
request or, when it is left out, from the injected :class:`~pipeline_core.clock.Clock`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from pipeline_core import storage
from pipeline_core.access import ScopedStore, mask_text
from pipeline_core.clock import Clock, SystemClock, require_aware
from pipeline_core.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFoundError,
    PermissionDeniedError,
    PipelineCoreError,
    Problem,
    TransitionError,
    ValidationError,
)
from pipeline_core.identity import DedupIndex
from pipeline_core.records import Lead, LeadStatus
from pipeline_core.scoring import BANT, ScoreModel
from pipeline_core.sla import Item, Policy, SlaEngine, default_policy, state_from_records
from pipeline_core.stages import Pipeline, convert, templates

__all__ = ["ConvertRequest", "MoveRequest", "create_app", "default_store_url", "default_tokens"]

STORE_URL_ENV = "PIPELINE_CORE_STORE_URL"
TOKENS_ENV = "PIPELINE_CORE_SERVICE_TOKENS"

# The instants the service accepts: the SLA engine counts microseconds since the epoch in 64 bits
# and adds up to years of business time, so the range is kept well inside datetime's own.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def default_store_url() -> str:
    """``$PIPELINE_CORE_STORE_URL``, else a SQLite file in the temporary folder."""
    url = os.environ.get(STORE_URL_ENV)
    if url:
        return url
    return "sqlite:///" + str(Path(tempfile.gettempdir()) / "pipeline-service.db")


class MoveRequest(BaseModel):
    """Body of ``POST /opportunities/{id}/move``: target stage, who, why, when, expected version."""

    to: str
    by: str | None = None
    reason: str | None = None
    at: datetime | None = None
    version: int | None = None


class ConvertRequest(BaseModel):
    """Body of ``POST /leads/{id}/convert``: who converts, when, and the deal's owner if not the lead's."""

    by: str | None = None
    at: datetime | None = None
    owner_id: str | None = None


def _problems(problems: Any) -> list[dict[str, Any]]:
    return [
        {
            "field": _plain(p.field),
            "message": _plain(p.message),
            "value": _plain(p.value),
            "code": _plain(p.code),
        }
        for p in problems
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf or nan
    if value is None or isinstance(value, bool | int | float):
        return value
    return _plain(str(value))


def _text_problems(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[Problem]:
    """Strings that are not valid Unicode text (a lone surrogate from a JSON ``\\ud800``)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            yield Problem(path, "is not valid Unicode text (a lone surrogate)", value, "unicode")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _text_problems(k, (*path, str(k)))
            yield from _text_problems(v, (*path, str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _text_problems(v, (*path, i))


def _check_text(what: str, value: Any) -> None:
    problems = list(_text_problems(value))
    if problems:
        raise ValidationError(what, problems)


def _in_range(value: datetime, field: str) -> datetime:
    """``value`` with a timezone and between :data:`EARLIEST` and :data:`LATEST`."""
    require_aware(value, field)
    try:
        inside = EARLIEST <= value <= LATEST
    except OverflowError:  # pragma: no cover - an offset at the edge of datetime's range
        inside = False
    if not inside:
        raise ValidationError(
            field,
            [
                Problem(
                    (field,),
                    f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}",
                    value,
                    "out_of_range",
                )
            ],
        )
    return value


class _Unauthorized(Exception):
    """No valid bearer token: answered 401."""


def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> ScopedStore:
    """The scoped store of the request's caller: ``Authorization: Bearer <token>`` names a
    token of ``app.state.tokens``, whose user must be stored and active (else 401)."""
    state = request.app.state
    scheme, _, token = (authorization or "").partition(" ")
    user_id = state.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    user = None if user_id is None else state.store.users.find(user_id)
    if user is None or not user.active:
        raise _Unauthorized()
    return ScopedStore(state.store, user, clock=state.clock)


Caller = Annotated[ScopedStore, Depends(caller)]
"""An endpoint parameter receiving the caller's scoped store."""


def default_tokens() -> dict[str, str]:
    """``$PIPELINE_CORE_SERVICE_TOKENS`` (a JSON object token → user id), else none."""
    raw = os.environ.get(TOKENS_ENV)
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{TOKENS_ENV} must be a JSON object of token to user id")
    return dict(data)


def create_app(
    store_url: str | None = None,
    *,
    pipeline: Pipeline | None = None,
    model: ScoreModel | None = None,
    policy: Policy | None = None,
    clock: Clock | None = None,
    tokens: Mapping[str, str] | None = None,
) -> FastAPI:
    """Build the service over the store at ``store_url`` (default :func:`default_store_url`).

    ``tokens`` maps bearer tokens to the ids of stored users (default :func:`default_tokens`);
    each request acts as its token's user through a :class:`ScopedStore`.

    ``pipeline`` defaults to the ``small_team`` template, ``model`` to ``BANT.default()``, ``policy``
    to the default SLA policy, ``clock`` (used only when a request gives no ``at``) to UTC system time.
    """
    url = store_url or default_store_url()
    flow = pipeline or templates.get("small_team")
    scorer = model or BANT.default()
    engine = SlaEngine(policy or default_policy(), pipeline=flow)
    time = clock or SystemClock()
    users_by_token = dict(default_tokens() if tokens is None else tokens)
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
    app.state.tokens = users_by_token
    app.state.clock = time

    @app.exception_handler(ValidationError)
    async def invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid", "what": _plain(exc.what), "problems": _problems(exc.problems)},
            422,
        )

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            Problem(
                tuple(p for p in e.get("loc", ()) if p not in ("body", "query", "path")),
                str(e.get("msg", "invalid")),
                e.get("input"),
                str(e.get("type", "invalid")),
            )
            for e in exc.errors()
        ]
        return JSONResponse(
            {"error": "invalid", "what": "request", "problems": _problems(problems)}, 422
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        # FastAPI's own refusals (a body it cannot parse, such as JSON nested too deep; an
        # unknown path or method) in the same shape as every other answer
        code = exc.status_code
        error = {404: "not_found", 405: "method_not_allowed"}.get(code, "invalid")
        where = ("body",) if code == 400 else ("request",)
        problem = Problem(where, str(exc.detail), None, f"http_{code}")
        return JSONResponse(
            {"error": error, "what": "request", "problems": _problems([problem])},
            code,
            headers=exc.headers,
        )

    @app.exception_handler(PermissionDeniedError)
    async def forbidden(_: Request, exc: PermissionDeniedError) -> JSONResponse:
        return JSONResponse({"error": "forbidden", "message": _plain(str(exc))}, 403)

    @app.exception_handler(PipelineCoreError)
    async def refused_input(_: Request, exc: PipelineCoreError) -> JSONResponse:
        return JSONResponse({"error": "invalid", "message": _plain(str(exc)), "problems": []}, 400)

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
        return JSONResponse({"error": "duplicate_id", "message": _plain(str(exc))}, 409)

    @app.exception_handler(NotFoundError)
    async def missing(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(
            {"error": "not_found", "kind": exc.kind, "key": _plain(str(exc.key))}, 404
        )

    @app.exception_handler(_Unauthorized)
    async def unauthorized(_: Request, exc: _Unauthorized) -> JSONResponse:
        return JSONResponse(
            {"error": "unauthorized", "message": "send Authorization: Bearer <token>"},
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _at(value: datetime | None, field: str) -> datetime:
        return time.now() if value is None else _in_range(value, field)

    @app.post("/leads", status_code=201)
    def add_lead(payload: dict[str, Any], scoped: Caller, allow_duplicate: bool = False) -> Any:
        """Validate, de-duplicate, score and store a lead (as the caller)."""
        _check_text("lead", payload)
        lead = Lead.from_dict(payload)
        for field in ("created_at",):
            _in_range(getattr(lead, field), field)
        matches = [m for m in dedup.find_lead(lead) if m.score >= 0.9]
        if matches and not allow_duplicate:
            # Only duplicates the caller may see are described; others are only counted.
            seen = [m for m in matches if scoped.leads.find(m.existing_id) is not None]
            # a viewer with masked contact details sees the reasons masked too
            masked = scoped.policy.masks(scoped.actor)
            return JSONResponse(
                {
                    "error": "duplicate",
                    "matches": [
                        {
                            "existing_id": m.existing_id,
                            "score": m.score,
                            "reason": mask_text(m.reason) if masked else m.reason,
                        }
                        for m in seen
                    ],
                    "hidden_matches": len(matches) - len(seen),
                },
                409,
            )
        scoped.leads.add(lead)
        dedup.add_lead(lead)
        score = scorer.score(lead)
        return {"lead": lead.to_dict(), "score": float(score.value), "grade": score.grade.name}

    @app.post("/leads/{lead_id}/convert", status_code=201)
    def convert_lead(lead_id: str, body: ConvertRequest, scoped: Caller) -> Any:
        """Open an opportunity for a lead at the pipeline's first stage (as the caller)."""
        _check_text("request", body.model_dump())
        lead = scoped.leads.get(lead_id)
        at = _at(body.at, "at")
        by = body.by or scoped.actor.id
        deal, event, converted = convert(lead, flow, at=at, by=by, owner_id=body.owner_id)
        with scoped.unit_of_work() as uow:
            uow.leads.save(converted)
            uow.opportunities.add(deal)
            uow.stage_events.append(event)
        return {"opportunity": deal.to_dict(), "event": event.to_dict()}

    @app.post("/opportunities/{opportunity_id}/move")
    def move(opportunity_id: str, body: MoveRequest, scoped: Caller) -> Any:
        """Move a deal to another stage (as the caller); refused moves and stale versions are 409."""
        _check_text("request", body.model_dump())
        current = scoped.opportunities.get(opportunity_id)
        if body.version is not None and body.version != current.version:
            raise ConcurrencyError(
                "Opportunity", opportunity_id, expected=body.version, actual=current.version
            )
        at = _at(body.at, "at")
        by = body.by or scoped.actor.id
        moved, event = flow.move(current, body.to, at=at, by=by, reason=body.reason)
        with scoped.unit_of_work() as uow:
            uow.opportunities.save(moved)
            uow.stage_events.append(event)
        return {"opportunity": moved.to_dict(), "event": event.to_dict()}

    @app.get("/reminders")
    def reminders(
        now: Annotated[datetime, Query(description="the instant to evaluate at, with a timezone")],
        scoped: Caller,
        owner_id: str | None = None,
    ) -> Any:
        """Every reminder, breach, escalation and risk flag due by ``now`` on the records the
        caller may read."""
        at = _in_range(now, "now")
        items = sorted(_due(scoped, at, owner_id), key=lambda i: (i.at_us, i.id))
        return {"now": at.isoformat(), "items": [i.to_dict() for i in items]}

    def _due(store: ScopedStore, now: datetime, owner_id: str | None) -> Iterator[Item]:
        for lead in store.leads.all():
            if lead.status in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED):
                continue
            if owner_id is not None and lead.owner_id != owner_id:
                continue
            acts = list(store.activities.for_subject(lead.id))
            state = state_from_records(lead, acts, grade=scorer.score(lead).grade.name)
            yield from engine.evaluate(state, now)
        for deal in store.opportunities.open(owner_id=owner_id):
            origin = store.leads.find(deal.lead_id) if deal.lead_id else None
            grade = scorer.score(origin).grade.name if origin is not None else None
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
