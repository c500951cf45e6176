"""Dose arithmetic (IVIG per kg, Mosteller BSA, rituximab per m2) and the suggested FHIR resources.

Every suggested resource must parse as FHIR R4 with fhir.resources.R4B; a dose is only ever
computed from a current weight, and a missing or stale weight is said plainly.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.dosing import (
    DoseAdvice,
    DosingPatient,
    advise,
    compute,
    mosteller_bsa_m2,
    number,
)
from cds_service.facts.model import LabKind, Measurement
from cds_service.knowledge.regimens import REGIMENS_BY_ID, Agent
from cds_service.rules import evaluate, rules_for
from cds_service.suggestions import build, ivig_medication_request, plex_service_request
from tests.test_rules_scenarios import SCENARIOS

WHEN = datetime(2026, 2, 28, tzinfo=UTC)


def weight(kg: float, *, stale: bool = False) -> Measurement:
    return Measurement(
        LabKind.WEIGHT, "Observation/w", WHEN, "final", value=kg, unit="kg", stale=stale
    )


def height(cm: float) -> Measurement:
    return Measurement(LabKind.HEIGHT, "Observation/h", WHEN, "final", value=cm, unit="cm")


def adult(w: Measurement | None = None, h: Measurement | None = None) -> DosingPatient:
    return DosingPatient(40.0, w, h)


def ivig_daily_dose(w: Measurement | None, g_per_kg: float = 0.4) -> DoseAdvice:
    row = "ivig-5-day-adult" if g_per_kg == 0.4 else "ivig-2-day-adult"
    return compute(REGIMENS_BY_ID[row], adult(w))


def rituximab_weekly_dose(h: Measurement | None, w: Measurement | None) -> DoseAdvice:
    return advise(Agent.RITUXIMAB, adult(w, h))


@pytest.mark.parametrize(
    ("kg", "per_kg", "grams"),
    [(70, 0.4, 28.0), (82.5, 0.4, 33.0), (70, 1.0, 70.0), (12.3, 0.4, 4.9)],
)
def test_ivig_daily_dose_is_grams_per_kg_times_latest_weight(
    kg: float, per_kg: float, grams: float
) -> None:
    dose = ivig_daily_dose(weight(kg), per_kg)
    assert dose.amount == grams and dose.unit == "g" and "Observation/w" in dose.basis


@pytest.mark.parametrize(
    ("measurement", "phrase"),
    [(None, "cannot be computed"), (weight(70, stale=True), "out of date")],
)
def test_missing_or_stale_weight_gives_no_dose_and_says_why(
    measurement: Measurement | None, phrase: str
) -> None:
    dose = ivig_daily_dose(measurement)
    assert dose.amount is None and not dose.computed and phrase in (dose.problem or "")
    assert phrase in dose.text()


def test_mosteller_bsa_matches_the_formula() -> None:
    assert mosteller_bsa_m2(170, 70) == pytest.approx(math.sqrt(170 * 70 / 3600))
    assert mosteller_bsa_m2(180, 81) == pytest.approx(2.01, abs=0.01)


def test_rituximab_is_375_mg_per_m2_by_mosteller_and_names_the_formula() -> None:
    dose = rituximab_weekly_dose(height(170), weight(70))
    assert dose.amount == round(375 * math.sqrt(170 * 70 / 3600)) and "Mosteller" in dose.basis
    assert dose.amount is not None and dose.amount <= 1000
    assert rituximab_weekly_dose(None, weight(70)).amount is None
    assert "height" in (rituximab_weekly_dose(None, weight(70)).problem or "")


def test_regimen_limits_are_the_seed_values() -> None:
    assert REGIMENS_BY_ID["azathioprine-adult"].max_per_day == 150
    assert REGIMENS_BY_ID["mycophenolate-adult"].max_per_day == 2000


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [(200, 0, "200"), (28.0, 1, "28"), (4.92, 1, "4.9"), (1.82, 2, "1.82"), (0, 0, "0")],
)
def test_numbers_are_shown_without_trailing_zeros(value: float, digits: int, text: str) -> None:
    assert number(value, digits) == text


def test_ivig_request_is_valid_fhir_r4_with_a_ucum_dose() -> None:
    resource = ivig_medication_request("pt-1", ivig_daily_dose(weight(70)), "Condition/c1")
    assert resource is not None
    parsed = MedicationRequest.model_validate(resource)
    dose = parsed.dosageInstruction[0].doseAndRate[0].doseQuantity
    assert (dose.value, dose.code, dose.system) == (28.0, "g", "http://unitsofmeasure.org")
    assert parsed.dosageInstruction[0].timing.repeat.count == 5
    assert resource["subject"] == {"reference": "Patient/pt-1"}
    # no verified IVIG RxNorm code: the verified CVX 87, so clients that need a code can apply it
    codings = resource["medicationCodeableConcept"]["coding"]
    assert [(c["system"], c["code"]) for c in codings] == [("http://hl7.org/fhir/sid/cvx", "87")]


def test_no_ivig_request_without_a_computed_dose() -> None:
    assert ivig_medication_request("pt-1", ivig_daily_dose(None)) is None


def test_plex_request_is_five_sessions_every_other_day() -> None:
    parsed = ServiceRequest.model_validate(plex_service_request("pt-1"))
    repeat = parsed.occurrenceTiming.repeat
    assert (repeat.count, repeat.period, repeat.periodUnit) == (5, 2, "d")


def test_every_suggested_resource_in_every_scenario_validates_and_deletes_name_a_draft() -> None:
    seen = 0
    for _, patient, _, _ in SCENARIOS:
        drafts = {o.reference for o in patient.draft_orders}
        for finding in evaluate(patient, rules_for(patient.hook)):
            assert not finding.suggestions or finding.selection_behavior == "at-most-one"
            for proposal in finding.suggestions:
                change = build(proposal, patient.patient_id)
                assert change is not None, proposal
                for action in change.actions:
                    if action.type in ("create", "update"):
                        if action.resource["resourceType"] == "MedicationRequest":
                            MedicationRequest.model_validate(action.resource)
                        else:
                            ServiceRequest.model_validate(action.resource)
                        if action.type == "update":  # a draft replaced in place, by its id
                            kind, ident = action.resource["resourceType"], action.resource["id"]
                            assert f"{kind}/{ident}" in drafts
                        seen += 1
                    else:
                        assert action.type == "delete" and action.resource_id in drafts
    assert seen >= 5


def test_suggested_resources_are_exactly_what_fhir_resources_would_emit() -> None:
    # Resources are validated in this suite, not on every call: that is only right while the
    # dump of each built resource equals the resource itself.
    ivig = ivig_medication_request("pt-1", ivig_daily_dose(weight(70)), "Condition/c1")
    plex = plex_service_request("pt-1", "Condition/c1")
    assert ivig is not None
    for model, resource in ((MedicationRequest, ivig), (ServiceRequest, plex)):
        dumped = model.model_validate(resource).model_dump(mode="json", exclude_none=True)
        assert dumped == resource


class SandboxLikeClient:
    """Applies a suggestion's actions the way the CDS Hooks sandbox does: in order, and stops
    after the first one it can apply (a `create` only when the medication is coded)."""

    def __init__(self, drafts: dict[str, dict[str, Any]]) -> None:
        self.drafts = dict(drafts)

    def accept(self, actions: list[Any]) -> None:
        for action in actions:
            resource = action.resource or {}
            if action.type == "create" and _coded(resource):
                self.drafts[f"{resource['resourceType']}/new"] = resource
                return
            if action.type == "update" and resource.get("id"):
                key = f"{resource['resourceType']}/{resource['id']}"
                if key in self.drafts:
                    self.drafts[key] = resource
                    return
            if action.type == "delete" and action.resource_id in self.drafts:
                del self.drafts[action.resource_id]
                return


def _coded(resource: dict[str, Any]) -> bool:
    concept = resource.get("medicationCodeableConcept") or resource.get("code") or {}
    return bool(concept.get("coding")) or resource.get("resourceType") == "ServiceRequest"


def test_a_client_applying_actions_in_sequence_ends_with_the_replacement_order() -> None:
    from cds_service.facts.model import Therapy, TherapyFact
    from cds_service.findings import ProposeOrder
    from cds_service.suggestions import build

    steroid = TherapyFact(
        Therapy.CORTICOSTEROID,
        "MedicationRequest/draft-1",
        "MedicationRequest",
        "draft",
        WHEN,
        False,
        is_draft_order=True,
    )
    drafts = {"MedicationRequest/draft-1": {"resourceType": "MedicationRequest", "id": "draft-1"}}
    ivig = build(ProposeOrder(Therapy.IVIG, ivig_daily_dose(weight(70)), steroid), "pt-1")
    assert ivig is not None
    client = SandboxLikeClient(drafts)
    client.accept(list(ivig.actions))
    [(key, order)] = client.drafts.items()
    assert (
        key == "MedicationRequest/draft-1" and "IVIG" in order["medicationCodeableConcept"]["text"]
    )
    MedicationRequest.model_validate(order)

    plex = build(ProposeOrder(Therapy.PLEX, None, steroid), "pt-1")
    assert plex is not None and [a.type for a in plex.actions] == ["create", "delete"]
    client = SandboxLikeClient(drafts)
    client.accept(list(plex.actions))
    assert any(o["resourceType"] == "ServiceRequest" for o in client.drafts.values())
