"""Suggested order changes as real FHIR R4 resources, built from the rules' decisions.

Rules decide (`findings.ProposeOrder`, `findings.ProposeRemoval`); the card layer calls `build`
here to turn a decision into a CDS Hooks suggestion (spec "Suggestion" and "Action"): replacing a
draft order is a `delete` of the draft by its resourceId plus a `create` of the new resource.
The IVIG dose and course come from `cds_service.dosing` (the regimen table), plasma exchange
sessions from `cds_service.knowledge.regimens`. Resources carry only codes verified in the
knowledge package: IVIG carries CVX 87 (no RxNorm code is verified; clients such as the CDS
Hooks sandbox apply a `create` only when the medication is coded); plasma exchange has no verified
SNOMED CT or CPT code for a ServiceRequest, so it is named in text, with the words the facts layer
recognises. Every builder's output is
validated with fhir.resources.R4B in the test suite over every fixture.
"""

from __future__ import annotations

from typing import Any

from cds_service.dosing import DoseAdvice, mass
from cds_service.facts.model import Therapy, TherapyFact
from cds_service.findings import (
    Proposal,
    ProposedAction,
    ProposedChange,
    ProposeOrder,
    ProposeRemoval,
)
from cds_service.knowledge import UCUM
from cds_service.knowledge.regimens import PLEX_INTERVAL_DAYS, PLEX_SESSIONS
from cds_service.knowledge.rxnorm import CVX_IVIG

IVIG_TEXT = "Intravenous immune globulin (IVIG)"
PLEX_TEXT = "Therapeutic plasma exchange"


def _reason(condition_reference: str | None) -> dict[str, Any]:
    return {"reasonReference": [{"reference": condition_reference}]} if condition_reference else {}


def ivig_medication_request(
    patient_id: str, daily: DoseAdvice, condition_reference: str | None = None
) -> dict[str, Any] | None:
    """An IVIG order at the advised daily dose for its course, or None when not computed."""
    if daily.amount is None or daily.regimen is None or daily.regimen.course_days is None:
        return None
    days = daily.regimen.course_days
    text = (
        f"{mass(daily.amount, 'g')} IV once daily for {days} days "
        f"({daily.basis}); infuse per local IVIG protocol"
    )
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {"system": CVX_IVIG.system, "code": CVX_IVIG.code, "display": CVX_IVIG.display}
            ],
            "text": IVIG_TEXT,
        },
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
    }


def plex_service_request(patient_id: str, condition_reference: str | None = None) -> dict[str, Any]:
    """Plasma exchange, a course of sessions every other day (the apheresis team sets volumes)."""
    return {
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
    }


def delete_draft(order: TherapyFact) -> ProposedAction:
    return ProposedAction(
        "delete",
        f"Remove the draft order {order.display or order.reference}",
        resource_id=order.reference,
    )


def _order(proposal: ProposeOrder, patient_id: str) -> ProposedChange | None:
    replaced = proposal.replaces
    verb = "Replace with" if replaced else "Order"
    if proposal.therapy == Therapy.IVIG:
        advice = proposal.advice
        resource = (
            ivig_medication_request(patient_id, advice, proposal.condition_reference)
            if advice
            else None
        )
        if resource is None or advice is None or advice.amount is None:
            return None
        assert advice.regimen is not None and advice.regimen.course_days is not None
        days, amount = advice.regimen.course_days, mass(advice.amount, "g")
        create = ProposedAction(
            "create", f"Order IVIG {amount} daily for {days} days", resource=resource
        )
        label = f"{verb} IVIG {amount}/day x {days} days"
    else:
        create = ProposedAction(
            "create",
            f"Order plasma exchange, {PLEX_SESSIONS} sessions every other day",
            resource=plex_service_request(patient_id, proposal.condition_reference),
        )
        label = f"{verb} plasma exchange x {PLEX_SESSIONS} (every other day)"
    return ProposedChange(label, _replacing(replaced, create), proposal.recommended)


def _replacing(replaced: TherapyFact | None, create: ProposedAction) -> tuple[ProposedAction, ...]:
    """Actions a client applying them in order (and perhaps only the first) ends up right with.

    The CDS Hooks sandbox applies a suggestion's actions in sequence and can stop after the
    first: "delete, then create" would leave no order at all. A replacement of the same resource
    type is one `update` of the draft (same id, new content); another type is `create` first,
    then `delete`, so the new order exists whatever the client applies.
    """
    if replaced is None or not _has_id(replaced):
        return (create,)  # nothing to replace, or a draft without an id: the new order alone
    resource = create.resource or {}
    kind, _, ident = replaced.reference.partition("/")
    if resource.get("resourceType") == kind and ident:
        return (
            ProposedAction(
                "update",
                f"Change the draft order {replaced.display or replaced.reference} to: "
                f"{create.description}",
                resource={**resource, "id": ident},
            ),
        )
    return (create, delete_draft(replaced))


def _has_id(order: TherapyFact) -> bool:
    """Whether the draft's reference names a usable id (facts.robust gives '?' otherwise)."""
    return not order.reference.endswith("/?")


def build(proposal: Proposal, patient_id: str) -> ProposedChange | None:
    """The suggestion for one decision, or None when it cannot be made concrete."""
    if isinstance(proposal, ProposeRemoval):
        order = proposal.order
        if not _has_id(order):
            return None  # a draft without a usable id cannot be named in a delete
        return ProposedChange(
            f"Remove {order.display or order.ingredient or 'the draft order'}",
            (delete_draft(order),),
        )
    return _order(proposal, patient_id)
