"""Building CDS Hooks requests (CDS Hooks 2.0 "HTTP Request"), the one place their shape lives.

`hook_request` writes the envelope (`hook`, `hookInstance`, `context`, optional `prefetch`,
`fhirServer`, `fhirAuthorization`), with `draftOrders` and `selections` for the order hooks.
`build_request` fills the prefetch from a FHIR Bundle the way an over-delivering EHR does: every
resource of the type a service's prefetch template asks for goes into that key (the service must
filter it anyway), a read template gets the one resource it names or `null`. The CLI (`invoke`),
the fixture scenarios, the benchmark and the preview page all build their requests here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from cds_service.services import ServiceDefinition

ORDER_HOOKS = frozenset({"order-select", "order-sign"})
DEFAULT_USER = "Practitioner/cds-invoke"


class RequestBuildError(ValueError):
    """The inputs cannot make a hook request (e.g. a bundle without exactly one Patient)."""


def bundle_entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a Bundle's entries (entries without a resource object are skipped)."""
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        return []
    return [
        e["resource"]
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]


def bundle_patient_id(resources: Iterable[dict[str, Any]]) -> str:
    """The id of the one Patient among `resources`."""
    patients = [r.get("id") for r in resources if r.get("resourceType") == "Patient"]
    if len(patients) != 1 or not isinstance(patients[0], str):
        raise RequestBuildError("the bundle must hold exactly one Patient")
    return patients[0]


def prefetch_from_resources(
    service: ServiceDefinition, resources: Sequence[dict[str, Any]], patient_id: str
) -> dict[str, Any]:
    """Every prefetch key of `service`, filled from `resources` by resource type."""
    prefetch: dict[str, Any] = {}
    for key, template in service.prefetch.items():
        path = template.split("?", 1)[0]
        resource_type = path.split("/", 1)[0]
        matching = [r for r in resources if r.get("resourceType") == resource_type]
        if "/" in path:  # a read: the one resource (the patient), or null when absent
            prefetch[key] = next((r for r in matching if r.get("id") == patient_id), None)
            continue
        searchset: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matching),
        }
        if matching:
            searchset["entry"] = [{"resource": r} for r in matching]
        prefetch[key] = searchset
    return prefetch


def hook_request(
    hook: str,
    patient_id: str,
    *,
    prefetch: dict[str, Any] | None = None,
    draft_orders: Sequence[dict[str, Any]] = (),
    selections: Sequence[str] | None = None,
    user_id: str = DEFAULT_USER,
    hook_instance: str | None = None,
    fhir_server: str | None = None,
    fhir_authorization: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A hook request; order hooks carry `draftOrders`, order-select also `selections` (default:
    every draft order). `prefetch=None` leaves the member out."""
    context: dict[str, Any] = {"userId": user_id, "patientId": patient_id}
    if hook in ORDER_HOOKS:
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in draft_orders],
        }
        if hook == "order-select":
            context["selections"] = (
                list(selections)
                if selections is not None
                else [f"{r.get('resourceType')}/{r.get('id')}" for r in draft_orders]
            )
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": hook_instance or str(uuid.uuid4()),
        "context": context,
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if fhir_authorization is not None:
        body["fhirAuthorization"] = fhir_authorization
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def build_request(
    service: ServiceDefinition,
    bundle: dict[str, Any],
    *,
    patient_id: str | None = None,
    draft_orders: Sequence[dict[str, Any]] = (),
    selections: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The request to `service` an EHR holding `bundle` would send, every prefetch key filled."""
    resources = bundle_entries(bundle)
    patient = patient_id if patient_id is not None else bundle_patient_id(resources)
    return hook_request(
        service.hook,
        patient,
        prefetch=prefetch_from_resources(service, resources, patient),
        draft_orders=draft_orders,
        selections=selections or None,
    )
