"""Older FHIR versions are refused plainly: a DSTU2 `MedicationOrder` (what the CDS Hooks sandbox
sends with its default DSTU2 FHIR server) is a 400 naming the resource type, never `cards: []`."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.ledger import get_ledger
from cds_service.protocol.fhir_version import PRE_R4_TYPES, pre_r4_resources
from tests.conftest import order_request, patient_view_request

GUIDANCE = "/cds-services/immunotherapy-guidance"
ORDER_SELECT = "/cds-services/immunotherapy-order-select"
ORDER_SIGN = "/cds-services/immunotherapy-order-sign"

# The shape of the sandbox's DSTU2 medication order (DSTU2 uses `patient`, R4 uses `subject`).
DSTU2_ORDER = {
    "resourceType": "MedicationOrder",
    "id": "request-123",
    "status": "draft",
    "patient": {"reference": "Patient/pat-1"},
    "medicationCodeableConcept": {
        "text": "methylprednisolone 1 g IV",
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6902"}],
    },
}
R4_ORDER = {
    "resourceType": "MedicationRequest",
    "id": "draft-1",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": "Patient/pat-1"},
    "medicationCodeableConcept": {"text": "methylprednisolone 1 g IV"},
}


def _refused(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert body["error"] == "bad-request"
    assert body["message"].startswith("unsupported FHIR version")
    assert "MedicationOrder" in body["message"]
    return body


@pytest.mark.parametrize(
    ("path", "hook", "context"),
    [
        (ORDER_SELECT, "order-select", {"selections": ["MedicationOrder/request-123"]}),
        (ORDER_SIGN, "order-sign", {}),
    ],
)
def test_a_dstu2_medication_order_is_a_400_naming_it(
    client: FlaskClient, path: str, hook: str, context: dict[str, Any]
) -> None:
    body = _refused(client.post(path, json=order_request(hook, [DSTU2_ORDER], **context)))
    assert body["details"] == [
        {
            "field": "context.draftOrders.entry.0.resource.resourceType",
            "problem": "unsupported FHIR version: MedicationOrder is a FHIR DSTU2 resource and "
            "this service reads FHIR R4 only; R4 uses MedicationRequest",
        }
    ]


def test_only_the_pre_r4_entries_are_named_beside_r4_ones(client: FlaskClient) -> None:
    body = order_request("order-sign", [R4_ORDER, DSTU2_ORDER])
    details = _refused(client.post(ORDER_SIGN, json=body))["details"]
    assert [d["field"] for d in details] == ["context.draftOrders.entry.1.resource.resourceType"]


def test_a_dstu2_prefetch_bundle_is_a_400_naming_the_key(client: FlaskClient) -> None:
    body = patient_view_request()
    body["prefetch"]["medications"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {**DSTU2_ORDER, "status": "active"}}],
    }
    details = _refused(client.post(GUIDANCE, json=body))["details"]
    assert [d["field"] for d in details] == ["prefetch.medications.entry.0.resource.resourceType"]


def test_a_refused_call_records_no_card(app: Flask, client: FlaskClient) -> None:
    _refused(client.post(ORDER_SIGN, json=order_request("order-sign", [DSTU2_ORDER])))
    with app.app_context():
        assert get_ledger().report() == []


@pytest.mark.parametrize("resource_type", ["MedicationRequest", "NutritionOrder", "Observation"])
def test_r4_resource_types_pass(client: FlaskClient, resource_type: str) -> None:
    order = {**R4_ORDER, "resourceType": resource_type}
    response = client.post(ORDER_SIGN, json=order_request("order-sign", [order]))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_every_listed_type_is_found_wherever_it_sits() -> None:
    for resource_type in PRE_R4_TYPES:
        resource = {"resourceType": resource_type, "id": "x"}
        found = pre_r4_resources(
            {"draftOrders": {"resourceType": "Bundle", "entry": [{"resource": resource}]}},
            {"single": resource, "nothing": None, "text": "123"},
        )
        assert found == [
            ("context.draftOrders.entry.0.resource.resourceType", resource_type),
            ("prefetch.single.resourceType", resource_type),
        ]
