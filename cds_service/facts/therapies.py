"""Immunotherapy facts: classify medication orders, administrations and procedures into therapies.

MedicationRequest and MedicationAdministration are recognised by RxNorm code (an ingredient, or one
of the curated clinical-drug codes, terminology.rxnorm), looking in medicationCodeableConcept and in
a contained Medication's code and ingredients. When no code matches, a text fallback reads the
medication's text and displays and matches drug names as whole words only (facts.word_match):
"prednisolone" never matches "methylprednisolone". IVIG has no verified RxNorm code and is always
recognised by name; a generic "immune globulin" counts as IVIG only when no word names a specific
or non-intravenous immune globulin (hepatitis B, anti-thymocyte, subcutaneous...). Drugs given
topically, by inhalation, into the eye and the like (prednisolone eye drops, cyclosporine eye
emulsion) are not systemic immunotherapy and are ignored.
ServiceRequest and Procedure are read for plasma exchange only. Entered-in-error, cancelled,
revoked and not-done records are never facts, and a draft is a fact only among the draft orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds_service.facts.dosage import course_bounds, dose_from_administration, dose_from_request
from cds_service.facts.model import Therapy, TherapyFact
from cds_service.facts.robust import ident, read_each, text_or_none
from cds_service.facts.timestamps import first_time
from cds_service.facts.word_match import first_term, first_term_in, texts_words, words
from cds_service.frozen import fast_init
from cds_service.knowledge import RXNORM
from cds_service.knowledge.procedures import PLEX_TEXT_TERMS, is_plex_code
from cds_service.knowledge.rxnorm import (
    CVX_IVIG,
    IVIG_GENERIC_TERMS,
    NOT_IVIG_WORDS,
    TEXT_TERMS,
    ingredient_for_rxnorm,
    therapy_for_rxnorm,
)

NEVER_FACT_STATUSES = frozenset({"entered-in-error", "cancelled", "revoked", "not-done"})
NON_SYSTEMIC_WORDS = frozenset(
    {
        "topical",
        "cream",
        "ointment",
        "lotion",
        "gel",
        "foam",
        "shampoo",
        "paste",
        "ophthalmic",
        "eye",
        "otic",
        "ear",
        "inhalation",
        "inhaler",
        "inhaled",
        "nasal",
        "intranasal",
        "enema",
        "rectal",
        "suppository",
        "intravitreal",
        "intraocular",
        "articular",
        "intralesional",
        "dental",
    }
)
_ROUTES = (
    ("intravenous", ("intravenous", "iv", "ivpb")),
    ("oral", ("oral", "po", "mouth")),
    ("subcutaneous", ("subcutaneous", "subcut", "sc")),
    ("intramuscular", ("intramuscular", "im")),
)


@fast_init
@dataclass(frozen=True)
class Recognised:
    therapy: Therapy
    ingredient: str | None
    matched_by: str  # "code" | "text"
    display: str | None


def therapy_facts(
    resources: Any,
    now: datetime,
    *,
    draft: bool = False,
    selections: frozenset[str] = frozenset(),
    unreadable: list[str] | None = None,
) -> tuple[TherapyFact, ...]:
    """Every resource that is an immunotherapy, as a TherapyFact; the rest are skipped cheaply
    (and a malformed one is named in `unreadable`)."""

    def read(resource: dict[str, Any]) -> TherapyFact | None:
        return therapy_fact(resource, now, draft=draft, selections=selections)

    return tuple(f for f in read_each(resources, read, unreadable) if f is not None)


def therapy_fact(
    resource: dict[str, Any],
    now: datetime,
    *,
    draft: bool = False,
    selections: frozenset[str] = frozenset(),
) -> TherapyFact | None:
    kind = resource.get("resourceType")
    status = resource.get("status")
    if status in NEVER_FACT_STATUSES or resource.get("doNotPerform") is True:
        return None
    if status == "draft" and not draft:  # an unsigned order in the record is not therapy given
        return None
    reference = f"{kind}/{ident(resource)}"
    dose = route = dose_text = None
    texts: list[str] = []  # the medication's names, read once (recognised, route, non-systemic)
    if kind in ("MedicationRequest", "MedicationAdministration"):
        concepts, texts = _medication_concepts(resource)
        recognised = _recognise_medication(concepts, texts)
        if recognised is None:
            return None
        if kind == "MedicationRequest":
            instructions = resource.get("dosageInstruction") or [{}]
            route, dose = _route(instructions[0].get("route")), dose_from_request(resource)
            text = instructions[0].get("text")
            dose_text = text_or_none(text)
            started, ended = course_bounds(resource, first_time(resource, "authoredOn"))
        else:
            route, dose = (
                _route((resource.get("dosage") or {}).get("route")),
                dose_from_administration(resource),
            )
            started = first_time(resource, "effectiveDateTime", "effectivePeriod.start")
            ended = first_time(resource, "effectivePeriod.end", "effectiveDateTime")
    elif kind in ("ServiceRequest", "Procedure"):
        recognised = recognise_plex(resource)
        if recognised is None:
            return None
        started = first_time(
            resource,
            "occurrenceDateTime",
            "occurrencePeriod.start",
            "performedDateTime",
            "performedPeriod.start",
            "authoredOn",
        )
        ended = first_time(resource, "occurrencePeriod.end", "performedPeriod.end")
    else:
        return None
    if route is None and kind in ("MedicationRequest", "MedicationAdministration"):
        route = _route({"text": " ".join(texts)}, known_only=True)
    if _is_non_systemic(texts, route):
        return None
    completed = status == "completed" or (ended is not None and ended < now and not draft)
    return TherapyFact(
        therapy=recognised.therapy,
        reference=reference,
        resource_type=str(kind),
        status=status,
        started=started,
        completed=completed,
        ingredient=recognised.ingredient,
        route=route,
        dose=dose,
        dose_text=dose_text,
        is_draft_order=draft,
        is_selected=reference in selections,
        matched_by=recognised.matched_by,
        display=text_or_none(recognised.display),
        ended=ended,
    )


def recognise_medication(resource: dict[str, Any]) -> Recognised | None:
    """By RxNorm code first, then by whole-word name in the medication's text and displays."""
    return _recognise_medication(*_medication_concepts(resource))


def _recognise_medication(concepts: list[dict[str, Any]], texts: list[str]) -> Recognised | None:
    for concept in concepts:
        for coding in concept.get("coding") or ():
            if coding.get("system") == CVX_IVIG.system and coding.get("code") == CVX_IVIG.code:
                return Recognised(Therapy.IVIG, "immune globulin", "code", CVX_IVIG.display)
            if coding.get("system") != RXNORM:
                continue
            therapy = therapy_for_rxnorm(coding.get("code"))
            if therapy is not None:
                return Recognised(
                    therapy,
                    ingredient_for_rxnorm(str(coding["code"])),
                    "code",
                    coding.get("display") or concept.get("text"),
                )
    return recognise_medication_text(texts)


def recognise_medication_text(texts: list[str]) -> Recognised | None:
    display = texts[0] if texts else None
    split = texts_words(texts)  # once, then read against each table
    for therapy, terms in TEXT_TERMS.items():
        term = first_term_in(split, terms)
        if term is not None:
            return Recognised(therapy, terms[term], "text", display)
    if first_term_in(split, IVIG_GENERIC_TERMS) and not first_term_in(split, NOT_IVIG_WORDS):
        return Recognised(Therapy.IVIG, "immune globulin", "text", display)
    return None


def recognise_plex(resource: dict[str, Any]) -> Recognised | None:
    code = resource.get("code") or {}
    texts = [code.get("text")]
    for coding in code.get("coding") or ():
        if is_plex_code(coding.get("system"), coding.get("code")):
            return Recognised(Therapy.PLEX, None, "code", coding.get("display"))
        texts.append(coding.get("display"))
    present = [t for t in texts if t]
    if first_term(present, PLEX_TEXT_TERMS):
        return Recognised(Therapy.PLEX, None, "text", present[0])
    return None


def _medication_concepts(resource: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The CodeableConcepts that name the drug (incl. a contained Medication), and their texts."""
    concepts: list[dict[str, Any]] = []
    texts: list[str] = []
    if isinstance(resource.get("medicationCodeableConcept"), dict):
        concepts.append(resource["medicationCodeableConcept"])
    reference = resource.get("medicationReference") or {}
    if reference.get("display"):
        texts.append(str(reference["display"]))
    target = str(reference.get("reference") or "")
    for contained in resource.get("contained") or ():
        if target.startswith("#") and contained.get("id") == target[1:]:
            concepts.append(contained.get("code") or {})
            concepts.extend(
                i.get("itemCodeableConcept") or {} for i in contained.get("ingredient") or ()
            )
    for concept in concepts:
        texts.extend(str(t) for t in [concept.get("text")] if t)
        texts.extend(str(c["display"]) for c in concept.get("coding") or () if c.get("display"))
    return concepts, texts


def _route(concept: Any, *, known_only: bool = False) -> str | None:
    if not isinstance(concept, dict):
        return None
    texts = [concept.get("text")] + [c.get("display") for c in concept.get("coding") or ()]
    route_words = {w for t in texts if t for w in words(t)}
    for name, spellings in _ROUTES:
        if route_words & set(spellings):
            return name
    return None if known_only else next((str(t).lower() for t in texts if t), None)


def _is_non_systemic(texts: list[str], route: str | None) -> bool:
    """Whether the medication's names (`_medication_concepts`) or its route say it is topical,
    inhaled, into the eye and the like."""
    found = {w for t in [*texts, route] if t for w in words(t)}
    return bool(found & NON_SYSTEMIC_WORDS)
