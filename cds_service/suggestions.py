"""Suggested order changes as real FHIR R4 resources, built and validated with fhir.resources.R4B.

A suggestion is what a clinician can accept in one click (CDS Hooks 2.0 "Suggestion" and "Action"):
replacing a draft order is a `delete` of the draft by its resourceId plus a `create` of the new
resource. Resources carry only codes verified in the terminology package; IVIG and plasma exchange
have no verified RxNorm / SNOMED CT / CPT code (terminology.md Addendum 4), so they are named in
text, with the words the facts layer recognises (cds_service.knowledge.rxnorm TEXT_TERMS and
procedures PLEX_TEXT_TERMS). An IVIG dose is written only when it was computed from a current
weight; with no usable weight there is no IVIG suggestion, and the card says why.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.dosing import (
    PLEX_INTERVAL_DAYS,
    PLEX_SESSIONS,
    DoseCalculation,
    number,
)
from cds_service.facts.model import TherapyFact
from cds_service.findings import ProposedAction, ProposedChange
from cds_service.knowledge import UCUM

IVIG_TEXT = "Intravenous immune globulin (IVIG)"
PLEX_TEXT = "Therapeutic plasma exchange"


def _validated(
    model: type[MedicationRequest] | type[ServiceRequest], data: dict[str, Any]
) -> dict[str, Any]:
    """Validate with fhir.resources (raises on an invalid resource) and return the same JSON.

    The input is already plain R4 JSON; re-dumping the parsed model cost 0.27 ms per resource
    (benchmark profile) and gives back the same dict, which tests/test_rules_dosing.py proves.
    """
    model.model_validate(data)
    return data


def _reason(condition_reference: str | None) -> dict[str, Any]:
    return {"reasonReference": [{"reference": condition_reference}]} if condition_reference else {}


def ivig_medication_request(
    patient_id: str, daily: DoseCalculation, days: int, condition_reference: str | None = None
) -> dict[str, Any] | None:
    """An IVIG order dosed from weight for `days` days, or None when the dose was not computed."""
    if daily.amount is None:
        return None
    text = (
        f"{number(daily.amount)} g IV once daily for {days} days "
        f"({daily.basis}); infuse per local IVIG protocol"
    )
    return _validated(
        MedicationRequest,
        {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": {"text": IVIG_TEXT},
            "subject": {"reference": f"Patient/{patient_id}"},
            **_reason(condition_reference),
            "dosageInstruction": [
                {
                    "text": text,
                    "route": {"text": "intravenous"},
                    "timing": {
                        "repeat": {"count": days, "frequency": 1, "period": 1, "periodUnit": "d"}
                    },
                    "doseAndRate": [
                        {
                            "doseQuantity": {
                                "value": daily.amount,
                                "unit": "g",
                                "system": UCUM,
                                "code": "g",
                            }
                        }
                    ],
                }
            ],
        },
    )


def plex_service_request(patient_id: str, condition_reference: str | None = None) -> dict[str, Any]:
    """Plasma exchange, 5 sessions every other day (seeds 000 and 002: 5-10 sessions)."""
    return _validated(
        ServiceRequest,
        {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "code": {"text": PLEX_TEXT},
            "subject": {"reference": f"Patient/{patient_id}"},
            **_reason(condition_reference),
            "occurrenceTiming": {
                "repeat": {
                    "count": PLEX_SESSIONS,
                    "frequency": 1,
                    "period": PLEX_INTERVAL_DAYS,
                    "periodUnit": "d",
                }
            },
            "note": [
                {
                    "text": f"{PLEX_SESSIONS} sessions, one every {PLEX_INTERVAL_DAYS} days; "
                    "central venous access per apheresis team"
                }
            ],
        },
    )


def delete_draft(order: TherapyFact) -> ProposedAction:
    return ProposedAction(
        "delete",
        f"Remove the draft order {order.display or order.reference}",
        resource_id=order.reference,
    )


def replace_with_ivig(
    order: TherapyFact | None,
    patient_id: str,
    daily: DoseCalculation,
    days: int,
    condition_reference: str | None = None,
    recommended: bool = False,
) -> ProposedChange | None:
    resource = ivig_medication_request(patient_id, daily, days, condition_reference)
    if resource is None:
        return None
    assert daily.amount is not None
    create = ProposedAction(
        "create", f"Order IVIG {number(daily.amount)} g daily for {days} days", resource=resource
    )
    actions = (delete_draft(order), create) if order else (create,)
    verb = "Replace with" if order else "Order"
    label = f"{verb} IVIG {number(daily.amount)} g/day x {days} days"
    return ProposedChange(label, actions, recommended)


def replace_with_plex(
    order: TherapyFact | None,
    patient_id: str,
    condition_reference: str | None = None,
    recommended: bool = False,
) -> ProposedChange:
    create = ProposedAction(
        "create",
        f"Order plasma exchange, {PLEX_SESSIONS} sessions every other day",
        resource=plex_service_request(patient_id, condition_reference),
    )
    actions = (delete_draft(order), create) if order else (create,)
    verb = "Replace with" if order else "Order"
    return ProposedChange(
        f"{verb} plasma exchange x {PLEX_SESSIONS} (every other day)", actions, recommended
    )


def remove_order(order: TherapyFact) -> ProposedChange:
    return ProposedChange(
        f"Remove {order.display or order.ingredient or 'the draft order'}", (delete_draft(order),)
    )
