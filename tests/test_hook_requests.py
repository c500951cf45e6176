"""The one hook-request builder: prefetch filled by resource type, order hooks' context."""

from __future__ import annotations

import pytest

from cds_service.hook_requests import RequestBuildError, build_request, hook_request
from cds_service.protocol.request import HookRequest
from cds_service.services import ServiceDefinition

SERVICE = ServiceDefinition(
    id="s",
    hook="order-select",
    title="t",
    description="d",
    prefetch={
        "patient": "Patient/{{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "procedures": "Procedure?patient={{context.patientId}}",
    },
    required_prefetch=frozenset({"conditions"}),
    examples=(),
)
ORDER = {"resourceType": "MedicationRequest", "id": "o1", "status": "draft", "intent": "order"}


def _bundle(*resources: dict[str, object]) -> dict[str, object]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": r} for r in resources],
    }


def test_prefetch_holds_each_templates_resources_and_a_read_gets_its_one_resource() -> None:
    body = build_request(
        SERVICE,
        _bundle(
            {"resourceType": "Patient", "id": "p1"},
            {"resourceType": "Condition", "id": "c1"},
            {"resourceType": "Condition", "id": "c2"},
        ),
        draft_orders=[ORDER],
    )
    assert body["prefetch"]["patient"] == {"resourceType": "Patient", "id": "p1"}
    assert [e["resource"]["id"] for e in body["prefetch"]["conditions"]["entry"]] == ["c1", "c2"]
    assert body["prefetch"]["procedures"] == {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 0,
    }
    assert body["context"]["selections"] == ["MedicationRequest/o1"]
    HookRequest.model_validate(body)


def test_a_bundle_without_exactly_one_patient_needs_the_patient_named() -> None:
    with pytest.raises(RequestBuildError, match="exactly one Patient"):
        build_request(SERVICE, _bundle({"resourceType": "Condition", "id": "c1"}))
    body = build_request(
        SERVICE, _bundle({"resourceType": "Condition", "id": "c1"}), patient_id="p9"
    )
    assert body["context"]["patientId"] == "p9" and body["prefetch"]["patient"] is None


def test_patient_view_has_no_order_context_and_omits_absent_members() -> None:
    body = hook_request("patient-view", "p1", hook_instance="h1")
    assert body == {
        "hook": "patient-view",
        "hookInstance": "h1",
        "context": {"userId": "Practitioner/cds-invoke", "patientId": "p1"},
    }
    assert "selections" not in hook_request("order-sign", "p1", draft_orders=[ORDER])["context"]
