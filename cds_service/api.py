"""The HTTP API (CDS Hooks 2.0 "Discovery", "Calling a CDS Service", "Feedback"), /healthz, and
/openapi.json (the API described from the wire models, `openapi`).

Routes on the service id first, then checks that the request's `hook` is the one that service is
registered for (checklist 11.4). Bodies are parsed here, strictly: not JSON, not an object, or a
field that breaks the spec is a 400 whose details name the field path (JSON read with orjson:
RFC 8259 strictly, so `NaN`/`Infinity` literals and lone surrogates are a 400, nesting beyond 1024
levels too); the size limit (413) is
enforced on the Content-Length before the body is read, and on chunked bodies as they are read
(`_body`); feedback posts have a smaller limit of their own.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from flask import Blueprint, Request, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError

from cds_service import extensions, gc_tuning, metrics
from cds_service.errors import BadRequest, DataUnavailable, PayloadTooLarge, UnknownService
from cds_service.ledger import get_ledger
from cds_service.openapi import openapi_document
from cds_service.pipeline import run_hook
from cds_service.protocol import feedback as feedback_limits
from cds_service.protocol.envelopes import FeedbackResponse, HealthResponse
from cds_service.protocol.feedback import FeedbackRequest
from cds_service.protocol.fhir_version import pre_r4_resources, refusal
from cds_service.protocol.request import HookRequest, parse_context
from cds_service.services import ServiceDefinition
from cds_service.stages import StageTimer

blueprint = Blueprint("cds", __name__)
OPENAPI_CACHE = "cds_openapi"  # built once per app: the services do not change while it runs
READ_CHUNK_BYTES = 1 << 20


def _field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        details.append({"field": path or "(body)", "problem": error["msg"]})
    return details


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")


def _body(limit: int, req: Request) -> bytes:
    """The request body, at most `limit` bytes, whether sized or chunked; larger is a 413.

    Flask's MAX_CONTENT_LENGTH (one byte above the setting) refuses a larger Content-Length before
    anything is read and stops a chunked body one byte past the limit, so that byte says "too
    large" instead of a truncated body passing on as invalid JSON.
    """
    length = req.content_length
    if length is not None and length > limit:
        raise _too_large(limit)
    stream = req.stream
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(READ_CHUNK_BYTES, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise _too_large(limit)
    return b"".join(chunks)


def _json_object(limit: int | None = None) -> dict[str, Any]:
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    mimetype = req.mimetype
    if mimetype and "json" not in mimetype:
        raise BadRequest(f"Content-Type must be application/json, not {mimetype}")
    max_body = int(current_app.config["MAX_BODY_BYTES"])
    raw = _body(max_body if limit is None else min(limit, max_body), req)
    if not raw:
        raise BadRequest("the request body is empty; a JSON object is required")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in exc.msg:
            raise BadRequest("the request body is nested too deeply to be read") from None
        where = f" (line {exc.lineno}, column {exc.colno})"
        raise BadRequest(f"the request body is not valid JSON{where}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object, not a {type(body).__name__}")
    return body


M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], body: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(
            "the request does not follow CDS Hooks 2.0", _field_errors(exc, prefix)
        ) from None


def _service(service_id: str) -> ServiceDefinition:
    service = extensions.services().get(service_id)
    if service is None:
        raise UnknownService(f"no CDS service with id {service_id!r}; see GET /cds-services")
    g.log_fields["service"] = service_id
    return service


@blueprint.get("/cds-services")
def discovery() -> Response:
    entries = [s.discovery_entry() for s in extensions.services().values()]
    return jsonify({"services": entries})


@blueprint.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    """A hook call, with automatic garbage collection paused until its data is released.

    A 4.8 MB prefetch parses into about half a million containers that all live until the call
    ends. Collecting while they live scans every one of them for nothing (36 ms of a 141 ms call,
    measured in process); pausing only the parse just moved that collection to the first
    allocation after it. So the pause lasts until `_answer_hook_call` has returned and its
    frame, holding the request's data, is gone: freeing those objects takes them off the
    young generation's count again, and no collection is owed for them.
    """
    with gc_tuning.paused():
        return _answer_hook_call(service_id)


def _answer_hook_call(service_id: str) -> Response:
    # Stages timed for the request log, on the request's timer (started where the server hands
    # the request to the app, `request` lapped by request_log's first before_request hook, `auth`
    # by the JWT check): parse (the other hooks, the body, JSON, the request and its context
    # checked), then the pipeline's resolve, facts, rules, render, ledger, then respond (the JSON
    # written); request_log laps `finish` (the other after_request hooks).
    ctx_g = g._get_current_object()  # a context-local proxy: resolved once, not per use
    timer: StageTimer = ctx_g.stage_timer
    fields: dict[str, Any] = ctx_g.log_fields
    service = _service(service_id)
    body = _json_object()
    hook_request = _validate(HookRequest, body)
    fields.update(hook=hook_request.hook, hookInstance=hook_request.hookInstance)
    if hook_request.hook != service.hook:
        raise BadRequest(
            f"service {service.id!r} answers hook {service.hook!r}, not {hook_request.hook!r}",
            [{"field": "hook", "problem": f"expected {service.hook!r}"}],
        )
    pre_r4 = pre_r4_resources(hook_request.context, hook_request.prefetch)
    if pre_r4:
        raise BadRequest(*refusal(pre_r4))
    try:
        context = parse_context(service.hook, hook_request.context)
    except ValidationError as exc:
        raise BadRequest(
            f"the context does not follow the {service.hook} hook", _field_errors(exc, "context")
        ) from None
    # CLOCK is a test seam (never an environment setting): scenario tests replay fixtures at the
    # instant they were written for; in service it is absent and the wall clock is used.
    clock = extensions.seam("CLOCK")
    claims = ctx_g.get("jwt_claims") or {}  # g.get: no exception when authentication is off
    caller = {k: v for k in ("iss", "tenant") if isinstance(v := claims.get(k), str)}
    timer.lap("parse")
    try:
        result = run_hook(
            service,
            hook_request,
            context,
            current_app.config,
            get_ledger(),
            **({"now": clock} if clock else {}),
            caller=caller,
            timer=timer,
        )
    except DataUnavailable as exc:
        metrics.precondition_failed(service.id, exc.details)
        raise
    response = jsonify(result.response)
    timer.lap("respond")
    # The request log laps the last stage (`finish`) and adds the sampled CPU time.
    fields.update(cards=result.card_count, rules=list(result.rule_ids), stages_ms=timer.timings_ms)
    metrics.hook_call(service.id, timer.timings_ms)
    if result.silent:
        fields["silent"] = True  # the cards were recorded, not sent
    if result.repeats_left_out:
        fields["repeatsLeftOut"] = result.repeats_left_out
    return response


@blueprint.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    service = _service(service_id)
    body = _validate(FeedbackRequest, _json_object(feedback_limits.MAX_BODY_BYTES))
    known = get_ledger().record_feedback(service.id, body.feedback)
    g.log_fields.update(feedback=len(known), unknownCards=known.count(False))
    metrics.feedback_stored(
        (item.outcome, ok) for item, ok in zip(body.feedback, known, strict=True)
    )
    # The spec names no body for feedback responses; say what was stored, by card.
    unknown = [item.card for item, ok in zip(body.feedback, known, strict=True) if not ok]
    # flagged, not dropped: the ledger never issued these cards
    answer = FeedbackResponse(stored=len(known), unknownCards=unknown or None)
    return jsonify(answer.to_wire())


@blueprint.get("/openapi.json")
def openapi() -> Response:
    document = current_app.extensions.get(OPENAPI_CACHE)
    if document is None:
        document = openapi_document(
            extensions.services(),
            auth_enabled=bool(current_app.config["AUTH_ENABLED"]),
            server_url=current_app.config["PUBLIC_BASE_URL"] or None,
        )
        current_app.extensions[OPENAPI_CACHE] = document
    return jsonify(document)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify(HealthResponse(status="ok", services=len(extensions.services())).to_wire())
