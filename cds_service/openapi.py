"""The service's API as an OpenAPI 3.1 document, generated from the pydantic wire models.

Served at `GET /openapi.json`. Every schema comes from the models the endpoints validate with
(`protocol.request`, `protocol.feedback`) or emit through (`protocol.response`,
`protocol.discovery`, `protocol.envelopes`), as JSON Schema 2020-12, the dialect OpenAPI 3.1 uses.
Each service in `hooks/` gets its own hook path whose request names the service's hook and that
hook's context model (`patient-view`, `order-select`, `order-sign`) and, as examples, the requests
in `hooks/examples/` it lists, plus its feedback path; the
templated `/cds-services/{id}` paths of the spec's own API description
(the CDS Hooks 2.0 specification's OpenAPI description,
https://cds-hooks.hl7.org/2.0/) are kept for clients that read those.

Statuses are documented per operation from `STATUSES`, the one table of what each kind of
endpoint can answer; the test suite fuzzes the document with schemathesis and fails on any status
not listed here, so a new error path must be added to this table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, create_model
from pydantic.json_schema import models_json_schema

from cds_service.protocol.discovery import DiscoveryResponse
from cds_service.protocol.envelopes import ErrorResponse, FeedbackResponse, HealthResponse
from cds_service.protocol.feedback import FeedbackRequest
from cds_service.protocol.request import CONTEXT_MODELS, HookRequest
from cds_service.protocol.response import CdsResponse
from cds_service.services import ServiceDefinition

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
JSON = "application/json"

# What each kind of operation can answer besides its 200.
ERROR_MEANINGS = {
    400: "Malformed request: the details name each field path",
    401: "Authentication failed or missing (a bare envelope, `WWW-Authenticate: Bearer`)",
    404: "No CDS service with this id",
    412: "Required prefetch data could be neither read from prefetch nor fetched "
    "(CDS Hooks 2.0 'HTTP Response'); the details name each key and why",
    413: "Request body larger than CDS_MAX_BODY_BYTES",
    500: "Unexpected failure (logged with service and hookInstance; no stack trace)",
    503: "A store the call needs (card ledger, feedback store, JWT replay cache) cannot take "
    "a write: retry later",
}
STATUSES: dict[str, tuple[int, ...]] = {
    "discovery": (401, 500, 503),
    "hook": (400, 401, 412, 413, 500, 503),
    "hook-by-id": (400, 401, 404, 412, 413, 500, 503),
    "feedback": (400, 401, 413, 500, 503),
    "feedback-by-id": (400, 401, 404, 413, 500, 503),
    "health": (500,),
}


def _hook_request_model(hook: str) -> type[BaseModel]:
    """HookRequest narrowed to one hook: its `hook` value and its context model."""
    name = "".join(part.title() for part in hook.split("-")) + "Request"
    model: type[BaseModel] = create_model(
        name,
        __base__=HookRequest,
        __doc__=f"A `{hook}` call (CDS Hooks 2.0 'HTTP Request', CDS Hooks Library '{hook}').",
        # a Literal built from a runtime value: mypy cannot see its type, pydantic can
        hook=(Literal[hook], ...),  # type: ignore[arg-type]
        context=(CONTEXT_MODELS[hook], ...),
    )
    return model


def _schemas() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(model name -> `$ref` object, components.schemas) for every model the API uses."""
    inputs: list[type[BaseModel]] = [
        HookRequest,
        FeedbackRequest,
        *(_hook_request_model(hook) for hook in CONTEXT_MODELS),
    ]
    outputs: list[type[BaseModel]] = [
        DiscoveryResponse,
        CdsResponse,
        FeedbackResponse,
        ErrorResponse,
        HealthResponse,
    ]
    keyed: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        *((m, "validation") for m in inputs),
        *((m, "serialization") for m in outputs),
    ]
    refs, top = models_json_schema(keyed, ref_template=REF)
    by_name = {model.__name__: refs[(model, mode)] for model, mode in keyed}
    return by_name, top.get("$defs", {})


def _json(ref: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref}}}


def _responses(
    kind: str, ok: dict[str, Any], ok_description: str, error: dict[str, Any]
) -> dict[str, Any]:
    answers = {"200": _json(ok, ok_description)}
    for status in STATUSES[kind]:
        answers[str(status)] = _json(error, ERROR_MEANINGS[status])
    return answers


def _body(ref: dict[str, Any], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": ref}
    if examples:
        media["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"required": True, "content": {JSON: media}}


def _service_examples(service: ServiceDefinition) -> dict[str, Any]:
    """The ready-to-POST requests of `hooks/examples/` that the service lists, by file stem."""
    if service.source_file is None:
        return {}
    found = {}
    for example in service.examples:
        path = service.source_file.parent / example
        if path.is_file():
            found[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return found


FEEDBACK_EXAMPLE = {
    "feedback": [
        {
            "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "outcomeTimestamp": "2026-11-21T12:00:00Z",
        }
    ]
}


def _id_parameter() -> dict[str, Any]:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": "The id of a CDS service (see discovery)",
        "schema": {"type": "string", "minLength": 1},
    }


def openapi_document(
    services: Mapping[str, ServiceDefinition],
    *,
    auth_enabled: bool,
    server_url: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 description of this service with the given services loaded."""
    ref, schemas = _schemas()
    error = ref["ErrorResponse"]
    paths: dict[str, Any] = {
        "/cds-services": {
            "get": {
                "operationId": "discovery",
                "summary": "Discovery: the CDS services offered (CDS Hooks 2.0 'Discovery')",
                "responses": _responses(
                    "discovery", ref["DiscoveryResponse"], "The services", error
                ),
            }
        }
    }
    for service in services.values():
        request_model = "".join(p.title() for p in service.hook.split("-")) + "Request"
        paths[f"/cds-services/{service.id}"] = {
            "post": {
                "operationId": f"call-{service.id}",
                "summary": f"{service.title} ({service.hook})",
                "description": service.description,
                "requestBody": _body(ref[request_model], _service_examples(service)),
                "responses": _responses("hook", ref["CdsResponse"], "Cards (maybe none)", error),
            }
        }
        paths[f"/cds-services/{service.id}/feedback"] = {
            "post": {
                "operationId": f"feedback-{service.id}",
                "summary": f"Feedback on {service.id}'s cards (CDS Hooks 2.0 'Feedback')",
                "requestBody": _body(ref["FeedbackRequest"], {"accepted": FEEDBACK_EXAMPLE}),
                "responses": _responses(
                    "feedback", ref["FeedbackResponse"], "Feedback stored", error
                ),
            }
        }
    paths["/cds-services/{id}"] = {
        "post": {
            "operationId": "call-service",
            "summary": "Call a CDS service by id (the spec's templated path)",
            "parameters": [_id_parameter()],
            "requestBody": _body(ref["HookRequest"]),
            "responses": _responses("hook-by-id", ref["CdsResponse"], "Cards", error),
        }
    }
    paths["/cds-services/{id}/feedback"] = {
        "post": {
            "operationId": "feedback",
            "summary": "Feedback on a CDS service's cards, by service id",
            "parameters": [_id_parameter()],
            "requestBody": _body(ref["FeedbackRequest"]),
            "responses": _responses(
                "feedback-by-id", ref["FeedbackResponse"], "Feedback stored", error
            ),
        }
    }
    paths["/healthz"] = {
        "get": {
            "operationId": "health",
            "summary": "Liveness: the app is up and its services are loaded",
            "security": [],
            "responses": _responses("health", ref["HealthResponse"], "Up", error),
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document (behind the same authentication as discovery)",
            "responses": {
                "200": _json({"type": "object"}, "The OpenAPI 3.1 document"),
            },
        }
    }
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Immunotherapy CDS Hooks service",
            "version": "2.0",
            "summary": "CDS Hooks 2.0 services for immunotherapy in immune-mediated "
            "neurological disease",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    if auth_enabled:
        document["components"]["securitySchemes"] = {
            "cdsClientJwt": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "A JWT signed by a trusted CDS client (CDS Hooks 2.0 "
                "'Trusting CDS Clients')",
            }
        }
        document["security"] = [{"cdsClientJwt": []}]
    return document
