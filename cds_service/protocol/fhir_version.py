"""Requests written in an older FHIR version than the one this service reads (R4).

CDS Hooks 2.0 leaves the FHIR version to the deployment: the order hooks accept `draftOrders` of
DSTU2 (`MedicationOrder`), STU3 or R4 request resources, and the CDS Hooks sandbox's default FHIR
server is DSTU2. The rules read R4 only, so a DSTU2 `MedicationOrder` used to pass validation and be
ignored: `{"cards": []}`, which means "checked, no advice". That is refused instead, with a 400
that names the resource type, where it was found, and the R4 type to send (README "Calling the
hooks", "Other FHIR versions", says why a 400 and not an information card).

Only resource types that do not exist in R4 are recognised; a pre-R4 resource whose type still
exists in R4 (a DSTU2 `Patient`, an STU3 `MedicationRequest`) cannot be told apart by its type and
is read as R4.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# resource type -> (the FHIR versions it belongs to, what R4 uses instead or None)
PRE_R4_TYPES: Mapping[str, tuple[str, str | None]] = {
    "MedicationOrder": ("DSTU2", "MedicationRequest"),
    "DiagnosticOrder": ("DSTU2", "ServiceRequest"),
    "DeviceUseRequest": ("DSTU2", "DeviceRequest"),
    "Order": ("DSTU2", None),
    "OrderResponse": ("DSTU2", None),
    "Conformance": ("DSTU2", "CapabilityStatement"),
    "ImagingObjectSelection": ("DSTU2", "ImagingStudy"),
    "ProcedureRequest": ("DSTU2/STU3", "ServiceRequest"),
    "ReferralRequest": ("DSTU2/STU3", "ServiceRequest"),
    "ProcessRequest": ("DSTU2/STU3", None),
    "ProcessResponse": ("DSTU2/STU3", None),
    "EligibilityRequest": ("DSTU2/STU3", "CoverageEligibilityRequest"),
    "EligibilityResponse": ("DSTU2/STU3", "CoverageEligibilityResponse"),
    "BodySite": ("DSTU2/STU3", "BodyStructure"),
    "DataElement": ("DSTU2/STU3", "StructureDefinition"),
    "DeviceComponent": ("DSTU2/STU3", "Device"),
    "ImagingManifest": ("STU3", "ImagingStudy"),
    "ExpansionProfile": ("STU3", None),
    "ServiceDefinition": ("STU3", "ActivityDefinition"),
    "Sequence": ("STU3", "MolecularSequence"),
}


def _problem(resource_type: str) -> str:
    version, r4 = PRE_R4_TYPES[resource_type]
    instead = f"; R4 uses {r4}" if r4 else "; R4 has no such resource"
    return (
        f"unsupported FHIR version: {resource_type} is a FHIR {version} resource and this "
        f"service reads FHIR R4 only{instead}"
    )


def _pre_r4_in(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field path, type) of a pre-R4 resource, or of each pre-R4 entry of a Bundle; paths are
    built only for what is found (a large prefetch Bundle is one type lookup per entry)."""
    if not isinstance(value, dict):
        return
    kind = value.get("resourceType")
    if isinstance(kind, str) and kind in PRE_R4_TYPES:
        yield f"{path}.resourceType", kind
    entries = value.get("entry") if kind == "Bundle" else None
    if isinstance(entries, list):
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict):
                kind = resource.get("resourceType")
                if isinstance(kind, str) and kind in PRE_R4_TYPES:
                    yield f"{path}.entry.{i}.resource.resourceType", kind


def pre_r4_resources(
    context: Mapping[str, Any], prefetch: Mapping[str, Any] | None
) -> list[tuple[str, str]]:
    """(field path, resource type) of every pre-R4 resource in `draftOrders` or in prefetch."""
    found = list(_pre_r4_in(context.get("draftOrders"), "context.draftOrders"))
    for key, value in (prefetch or {}).items():
        found += _pre_r4_in(value, f"prefetch.{key}")
    return found


def refusal(found: list[tuple[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """The 400's message (naming the resource types) and its per-field details."""
    types = ", ".join(dict.fromkeys(resource_type for _, resource_type in found))
    message = f"unsupported FHIR version: this service reads FHIR R4; the request holds {types}"
    return message, [{"field": path, "problem": _problem(rt)} for path, rt in found]
