"""build_facts: one PatientFacts from resolved prefetch outcomes, draft orders and selections."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds_service.facts.build import build_facts
from cds_service.facts.model import ConditionCategory, CsfInfectionStatus, LabKind, Therapy
from cds_service.resolution.resolved import KeyOutcome, KeyState, ResolvedData

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RXN = "http://www.nlm.nih.gov/research/umls/rxnorm"

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "2016-03-02", "gender": "female"}
GBS = {
    "resourceType": "Condition",
    "id": "gbs",
    "clinicalStatus": {"coding": [{"code": "active"}]},
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G61.0"}]},
}
SODIUM = {
    "resourceType": "Observation",
    "id": "na",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "2951-2"}]},
    "effectiveDateTime": "2026-03-01T08:00:00Z",
    "valueQuantity": {"value": 121, "unit": "mEq/L"},
}
HISTORY = {
    "resourceType": "MedicationRequest",
    "id": "old",
    "status": "completed",
    "medicationCodeableConcept": {"coding": [{"system": RXN, "code": "6902"}]},
    "authoredOn": "2026-02-01",
}
DRAFT = {
    "resourceType": "MedicationRequest",
    "id": "draft-1",
    "status": "draft",
    "medicationCodeableConcept": {"text": "Methylprednisolone 1 g IV"},
}


def outcome(key, *resources, state=KeyState.PROVIDED):
    return KeyOutcome(key=key, state=state, source="prefetch", resources=tuple(resources))


def resolved(**outcomes):
    return ResolvedData(dict(outcomes))


def build(data, drafts=(), selections=()):
    return build_facts(
        data,
        patient_id="p1",
        hook="order-select",
        now=NOW,
        draft_orders=list(drafts),
        selections=list(selections),
    )


def full():
    return resolved(
        patient=outcome("patient", PATIENT),
        conditions=outcome("conditions", GBS),
        observations=outcome("observations", SODIUM),
        medications=outcome("medications", HISTORY, DRAFT),
    )


def test_all_categories_are_read_from_their_prefetch_keys():
    facts = build(full(), [DRAFT], ["MedicationRequest/draft-1"])
    assert facts.age_years == pytest.approx(9.99, abs=0.01) and facts.sex == "female"
    assert facts.has_active(ConditionCategory.GUILLAIN_BARRE)
    assert facts.lab(LabKind.SODIUM).value == 121.0
    assert facts.csf_status is CsfInfectionStatus.UNKNOWN
    assert facts.unknown == frozenset()
    assert facts.hook == "order-select"


def test_a_draft_order_is_flagged_selected_and_not_duplicated_in_history():
    facts = build(full(), [DRAFT], ["MedicationRequest/draft-1"])
    assert [(f.reference, f.is_draft_order, f.is_selected) for f in facts.draft_orders] == [
        ("MedicationRequest/draft-1", True, True)
    ]
    assert [f.reference for f in facts.therapy_history] == ["MedicationRequest/old"]
    assert facts.therapy_history[0].therapy is Therapy.CORTICOSTEROID


def test_a_draft_order_not_named_in_selections_is_not_selected():
    facts = build(full(), [DRAFT], ["MedicationRequest/other"])
    assert facts.draft_orders[0].is_selected is False


def test_draft_orders_of_unused_types_are_ignored():
    facts = build(full(), [{"resourceType": "NutritionOrder", "id": "n1", "status": "draft"}])
    assert facts.draft_orders == ()


@pytest.mark.parametrize("state", [KeyState.FAILED, KeyState.UNAVAILABLE, KeyState.MISSING])
def test_a_key_that_could_not_be_obtained_is_listed_as_unknown(state):
    data = full()
    data.outcomes["observations"] = outcome("observations", state=state)
    facts = build(data)
    assert facts.unknown == frozenset({"observations"}) and facts.labs == {}


def test_an_empty_key_is_known_to_be_empty_not_unknown():
    data = full()
    data.outcomes["conditions"] = outcome("conditions", state=KeyState.EMPTY)
    assert build(data).unknown == frozenset()


def test_required_keys_absent_from_the_outcomes_are_unknown_but_optional_ones_are_not():
    facts = build(resolved(patient=outcome("patient", PATIENT)))
    assert facts.unknown == frozenset({"conditions", "observations", "medications"})


def test_an_optional_key_that_failed_is_unknown():
    data = full()
    data.outcomes["procedures"] = outcome("procedures", state=KeyState.FAILED)
    assert build(data).unknown == frozenset({"procedures"})


def test_procedures_and_administrations_join_the_therapy_history_newest_first():
    data = full()
    data.outcomes["procedures"] = outcome(
        "procedures",
        {
            "resourceType": "Procedure",
            "id": "plex1",
            "status": "completed",
            "code": {"text": "Plasma exchange"},
            "performedDateTime": "2026-02-20",
        },
    )
    data.outcomes["administrations"] = outcome(
        "administrations",
        {
            "resourceType": "MedicationAdministration",
            "id": "ma1",
            "status": "completed",
            "medicationCodeableConcept": {"text": "IVIG"},
            "effectiveDateTime": "2026-02-25",
        },
    )
    refs = [f.reference for f in build(data).therapy_history]
    assert refs == ["MedicationAdministration/ma1", "Procedure/plex1", "MedicationRequest/old"]


def test_a_naive_now_is_read_as_utc():
    facts = build_facts(
        full(),
        patient_id="p1",
        hook="patient-view",
        now=datetime(2026, 3, 1, 12, 0),
        draft_orders=(),
        selections=(),
    )
    assert facts.now.tzinfo is not None and facts.lab(LabKind.SODIUM).age_hours == 4.0


def test_the_facts_model_names_the_order_hooks_as_the_contracts_do() -> None:
    # facts.model cannot import contracts (contracts imports it): its copies must agree.
    from cds_service.contracts import Hook
    from cds_service.facts import model

    assert (model.ORDER_SELECT, model.ORDER_SIGN) == (Hook.ORDER_SELECT, Hook.ORDER_SIGN)
