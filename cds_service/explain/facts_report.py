"""What the facts layer made of one record: what it recognised, and what was there but not used.

Reads `PatientFacts` (the facts layer's output) beside the resources it was built from and lists:
conditions by category with the code that matched; labs with value, unit, age, freshness window
and whether the value is current; therapies with how each was recognised (code or name); and
everything present but not recognised or not usable, each with its reason: a Condition coded only
in a system the service does not read (e.g. WHO ICD-10 `http://hl7.org/fhir/sid/icd-10` where the
code sets are ICD-10-CM and SNOMED CT), a refuted or entered-in-error diagnosis, an Observation
whose unit cannot be converted or whose value is not a number (`LabFact.unusable`), a lab never
used because of its status, an order that names no immunotherapy the service knows. A record that
gives "no cards" can then be read for why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cds_service.facts.model import PatientFacts, TherapyFact
from cds_service.frozen import fast_init
from cds_service.knowledge import ICD10CM, LOINC, RXNORM, SNOMED
from cds_service.knowledge.conditions import CONDITION_CODES, categories_for
from cds_service.knowledge.labs import LAB_DEFINITIONS
from cds_service.knowledge.loinc import lab_entry_for

CONDITION_SYSTEMS = frozenset(e.system for entries in CONDITION_CODES.values() for e in entries)
SYSTEM_NAMES = {
    ICD10CM: "ICD-10-CM",
    SNOMED: "SNOMED CT",
    LOINC: "LOINC",
    RXNORM: "RxNorm",
    "http://hl7.org/fhir/sid/icd-10": "WHO ICD-10",
    "http://hl7.org/fhir/sid/icd-9-cm": "ICD-9-CM",
}
MAX_LISTED = 25  # of the unrecognised resources per type; the rest are counted
THERAPY_RESOURCE_TYPES = frozenset(
    {
        "MedicationRequest",
        "MedicationAdministration",
        "MedicationStatement",
        "ServiceRequest",
        "Procedure",
    }
)


def system_name(system: str | None) -> str:
    if not system:
        return "no system"
    name = SYSTEM_NAMES.get(system)
    return f"{name} ({system})" if name else system


@fast_init
@dataclass(frozen=True)
class Note:
    """One resource that was present but not recognised or not used, and why."""

    reference: str
    reason: str


@fast_init
@dataclass(frozen=True)
class FactsReport:
    conditions: tuple[dict[str, Any], ...]
    labs: tuple[dict[str, Any], ...]
    therapies: tuple[dict[str, Any], ...]
    not_recognised: tuple[Note, ...]
    unavailable: tuple[str, ...]  # data categories that could not be obtained
    csf: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conditions": list(self.conditions),
            "labs": list(self.labs),
            "therapies": list(self.therapies),
            "csf": self.csf,
            "notRecognised": [
                {"reference": n.reference, "reason": n.reason} for n in self.not_recognised
            ],
            "unavailable": list(self.unavailable),
        }


def _reference(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType', '?')}/{resource.get('id', '?')}"


def _codings(resource: dict[str, Any], member: str = "code") -> list[dict[str, Any]]:
    concept = resource.get(member)
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return [c for c in codings or [] if isinstance(c, dict)]


def _coded(codings: Sequence[dict[str, Any]]) -> str:
    shown = [f"{system_name(c.get('system'))} {c.get('code', '?')}" for c in codings]
    return "; ".join(shown) or "no coding"


def _condition_notes(resources: Iterable[dict[str, Any]], facts: PatientFacts) -> list[Note]:
    recognised = {c.reference for c in facts.conditions}
    notes = []
    for resource in resources:
        if resource.get("resourceType", "Condition") != "Condition":
            continue
        reference = _reference(resource)
        if reference in recognised:
            continue
        codings = _codings(resource)
        matched = [c for c in codings if categories_for(c.get("system"), c.get("code"))]
        if matched:
            status = _concept_code(resource.get("verificationStatus")) or "not active"
            notes.append(
                Note(
                    reference,
                    f"{_coded(matched)} is recognised, but verificationStatus "
                    f"{status}: never counts",
                )
            )
            continue
        unknown = sorted({str(c.get("system")) for c in codings} - CONDITION_SYSTEMS)
        known = " and ".join(system_name(s) for s in sorted(CONDITION_SYSTEMS))
        if not codings:
            reason = "no coding (text only); conditions are recognised by code"
        elif unknown and len(unknown) == len({str(c.get("system")) for c in codings}):
            reason = f"code system not recognised: {_coded(codings)}; the service reads {known}"
        else:
            reason = f"{_coded(codings)}: in no category the rules read"
        notes.append(Note(reference, reason))
    return notes


def _concept_code(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("code"):
            return str(coding["code"])
    return None


def _observation_notes(resources: Iterable[dict[str, Any]], facts: PatientFacts) -> list[Note]:
    """Observations with a code the labs read that were never used, and codes in other systems."""
    used = {m.reference for lab in facts.labs.values() for m in lab.history}
    used |= {lab.latest.reference for lab in facts.labs.values() if lab.latest}
    noted = {note.split(":", 1)[0] for lab in facts.labs.values() for note in lab.unusable}
    notes: list[Note] = []
    other_systems: dict[str, int] = {}
    for resource in resources:
        if resource.get("resourceType", "Observation") != "Observation":
            continue
        reference = _reference(resource)
        if reference in used or reference in noted:
            continue
        codings = _codings(resource)
        entries = (lab_entry_for(c.get("system"), c.get("code")) for c in codings)
        entry = next((e for e in entries if e is not None), None)
        if entry is not None:
            label = LAB_DEFINITIONS[entry.kind].label
            notes.append(Note(reference, f"{label}: status {resource.get('status')}: never used"))
        elif codings and not any(c.get("system") == LOINC for c in codings):
            key = ", ".join(sorted({system_name(c.get("system")) for c in codings}))
            other_systems[key] = other_systems.get(key, 0) + 1
            if other_systems[key] <= MAX_LISTED:
                notes.append(
                    Note(
                        reference,
                        f"code system not read: {_coded(codings)}; labs are read by LOINC",
                    )
                )
    for lab in facts.labs.values():
        for note in lab.unusable:
            reference, _, why = note.partition(": ")
            notes.append(Note(reference, f"{LAB_DEFINITIONS[lab.kind].label}: {why}"))
    return notes


def _therapy_notes(
    resources: Iterable[dict[str, Any]], recognised: set[str], *, draft: bool
) -> list[Note]:
    notes = []
    for resource in resources:
        if resource.get("resourceType") not in THERAPY_RESOURCE_TYPES and not draft:
            continue
        reference = _reference(resource)
        if reference in recognised:
            continue
        concept = resource.get("medicationCodeableConcept") or resource.get("code") or {}
        text = concept.get("text") if isinstance(concept, dict) else None
        codings = (
            [c for c in (concept.get("coding") or []) if isinstance(c, dict)]
            if isinstance(concept, dict)
            else []
        )
        named = f" ({text})" if text else ""
        what = "draft order" if draft else "order or record"
        notes.append(
            Note(
                reference,
                f"{what} names no immunotherapy the service knows, by code or name: "
                f"{_coded(codings)}{named}",
            )
        )
    return notes


def _lab_row(facts: PatientFacts, kind: Any) -> dict[str, Any]:
    lab = facts.labs[kind]
    definition = LAB_DEFINITIONS[kind]
    latest = lab.latest
    row: dict[str, Any] = {
        "kind": str(kind),
        "label": definition.label,
        "freshnessHours": definition.freshness_hours,
        "values": len(lab.history),
    }
    if latest is None:
        row["used"] = False
        return row
    row.update(
        reference=latest.reference,
        effective=latest.effective.isoformat() if latest.effective else None,
        ageHours=round(latest.age_hours, 1) if latest.age_hours is not None else None,
        current=not latest.stale,
        used=not latest.stale,
    )
    if latest.qualitative is not None:
        row["result"] = str(latest.qualitative)
    else:
        row["value"] = latest.value
        row["unit"] = latest.unit
        if latest.original:
            row["asRecorded"] = latest.original
    return row


def _therapy_row(fact: TherapyFact) -> dict[str, Any]:
    return {
        "therapy": str(fact.therapy),
        "reference": fact.reference,
        "status": fact.status,
        "recognisedBy": "name" if fact.matched_by == "text" else "code",
        "draft": fact.is_draft_order,
        "selected": fact.is_selected,
        "display": fact.display or fact.ingredient,
    }


def facts_report(
    facts: PatientFacts,
    resources: Mapping[str, Sequence[dict[str, Any]]],
    draft_orders: Sequence[dict[str, Any]] = (),
) -> FactsReport:
    """`resources`: the resolved resources by prefetch key (what the facts were built from)."""
    everything = [r for key in resources for r in resources[key]]
    conditions = tuple(
        {
            "category": str(c.category),
            "code": f"{system_name(c.code.system)} {c.code.code}",
            "display": c.code.display or c.text,
            "reference": c.reference,
            "active": c.active,
            "clinicalStatus": c.clinical_status,
            "verificationStatus": c.verification_status,
        }
        for c in facts.conditions
    )
    therapies = tuple(_therapy_row(t) for t in (*facts.draft_orders, *facts.therapy_history))
    recognised = {t.reference for t in facts.therapy_history}
    notes = [
        *_condition_notes(everything, facts),
        *_observation_notes(everything, facts),
        *_therapy_notes(everything, recognised, draft=False),
        *_therapy_notes(draft_orders, {t.reference for t in facts.draft_orders}, draft=True),
    ]
    csf = {
        "status": str(facts.csf_status),
        "evidence": [m.reference for m in facts.csf_evidence],
        "missing": list(facts.csf_missing),
    }
    return FactsReport(
        conditions=conditions,
        labs=tuple(_lab_row(facts, kind) for kind in sorted(facts.labs, key=str)),
        therapies=therapies,
        not_recognised=tuple(notes),
        unavailable=tuple(sorted(str(k) for k in facts.unknown)),
        csf=csf,
    )
