"""Antiviral facts: aciclovir and valaciclovir orders and administrations, for the CSF gate only.

Herpes simplex or varicella zoster virus found in CSF is treated with an antiviral; whether one is
recorded changes how the CSF infection gate speaks (rules.csf_gate). A MedicationRequest or
MedicationAdministration is recognised by RxNorm ingredient code (knowledge.rxnorm
ANTIVIRAL_CODES) or, failing that, by the drug's name as a whole word. The same statuses as for
immunotherapy are never facts (entered-in-error, cancelled, revoked, not-done), an unsigned draft
in the record is not treatment, and a topical or eye preparation (aciclovir cream) is ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds_service.facts.dosage import course_bounds
from cds_service.facts.model import AntiviralFact
from cds_service.facts.robust import read_each
from cds_service.facts.therapies import (
    NEVER_FACT_STATUSES,
    _is_non_systemic,
    _medication_concepts,
    _route,
)
from cds_service.facts.timestamps import first_time
from cds_service.facts.word_match import first_term
from cds_service.knowledge import RXNORM
from cds_service.knowledge.rxnorm import ANTIVIRAL_TEXT_TERMS, antiviral_for_rxnorm

_KINDS = ("MedicationRequest", "MedicationAdministration")


def antiviral_facts(
    resources: Any, now: datetime, *, draft: bool = False
) -> tuple[AntiviralFact, ...]:
    def read(resource: dict[str, Any]) -> AntiviralFact | None:
        return antiviral_fact(resource, now, draft=draft)

    return tuple(f for f in read_each(resources, read) if f is not None)


def antiviral_fact(
    resource: dict[str, Any], now: datetime, *, draft: bool = False
) -> AntiviralFact | None:
    kind = resource.get("resourceType")
    status = resource.get("status")
    if kind not in _KINDS or status in NEVER_FACT_STATUSES or resource.get("doNotPerform"):
        return None
    if status == "draft" and not draft:
        return None
    concepts, texts = _medication_concepts(resource)  # read once: recognised, then the route
    ingredient, display = _recognise(concepts, texts)
    if ingredient is None:
        return None
    if kind == "MedicationRequest":
        route = _route(((resource.get("dosageInstruction") or [{}])[0]).get("route"))
        started, ended = course_bounds(resource, first_time(resource, "authoredOn"))
    else:
        route = _route((resource.get("dosage") or {}).get("route"))
        started = first_time(resource, "effectiveDateTime", "effectivePeriod.start")
        ended = first_time(resource, "effectivePeriod.end", "effectiveDateTime")
    if _is_non_systemic(texts, route):
        return None
    return AntiviralFact(
        ingredient=ingredient,
        reference=f"{kind}/{resource.get('id', '?')}",
        status=status,
        started=started,
        completed=status == "completed" or (ended is not None and ended < now and not draft),
        route=route,
        is_draft_order=draft,
        display=display,
    )


def _recognise(concepts: list[dict[str, Any]], texts: list[str]) -> tuple[str | None, str | None]:
    for concept in concepts:
        for coding in concept.get("coding") or ():
            if coding.get("system") == RXNORM:
                ingredient = antiviral_for_rxnorm(coding.get("code"))
                if ingredient is not None:
                    return ingredient, coding.get("display") or concept.get("text")
    term = first_term(texts, ANTIVIRAL_TEXT_TERMS)
    if term is None:
        return None, None
    return ANTIVIRAL_TEXT_TERMS[term], texts[0] if texts else None
