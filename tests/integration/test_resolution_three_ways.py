"""Same answer either way (issue 3, point 6) against a real FHIR server on loopback.

For every seeded patient and every hook service, the hook is called three ways through the Flask
test client: full prefetch built by executing the service's templates against the server the way
an EHR does (all pages gathered into one searchset Bundle, `null` for an empty read) and no
`fhirServer`; no prefetch and a `fhirServer`; and partial prefetch plus `fhirServer`. The cards
must be identical (uuids aside), and so must the resolved data (resource ids per key).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
import requests
from flask import Flask

from cds_service import create_app, extensions
from cds_service.config import defaults
from cds_service.hook_requests import hook_request
from cds_service.protocol.request import HookRequest
from cds_service.resolution import resolve
from cds_service.resolution.resolved import KeyState
from cds_service.resolution.templates import render, token_values
from cds_service.scenarios import load_scenarios
from cds_service.services import ServiceDefinition
from tests.integration.conftest import FIXTURE_DIRS, ROOT, FhirTestServer

pytestmark = pytest.mark.integration
LOOPBACK = ["http://127.0.0.1"]
USER = "Practitioner/res-u1"


def scenarios() -> list[Any]:
    """The clinical scenarios of `fhir_fixtures/scenarios.json`, plus this tier's own patient on
    every service; each as (service id, patient id, draft orders, selections)."""
    services: dict[str, list[str]] = {}
    for path in sorted((ROOT / "hooks").glob("*.json")):
        definition = json.loads(path.read_text(encoding="utf-8"))
        services.setdefault(definition["hook"], []).append(definition["id"])
    cases = [
        pytest.param(sid, "res-p1", (), (), id=f"{sid}-res-p1")
        for ids in services.values()
        for sid in ids
    ]
    table = FIXTURE_DIRS[0] / "scenarios.json"
    for scenario in load_scenarios(FIXTURE_DIRS[0]).values() if table.exists() else []:
        for sid in services.get(scenario.hook, []):
            cases.append(
                pytest.param(
                    sid,
                    scenario.patient_id,
                    scenario.draft_orders,
                    scenario.selections,
                    id=f"{sid}-{scenario.name}",
                )
            )
    return cases


@pytest.fixture(scope="module")
def app() -> Flask:
    return create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": False,
            "DATABASE_URL": "sqlite://",
            "FHIR_ALLOWLIST": LOOPBACK,
        }
    )


def base_request(
    service: ServiceDefinition,
    patient_id: str,
    orders: Sequence[dict[str, Any]] = (),
    selections: Sequence[str] = (),
) -> dict[str, Any]:
    """The call without prefetch; order hooks without scenario orders place one IVIG order."""
    if service.hook in ("order-select", "order-sign") and not orders:
        orders = [
            {
                "resourceType": "MedicationRequest",
                "id": "draft-ivig",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": f"Patient/{patient_id}"},
                "medicationCodeableConcept": {"text": "Immune globulin (IVIG)"},
            }
        ]
    return hook_request(
        service.hook,
        patient_id,
        user_id=USER,
        hook_instance="5b1f6a0e-8d55-4c1e-9a3e-2f7c1d9b0a11",
        draft_orders=orders,
        selections=selections or [f"{o['resourceType']}/{o['id']}" for o in orders[:1]],
    )


def ehr_prefetch(
    server: FhirTestServer, service: ServiceDefinition, context: dict[str, Any]
) -> dict[str, Any]:
    """What a conscientious EHR sends: each template run against its own FHIR server."""
    headers = {"Accept": "application/fhir+json", "Cache-Control": "no-cache"}
    if server.token:
        headers["Authorization"] = f"Bearer {server.token}"
    prefetch: dict[str, Any] = {}
    for key, template in service.prefetch.items():
        url = render(template, token_values(context)).url
        assert url is not None, f"{service.id}.{key} cannot be rendered for this context"
        answer = requests.get(f"{server.base_url}/{url}", headers=headers, timeout=10)
        if answer.status_code == 404:
            prefetch[key] = None
            continue
        answer.raise_for_status()
        body = answer.json()
        if body.get("resourceType") == "Bundle":
            entries = list(body.get("entry", []))
            next_url = next(
                (ln["url"] for ln in body.get("link", []) if ln["relation"] == "next"), None
            )
            while next_url:
                page = requests.get(next_url, headers=headers, timeout=10).json()
                entries += page.get("entry", [])
                next_url = next(
                    (ln["url"] for ln in page.get("link", []) if ln["relation"] == "next"), None
                )
            body = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(entries),
                "entry": entries,
            }
        prefetch[key] = body
    return prefetch


def three_requests(
    server: FhirTestServer,
    service: ServiceDefinition,
    patient_id: str,
    orders: Sequence[dict[str, Any]] = (),
    selections: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    base = base_request(service, patient_id, orders, selections)
    full = ehr_prefetch(server, service, base["context"])
    partial = {key: value for i, (key, value) in enumerate(full.items()) if i % 2 == 0}
    with_server = {"fhirServer": server.base_url}
    return {
        "full prefetch": {**base, "prefetch": full},
        "no prefetch": {**base, **with_server},
        "partial prefetch": {**base, **with_server, "prefetch": partial},
    }


def without_uuids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_uuids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [without_uuids(v) for v in value]
    return value


def resolved_ids(service: ServiceDefinition, body: dict[str, Any]) -> dict[str, Any]:
    resolved = resolve(
        service,
        HookRequest.model_validate(body),
        {**defaults(), "FHIR_BUDGET_SECONDS": 5.0},
        is_allowed=lambda url: url.startswith("http://127.0.0.1"),
    )
    for outcome in resolved.outcomes.values():
        assert outcome.state in (KeyState.PROVIDED, KeyState.EMPTY), outcome
        assert outcome.complete, outcome
    return {key: sorted(r["id"] for r in o.resources) for key, o in resolved.outcomes.items()}


@pytest.mark.parametrize(("service_id", "patient_id", "orders", "selections"), scenarios())
def test_full_no_and_partial_prefetch_give_the_same_cards_and_data(
    app: Flask,
    fhir_server: FhirTestServer,
    service_id: str,
    patient_id: str,
    orders: tuple[dict[str, Any], ...],
    selections: tuple[str, ...],
) -> None:
    service = extensions.services(app)[service_id]
    requests_by_way = three_requests(fhir_server, service, patient_id, orders, selections)
    client = app.test_client()
    cards, data = {}, {}
    for way, body in requests_by_way.items():
        response = client.post(f"/cds-services/{service_id}", json=body)
        assert response.status_code == 200, (way, response.get_json())
        cards[way] = without_uuids(response.get_json())
        data[way] = resolved_ids(service, body)
    assert cards["no prefetch"] == cards["full prefetch"]
    assert cards["partial prefetch"] == cards["full prefetch"]
    assert data["no prefetch"] == data["full prefetch"]
    assert data["partial prefetch"] == data["full prefetch"]


def test_the_seeded_test_patient_resolves_to_the_expected_resources(
    fhir_server: FhirTestServer, app: Flask
) -> None:
    """Guards the three-way test against passing vacuously on empty data."""
    service = extensions.services(app)["immunotherapy-guidance"]
    body = three_requests(fhir_server, service, "res-p1")["no prefetch"]
    ids = resolved_ids(service, body)
    assert ids["patient"] == ["res-p1"]
    assert ids["conditions"] == ["res-p1-cond-gbs"]  # the resolved URTI is filtered by the server
    assert "res-p1-obs-glu0" not in ids["observations"]  # glucose is not in the code list
    assert {"res-p1-obs-na0", "res-p1-obs-na1", "res-p1-obs-na2"} <= set(ids["observations"])


def test_a_paged_search_on_the_real_server_is_read_to_the_end(fhir_server: FhirTestServer) -> None:
    service = ServiceDefinition(
        id="paging",
        hook="patient-view",
        title="t",
        description="d",
        prefetch={"all": "Observation?patient={{context.patientId}}&_count=2"},
        required_prefetch=frozenset({"all"}),
        examples=(),
    )
    request = HookRequest.model_validate(
        {
            "hook": "patient-view",
            "hookInstance": "x",
            "fhirServer": fhir_server.base_url,
            "context": {"userId": USER, "patientId": "res-p1"},
        }
    )
    outcome = resolve(service, request, {**defaults(), "FHIR_MAX_PAGES": 10}).outcomes["all"]
    assert outcome.complete and len(outcome.resources) == 9  # 5 pages of 2 via `_offset` links
    capped = resolve(service, request, {**defaults(), "FHIR_MAX_PAGES": 2}).outcomes["all"]
    assert not capped.complete and len(capped.resources) == 4
