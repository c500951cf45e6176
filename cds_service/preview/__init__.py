"""The card preview page (`/preview`): see the cards as an EHR shows them, and send feedback.

A developer picks a fixture scenario or pastes (or uploads) a FHIR Bundle, picks the service and,
for order hooks, the draft orders and selections. The page's script then works exactly as an EHR
does: it asks `/preview/request` to build the hook request (`hook_requests.build_request`, the
scenario's dates moved to now as `invoke --scenario` moves them), POSTs it to the real hook
endpoint, has `/preview/render` draw the answer (`cards_html`), and posts accepted suggestions
and dismissals to the real feedback endpoint, so the ledger records them. The raw request and
response are shown beside the cards, the card column can be narrowed to a 420-pixel EHR sidebar,
and the Explain panel (`/preview/explain`, `cds_service.explain`) says what the facts layer
recognised and why each rule fired or stayed silent.

On by default only when authentication is off (`CDS_PREVIEW=auto`); `CDS_PREVIEW=true` turns it
on with authentication, and then the page's hook and feedback calls carry the JWT pasted into it:
the page's own routes (`auth.OPEN_BLUEPRINTS`) hold no patient data and call nothing, and the hook
endpoints are never opened. Server-rendered HTML and one small script; no front-end build step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cds_service import extensions
from cds_service.errors import BadRequest
from cds_service.explain import explain_call
from cds_service.hook_requests import RequestBuildError, build_request, bundle_entries
from cds_service.preview.cards_html import render_response
from cds_service.protocol.request import HookRequest
from cds_service.scenarios import (
    FIXTURES_DIR,
    Scenario,
    load_scenarios,
    parse_instant,
    shift_dates,
)

blueprint = Blueprint(
    "preview",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/preview/static",
)
SCENARIOS = "cds_preview_scenarios"
# The page runs its own script and styles only; it talks to this origin only.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def preview_enabled(config: dict[str, Any]) -> bool:
    setting = str(config.get("PREVIEW", "auto"))
    return setting == "true" or (setting == "auto" and not config["AUTH_ENABLED"])


def init_app(app: Flask) -> None:
    if not preview_enabled(app.config):
        return
    app.register_blueprint(blueprint)


@blueprint.after_request
def _page_policy(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def _scenarios() -> dict[str, Scenario]:
    cached: dict[str, Scenario] | None = current_app.extensions.get(SCENARIOS)
    if cached is None:
        exists = (FIXTURES_DIR / "scenarios.json").is_file()
        cached = load_scenarios() if exists else {}
        current_app.extensions[SCENARIOS] = cached
    return cached


class PreviewRequest(BaseModel):
    """What the page sends to have a hook request built: a scenario, or a bundle and a service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: str | None = Field(default=None, min_length=1)
    bundle: dict[str, Any] | None = None
    serviceId: str | None = Field(default=None, min_length=1)
    draftOrders: list[dict[str, Any]] | dict[str, Any] | None = None
    selections: list[str] | None = None
    asOf: str | None = None


class RenderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: int
    response: Any = None


def _json_body(model: type[BaseModel]) -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "problem": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise BadRequest("the preview request is not valid", details) from None


def _orders(value: list[dict[str, Any]] | dict[str, Any] | None) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    return bundle_entries(value) if isinstance(value, dict) else list(value)


@blueprint.get("/preview")
def page() -> str:
    scenarios = [
        {
            "name": s.name,
            "title": s.title,
            "serviceId": s.service_id,
            "hook": s.hook,
            "draftOrders": list(s.draft_orders),
            "selections": list(s.selections),
        }
        for s in _scenarios().values()
    ]
    services = [
        {"id": s.id, "hook": s.hook, "title": s.title} for s in extensions.services().values()
    ]
    return render_template(
        "preview/page.html",
        scenarios=scenarios,
        services=services,
        auth_enabled=bool(current_app.config["AUTH_ENABLED"]),
    )


@blueprint.post("/preview/request")
def build() -> dict[str, Any]:
    asked: PreviewRequest = _json_body(PreviewRequest)
    services = extensions.services()
    now = datetime.now(UTC)
    orders = _orders(asked.draftOrders)
    if asked.scenario is not None:
        scenario = _scenarios().get(asked.scenario)
        if scenario is None:
            raise BadRequest(f"no fixture scenario {asked.scenario!r}")
        delta = now - scenario.now  # as `invoke --scenario` moves it: it happens now
        bundle, patient_id = scenario.bundle, scenario.patient_id
        service_id = asked.serviceId or scenario.service_id
        orders = list(scenario.draft_orders) if orders is None else orders
        selections = list(scenario.selections) if asked.selections is None else asked.selections
    elif asked.bundle is not None:
        try:
            written_for = parse_instant(asked.asOf)
        except ValueError as exc:
            raise BadRequest(str(exc), [{"field": "asOf", "problem": str(exc)}]) from None
        delta = now - written_for if written_for else timedelta(0)
        bundle, patient_id = asked.bundle, None
        service_id = asked.serviceId or ""
        selections = asked.selections or []
    else:
        raise BadRequest("give a fixture scenario or a FHIR Bundle")
    service = services.get(service_id)
    if service is None:
        raise BadRequest(f"serviceId must be one of {', '.join(sorted(services))}")
    try:
        body = build_request(
            service,
            shift_dates(bundle, delta),
            patient_id=patient_id,
            draft_orders=shift_dates(orders or [], delta),
            selections=selections or None,
        )
    except RequestBuildError as exc:
        raise BadRequest(str(exc)) from None
    body["context"]["userId"] = "Practitioner/cds-preview"
    return {"serviceId": service.id, "hook": service.hook, "request": body}


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    serviceId: str = Field(min_length=1)
    request: dict[str, Any]


@blueprint.post("/preview/explain")
def explain() -> Response:
    """The Explain panel for a request the page built: facts, unrecognised data, rule by rule.

    Reads only the prefetch it is given: this route needs no JWT, so it must never fetch from a
    FHIR server (that would read records around the hook endpoints' authentication)."""
    asked: ExplainRequest = _json_body(ExplainRequest)
    service = extensions.services().get(asked.serviceId)
    if service is None:
        raise BadRequest(f"serviceId must be one of {', '.join(sorted(extensions.services()))}")
    if "fhirServer" in asked.request or "fhirAuthorization" in asked.request:
        raise BadRequest("the preview explains prefetch only; send no fhirServer")
    try:
        hook_request = HookRequest.model_validate(asked.request)
        explanation = explain_call(
            service, hook_request, current_app.config, is_allowed=lambda url: False
        )
    except ValidationError as exc:
        raise BadRequest(
            "the request does not follow CDS Hooks 2.0",
            [
                {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                for e in exc.errors(include_url=False, include_input=False)
            ],
        ) from None
    html = render_template("preview/explain.html", explain=explanation.as_dict())
    return Response(html, mimetype="text/html")


@blueprint.post("/preview/render")
def render() -> Response:
    asked: RenderRequest = _json_body(RenderRequest)
    return Response(render_response(asked.status, asked.response), mimetype="text/html")
