"""Condition facts: which clinical categories a patient's Conditions fall into, and whether active.

A Condition is matched on its codings (ICD-10-CM by family, SNOMED CT by code; see
terminology.conditions) with a cheap dict pass before anything else is read. Active means
clinicalStatus active, recurrence or relapse (FHIR R4 condition-clinical). A Condition whose
verificationStatus is refuted or entered-in-error is dropped entirely: it never counts, not even as
history. Resolved, inactive and remission Conditions are kept with `active=False`, because history
matters to some rules (a resolved DVT is still thromboembolic risk). A Condition with no
clinicalStatus (allowed outside problem lists) and no abatement is read as active, so a coded
diagnosis is not silently ignored. Onset is kept: ANE timing depends on it.
"""

from __future__ import annotations

from typing import Any

from cds_service.facts.model import CodeRef, ConditionCategory, ConditionFact
from cds_service.facts.robust import ident, read_each, text_or_none
from cds_service.facts.timestamps import first_time
from cds_service.knowledge.conditions import categories_for

ACTIVE_CLINICAL_STATUSES = frozenset({"active", "recurrence", "relapse"})
EXCLUDED_VERIFICATION_STATUSES = frozenset({"refuted", "entered-in-error"})
_ABATEMENT_FIELDS = (
    "abatementDateTime",
    "abatementPeriod",
    "abatementAge",
    "abatementRange",
    "abatementString",
)


def condition_facts(
    resources: Any, unreadable: list[str] | None = None
) -> tuple[ConditionFact, ...]:
    """One fact per (Condition, category) pair, for every Condition that falls into a category."""
    facts: list[ConditionFact] = []
    for found in read_each(resources, _condition_facts_of, unreadable):
        facts.extend(found)
    return tuple(facts)


def _condition_facts_of(resource: dict[str, Any]) -> list[ConditionFact]:
    found: list[ConditionFact] = []
    if resource.get("resourceType", "Condition") != "Condition":
        return []
    matches = _matching_codings(resource)
    if not matches:
        return []
    verification = _status_code(resource.get("verificationStatus"))
    if verification in EXCLUDED_VERIFICATION_STATUSES:
        return []
    clinical = _status_code(resource.get("clinicalStatus"))
    if clinical is None:
        active = not any(field in resource for field in _ABATEMENT_FIELDS)
    else:
        active = clinical in ACTIVE_CLINICAL_STATUSES
    onset = first_time(resource, "onsetDateTime", "onsetPeriod.start")
    recorded = first_time(resource, "recordedDate")
    text = text_or_none((resource.get("code") or {}).get("text"))
    for category, code in matches.items():
        found.append(
            ConditionFact(
                category=category,
                code=code,
                reference=f"Condition/{ident(resource)}",
                active=active,
                clinical_status=clinical,
                verification_status=verification,
                onset=onset,
                recorded=recorded,
                text=text,
            )
        )
    return found


def _matching_codings(resource: dict[str, Any]) -> dict[ConditionCategory, CodeRef]:
    """Category -> the first coding that put the Condition in it."""
    code = resource.get("code")
    found: dict[ConditionCategory, CodeRef] = {}
    for coding in (code.get("coding") if isinstance(code, dict) else None) or ():
        for category in categories_for(coding.get("system"), coding.get("code")):
            found.setdefault(
                category,
                CodeRef(coding["system"], coding["code"], text_or_none(coding.get("display"))),
            )
    return found


def _status_code(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or ():
        if coding.get("code"):
            return str(coding["code"])
    return None
