"""Therapy facts: recognition by RxNorm code and by whole-word text, dose, start and completion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds_service.facts.model import Therapy as T
from cds_service.facts.therapies import therapy_fact
from cds_service.facts.word_match import contains_term, words

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RXN = "http://www.nlm.nih.gov/research/umls/rxnorm"


def med_request(*, code=None, text=None, status="active", rid="m1", dosage=None, **extra):
    concept = {}
    if code:
        concept["coding"] = [{"system": RXN, "code": code}]
    if text:
        concept["text"] = text
    resource = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": concept,
        "authoredOn": "2026-02-27T09:00:00Z",
    }
    if dosage:
        resource["dosageInstruction"] = [dosage]
    return resource | extra


def recognised(resource):
    fact = therapy_fact(resource, NOW)
    return (fact.therapy, fact.matched_by) if fact else None


@pytest.mark.parametrize(
    ("code", "therapy"),
    [
        ("6902", T.CORTICOSTEROID),
        ("1743726", T.CORTICOSTEROID),
        ("8640", T.CORTICOSTEROID),
        ("121191", T.RITUXIMAB),
        ("612865", T.TOCILIZUMAB),
        ("197388", T.AZATHIOPRINE),
    ],
)
def test_rxnorm_codes_classify_the_order(code, therapy):
    assert recognised(med_request(code=code)) == (therapy, "code")


@pytest.mark.parametrize(
    ("text", "therapy", "ingredient"),
    [
        ("Methylprednisolone sodium succinate 1 g IV", T.CORTICOSTEROID, "methylprednisolone"),
        ("SOLU-MEDROL 1000 mg", T.CORTICOSTEROID, "methylprednisolone"),
        ("Solu Medrol 500mg", T.CORTICOSTEROID, "methylprednisolone"),
        ("prednisoLONE 5 mg tablet", T.CORTICOSTEROID, "prednisolone"),
        ("IVIG 0.4 g/kg", T.IVIG, "immune globulin"),
        ("Privigen 10% infusion", T.IVIG, "immune globulin"),
        ("Immune globulin (human) 10% IV", T.IVIG, "immune globulin"),
        ("Rituxan 1000 mg", T.RITUXIMAB, "rituximab"),
        ("Actemra 8 mg/kg", T.TOCILIZUMAB, "tocilizumab"),
        ("CellCept 1000 mg", T.MYCOPHENOLATE, "mycophenolate mofetil"),
        ("Neoral 100 mg capsule", T.CYCLOSPORINE, "cyclosporine"),
    ],
)
def test_the_text_fallback_recognises_generic_and_verified_brand_names(text, therapy, ingredient):
    fact = therapy_fact(med_request(text=text), NOW)
    assert (fact.therapy, fact.ingredient, fact.matched_by) == (therapy, ingredient, "text")


@pytest.mark.parametrize(
    "text",
    [
        "methylprednisolone",  # must not be read as prednisolone (nor prednisone)
        "6-methylprednisolone",
    ],
)
def test_prednisolone_never_matches_inside_methylprednisolone(text):
    fact = therapy_fact(med_request(text=text), NOW)
    assert fact.ingredient == "methylprednisolone"
    assert not contains_term(words(text), "prednisolone")


@pytest.mark.parametrize(
    "text",
    [
        "Rituximabx biosimilar trial",
        "plexopathy clinic referral",
        "Cyclosporinex",
        "Hepatitis B immune globulin",
        "Anti-thymocyte immune globulin",
        "Rho(D) immune globulin",
        "Immune globulin subcutaneous 20%",
        "Tetanus immunoglobulin",
        "Paracetamol 1 g",
        "Predniso",
        "dexamethasonex",
    ],
)
def test_the_text_fallback_never_matches_a_partial_word_or_a_specific_immune_globulin(text):
    assert therapy_fact(med_request(text=text), NOW) is None


@pytest.mark.parametrize(
    "text",
    [
        "Prednisolone acetate 1% ophthalmic suspension",
        "Hydrocortisone 1% cream",
        "Dexamethasone eye drops",
        "Cyclosporine ophthalmic emulsion",
    ],
)
def test_non_systemic_preparations_are_not_immunotherapy(text):
    assert therapy_fact(med_request(text=text), NOW) is None


def test_a_steroid_given_by_a_topical_route_is_not_systemic():
    resource = med_request(code="5492", dosage={"route": {"text": "Topical"}})
    assert therapy_fact(resource, NOW) is None


@pytest.mark.parametrize(
    ("dosage", "quantity", "unit", "per_day"),
    [
        (
            {
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "g"}}],
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            },
            1.0,
            "g",
            1.0,
        ),
        (
            {
                "doseAndRate": [{"doseQuantity": {"value": 1000, "unit": "mg"}}],
                "timing": {"code": {"coding": [{"code": "BID"}]}},
            },
            1000.0,
            "mg",
            2000.0,
        ),
        (
            {
                "doseAndRate": [{"doseQuantity": {"value": 500, "unit": "mg"}}],
                "timing": {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}},
            },
            500.0,
            "mg",
            1000.0,
        ),
        ({"doseAndRate": [{"doseQuantity": {"value": 0.4, "unit": "g/kg/d"}}]}, 0.4, "g/kg", 0.4),
        (
            {
                "doseAndRate": [{"doseQuantity": {"value": 375, "unit": "mg/m2"}}],
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}},
            },
            375.0,
            "mg/m2",
            None,
        ),
        (
            {
                "doseAndRate": [
                    {
                        "doseRange": {
                            "low": {"value": 25, "unit": "mg"},
                            "high": {"value": 50, "unit": "mg"},
                        }
                    }
                ]
            },
            25.0,
            "mg",
            None,
        ),
    ],
)
def test_dose_and_dose_per_day_are_read_from_the_dosage_instruction(
    dosage, quantity, unit, per_day
):
    dose = therapy_fact(med_request(code="6902", dosage=dosage), NOW).dose
    assert (dose.quantity, dose.unit, dose.per_day) == (quantity, unit, per_day)


def test_a_dose_without_a_unit_is_not_guessed():
    dosage = {"doseAndRate": [{"doseQuantity": {"value": 1}}]}
    assert therapy_fact(med_request(code="6902", dosage=dosage), NOW).dose is None


def test_a_bounded_course_that_has_ended_is_completed():
    dosage = {"timing": {"repeat": {"boundsPeriod": {"start": "2026-01-01", "end": "2026-01-05"}}}}
    fact = therapy_fact(med_request(code="6902", dosage=dosage), NOW)
    assert fact.started == datetime(2026, 1, 1, tzinfo=UTC) and fact.completed is True


def test_a_five_day_course_started_two_days_ago_is_not_completed():
    dosage = {"timing": {"repeat": {"boundsDuration": {"value": 5, "code": "d"}}}}
    fact = therapy_fact(med_request(code="6902", dosage=dosage), NOW)
    assert fact.completed is False and fact.ended == datetime(2026, 3, 4, 9, tzinfo=UTC)


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_entered_in_error_and_cancelled_orders_are_never_therapy(status):
    assert therapy_fact(med_request(code="6902", status=status), NOW) is None


def test_a_contained_medication_is_read_for_its_code():
    resource = med_request()
    del resource["medicationCodeableConcept"]
    resource["medicationReference"] = {"reference": "#med"}
    resource["contained"] = [
        {
            "resourceType": "Medication",
            "id": "med",
            "code": {"coding": [{"system": RXN, "code": "121191"}]},
        }
    ]
    assert recognised(resource) == (T.RITUXIMAB, "code")


def test_an_administration_is_read_with_its_dose_and_time():
    resource = {
        "resourceType": "MedicationAdministration",
        "id": "a1",
        "status": "completed",
        "medicationCodeableConcept": {"text": "Methylprednisolone 1 g IV"},
        "effectiveDateTime": "2026-02-20T08:00:00Z",
        "dosage": {"dose": {"value": 1, "unit": "g"}, "route": {"text": "Intravenous"}},
    }
    fact = therapy_fact(resource, NOW)
    assert fact.completed and fact.route == "intravenous" and fact.dose.quantity == 1.0


@pytest.mark.parametrize(
    ("resource_type", "code"),
    [
        ("ServiceRequest", {"text": "Therapeutic plasma exchange x5 every other day"}),
        ("Procedure", {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "36514"}]}),
        ("ServiceRequest", {"text": "PLEX"}),
    ],
)
def test_plasma_exchange_is_recognised_from_service_requests_and_procedures(resource_type, code):
    resource = {"resourceType": resource_type, "id": "p1", "status": "active", "code": code}
    assert therapy_fact(resource, NOW).therapy is T.PLEX


@pytest.mark.parametrize("text", ["Brachial plexopathy evaluation", "PE protocol CT"])
def test_procedures_that_only_look_like_plasma_exchange_are_ignored(text):
    resource = {
        "resourceType": "ServiceRequest",
        "id": "s",
        "status": "active",
        "code": {"text": text},
    }
    assert therapy_fact(resource, NOW) is None


def test_a_not_done_procedure_is_not_therapy():
    resource = {
        "resourceType": "Procedure",
        "id": "p",
        "status": "not-done",
        "code": {"text": "Plasmapheresis"},
    }
    assert therapy_fact(resource, NOW) is None


@pytest.mark.parametrize(
    ("code", "ingredient", "route"),
    [
        ("312615", "prednisone", "oral"),  # the sandbox's "Prednisone 20 MG Oral Tablet"
        ("259966", "methylprednisolone", "oral"),
        ("359228", "azathioprine", "oral"),
        ("1734921", "cyclophosphamide", None),
    ],
)
def test_product_level_rxnorm_codes_are_recognised_through_their_ingredient(
    code: str, ingredient: str, route: str | None
) -> None:
    from cds_service.facts.therapies import therapy_facts
    from cds_service.knowledge.rxnorm import PRODUCT_CODES

    display = next(
        e.display for entries in PRODUCT_CODES.values() for e in entries if e.code == code
    )
    order = {
        "resourceType": "MedicationRequest",
        "id": "p1",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": code,
                    "display": display,
                }
            ]
        },
    }
    [fact] = therapy_facts([order], datetime(2026, 3, 1, tzinfo=UTC), draft=True)
    assert fact.matched_by == "code" and fact.ingredient == ingredient
    assert route is None or fact.route == route
