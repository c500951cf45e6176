"""The hook endpoints: routing, validation with field paths, the error envelope, 412, and one
finding rendered to a card end to end."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.contracts import Hook
from tests.conftest import order_request, patient_view_request, service_running, spec_example

GUIDANCE = "/cds-services/immunotherapy-guidance"
ORDER_SELECT = "/cds-services/immunotherapy-order-select"
ORDER_SIGN = "/cds-services/immunotherapy-order-sign"

STEROID_ORDER = {
    "resourceType": "MedicationRequest",
    "id": "draft-1",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": "Patient/pat-1"},
    "medicationCodeableConcept": {"text": "methylprednisolone 1 g IV"},
}


def assert_envelope(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert body["error"] == error
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_discovery_publishes_every_service_without_internal_metadata(
    client: FlaskClient,
) -> None:
    services = client.get("/cds-services").get_json()["services"]
    assert {s["id"]: s["hook"] for s in services} == {
        "immunotherapy-guidance": "patient-view",
        "immunotherapy-order-select": "order-select",
        "immunotherapy-order-sign": "order-sign",
    }
    for service in services:
        assert set(service) <= {
            "id",
            "hook",
            "title",
            "description",
            "prefetch",
            "usageRequirements",
        }
        assert "metadata" not in service


def test_patient_with_none_of_the_conditions_gets_an_empty_card_list(client: FlaskClient) -> None:
    response = client.post(GUIDANCE, json=patient_view_request())
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_a_finding_is_rendered_to_a_card_end_to_end(
    client: FlaskClient, temporary_rule: str
) -> None:
    cards = client.post(GUIDANCE, json=patient_view_request()).get_json()["cards"]
    assert len(cards) == 1
    card = cards[0]
    assert card["summary"] == "Test card: the pipeline ran"
    assert card["indicator"] == "info"
    assert card["source"] == {"label": "Test source", "url": "https://example.org/source"}
    assert "**Patient** pat-1" in card["detail"]
    assert card["overrideReasons"][0]["display"] == "Other reason"
    assert len(card["uuid"]) == 36


def test_unknown_fields_and_extensions_are_ignored(client: FlaskClient) -> None:
    body = patient_view_request(extension={"com.example.flag": {"on": True}}, surprise=1)
    body["context"]["extension"] = {"com.example.x": 1}
    body["context"]["somethingNew"] = "ok"
    assert client.post(GUIDANCE, json=body).status_code == 200


def test_spec_example_request_is_answered(client: FlaskClient) -> None:
    # The spec's example names a prefetch key we do not declare and an http fhirServer we may
    # not contact: required Conditions cannot be obtained, so the answer is the spec's 412.
    response = client.post(GUIDANCE, json=spec_example("request-patient-view"))
    body = assert_envelope(response, 412, "precondition-failed")
    assert any(d.get("key") == "conditions" for d in body["details"])


@pytest.mark.parametrize(
    ("data", "content_type", "fragment"),
    [
        ("{not json", "application/json", "not valid JSON"),
        ("[1, 2]", "application/json", "must be a JSON object"),
        ('"text"', "application/json", "must be a JSON object"),
        ("", "application/json", "empty"),
        ("hook=patient-view", "application/x-www-form-urlencoded", "Content-Type"),
        (b"\xff\xfe".decode("latin-1"), "application/json", "not valid JSON"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_400(
    client: FlaskClient, data: str, content_type: str, fragment: str
) -> None:
    body = assert_envelope(
        client.post(GUIDANCE, data=data, content_type=content_type), 400, "bad-request"
    )
    assert fragment in body["message"]


def _without(body: dict[str, Any], path: str) -> dict[str, Any]:
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    del target[last]
    return body


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: _without(b, "hook"), "hook"),
        (lambda b: _without(b, "hookInstance"), "hookInstance"),
        (lambda b: _without(b, "context"), "context"),
        (lambda b: _without(b, "context.patientId"), "context.patientId"),
        (lambda b: _without(b, "context.userId"), "context.userId"),
        (lambda b: {**b, "context": {**b["context"], "userId": "abc"}}, "context.userId"),
        (lambda b: {**b, "hookInstance": ""}, "hookInstance"),
        (lambda b: {**b, "context": "patient"}, "context"),
        (
            lambda b: {
                **b,
                "fhirAuthorization": {
                    "access_token": "tok-never-logged-1",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "user/Patient.read",
                    "subject": "cds",
                },
            },
            "(body)",
        ),
        (
            lambda b: {
                **b,
                "fhirServer": "https://ehr.example.org/fhir",
                "fhirAuthorization": {
                    "access_token": "tok-never-logged-2",
                    "token_type": "bearer-ish",
                    "expires_in": 300,
                    "scope": "user/Patient.read",
                    "subject": "cds",
                },
            },
            "fhirAuthorization.token_type",
        ),
        (lambda b: {**b, "fhirServer": "ftp://ehr.example.org"}, "(body)"),
    ],
)
def test_requests_breaking_the_spec_are_400_naming_the_field(
    client: FlaskClient, mutate: Any, field: str
) -> None:
    response = client.post(GUIDANCE, json=mutate(patient_view_request()))
    body = assert_envelope(response, 400, "bad-request")
    assert field in [d["field"] for d in body["details"]], body
    assert "tok-never-logged" not in response.get_data(as_text=True)


def test_a_hook_the_service_does_not_answer_is_400(client: FlaskClient) -> None:
    body = assert_envelope(
        client.post(GUIDANCE, json=patient_view_request(hook="order-sign")), 400, "bad-request"
    )
    assert body["details"] == [{"field": "hook", "problem": "expected 'patient-view'"}]


def test_an_unknown_service_is_404(client: FlaskClient) -> None:
    assert_envelope(
        client.post("/cds-services/nope", json=patient_view_request()), 404, "not-found"
    )


def test_unknown_paths_and_methods_get_the_envelope(client: FlaskClient) -> None:
    assert_envelope(client.get("/nothing-here"), 404, "not-found")
    response = client.delete(GUIDANCE)
    assert_envelope(response, 405, "method-not-allowed")
    assert "POST" in response.headers["Allow"]
    assert_envelope(client.get(GUIDANCE), 405, "method-not-allowed")


def test_a_body_over_the_size_limit_is_413(tmp_path: Any) -> None:
    from cds_service import create_app

    app = create_app({"AUTH_ENABLED": False, "DATABASE_URL": "sqlite://", "MAX_BODY_BYTES": 2048})
    body = patient_view_request()
    body["context"]["padding"] = "x" * 4096
    response = app.test_client().post(
        GUIDANCE, data=json.dumps(body), content_type="application/json"
    )
    message = assert_envelope(response, 413, "payload-too-large")["message"]
    assert "2048" in message


def test_order_select_accepts_any_r4_request_resource_in_draft_orders(client: FlaskClient) -> None:
    orders: list[dict[str, Any]] = [
        STEROID_ORDER,
        {"resourceType": "NutritionOrder", "id": "n-1", "status": "draft", "intent": "order"},
        {"resourceType": "DeviceRequest", "id": "d-1", "status": "draft", "intent": "order"},
        {"resourceType": "VisionPrescription", "id": "v-1", "status": "draft"},
    ]
    response = client.post(
        ORDER_SELECT, json=order_request("order-select", orders, selections=["NutritionOrder/n-1"])
    )
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_selections_that_name_no_draft_order_are_400(client: FlaskClient) -> None:
    body = order_request("order-select", [STEROID_ORDER], selections=["MedicationRequest/other"])
    details = assert_envelope(client.post(ORDER_SELECT, json=body), 400, "bad-request")["details"]
    assert details[0]["field"] == "context"
    assert "MedicationRequest/other" in details[0]["problem"]


@pytest.mark.parametrize("hook,url", [("order-select", ORDER_SELECT), ("order-sign", ORDER_SIGN)])
def test_order_hooks_require_draft_orders(client: FlaskClient, hook: str, url: str) -> None:
    body = order_request(hook, [STEROID_ORDER])
    del body["context"]["draftOrders"]
    details = assert_envelope(client.post(url, json=body), 400, "bad-request")["details"]
    assert "context.draftOrders" in [d["field"] for d in details]


def test_draft_orders_must_be_a_bundle_of_resources(client: FlaskClient) -> None:
    body = order_request("order-sign", [STEROID_ORDER])
    body["context"]["draftOrders"]["entry"].append({"resource": {"id": "no-type"}})
    details = assert_envelope(client.post(ORDER_SIGN, json=body), 400, "bad-request")["details"]
    assert details[0]["field"] == "context.draftOrders.entry"


def test_missing_required_prefetch_without_fhir_server_is_412(client: FlaskClient) -> None:
    body = patient_view_request()
    del body["prefetch"]["conditions"]
    details = assert_envelope(client.post(GUIDANCE, json=body), 412, "precondition-failed")[
        "details"
    ]
    assert [d["key"] for d in details] == ["conditions"]


def test_missing_optional_prefetch_does_not_fail_the_call(client: FlaskClient) -> None:
    body = patient_view_request()
    for key in ("observations", "medications", "procedures", "patient"):
        del body["prefetch"][key]
    assert client.post(GUIDANCE, json=body).status_code == 200


def test_health_check_answers(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok", "services": 3}


def test_an_unexpected_failure_is_500_with_the_envelope_and_no_stack_trace(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    from cds_service import rules
    from cds_service.facts.model import PatientFacts

    def broken(facts: PatientFacts) -> list[Any]:
        raise RuntimeError("rule bug with secret detail")

    broken_rule = rules.Rule("test-broken", frozenset({Hook.PATIENT_VIEW}), broken, "000")
    with service_running(app, "immunotherapy-guidance", broken_rule):
        response = client.post(GUIDANCE, json=patient_view_request())
    body = assert_envelope(response, 500, "internal-error")
    assert "secret detail" not in response.get_data(as_text=True)
    assert "RuntimeError" not in body["message"]
    [line] = [r for r in caplog.records if r.name == "cds_service.request"]
    fields = line.fields  # type: ignore[attr-defined]
    assert (fields["status"], fields["service"]) == (500, "immunotherapy-guidance")
    assert fields["hookInstance"] == patient_view_request()["hookInstance"]
