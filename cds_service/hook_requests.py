"""A hook request built from a FHIR Bundle, the way an over-delivering EHR would send it.

Every resource of the type a prefetch template asks for goes into that key (the service must filter
it anyway); draft orders and selections fill the order hooks' context. Used by `cds-service invoke
--bundle`, the fixture scenarios and the benchmark (library code, so none of them imports the CLI).
"""

from __future__ import annotations

import uuid
from typing import Any

from cds_service.services import ServiceDefinition


def bundle_entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if isinstance(e.get("resource"), dict)]


def build_request(
    service: ServiceDefinition,
    bundle: dict[str, Any],
    *,
    patient_id: str | None = None,
    draft_orders: list[dict[str, Any]] | None = None,
    selections: list[str] | None = None,
) -> dict[str, Any]:
    """A hook request whose prefetch holds every bundle resource of each template's type."""
    resources = bundle_entries(bundle)
    if patient_id is None:
        patients = [r["id"] for r in resources if r.get("resourceType") == "Patient"]
        if len(patients) != 1:
            raise ValueError("the bundle must hold exactly one Patient, or pass --patient")
        patient_id = patients[0]
    prefetch: dict[str, Any] = {}
    for key, template in service.prefetch.items():
        path = template.split("?", 1)[0]
        resource_type = path.split("/", 1)[0]
        matching = [r for r in resources if r.get("resourceType") == resource_type]
        if "/" in path:  # a read: the one resource (the patient), or null when absent
            prefetch[key] = next((r for r in matching if r.get("id") == patient_id), None)
        else:
            prefetch[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(matching),
                "entry": [{"resource": r} for r in matching],
            }
            if not matching:
                del prefetch[key]["entry"]
    context: dict[str, Any] = {"userId": "Practitioner/cds-invoke", "patientId": patient_id}
    if service.hook in ("order-select", "order-sign"):
        orders = draft_orders or []
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in orders],
        }
        if service.hook == "order-select":
            context["selections"] = selections or [f"{r['resourceType']}/{r['id']}" for r in orders]
    return {
        "hook": service.hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": prefetch,
    }
