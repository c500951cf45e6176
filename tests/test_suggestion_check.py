"""Suggested FHIR resources are proven valid in the suite and at start-up, not on every call:
property-based over the builders' inputs (any IVIG regimen with a fixed course, any weight, any
FHIR id for the patient and the condition), and `create_app` refuses to start when a builder
emits an invalid resource."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service import create_app, suggestion_check
from cds_service.dosing import DosingPatient, compute
from cds_service.knowledge.regimens import REGIMENS, Agent, Population
from cds_service.suggestion_check import (
    SuggestionBuilderError,
    check_suggestion_builders,
    sample_weight,
    validate_resource,
)
from cds_service.suggestions import ivig_medication_request, plex_service_request

IVIG_COURSES = [r for r in REGIMENS if r.agent is Agent.IVIG and r.course_days is not None]
FHIR_IDS = st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True)
REFERENCES = st.none() | FHIR_IDS.map(lambda i: f"Condition/{i}")


@pytest.fixture(autouse=True)
def _fresh_check() -> Iterator[None]:
    check_suggestion_builders.cache_clear()
    yield
    check_suggestion_builders.cache_clear()


def test_start_up_check_covers_every_ivig_course_and_plasma_exchange() -> None:
    resources = list(suggestion_check.sample_resources())
    kinds = [r["resourceType"] for r in resources]
    assert kinds.count("ServiceRequest") == 2
    courses = {r["dosageInstruction"][0]["timing"]["repeat"]["count"] for r in resources[:-2]}
    assert courses == {r.course_days for r in IVIG_COURSES}
    assert check_suggestion_builders() == len(resources)


@settings(max_examples=60, deadline=None)
@given(
    regimen=st.sampled_from(IVIG_COURSES),
    kg=st.floats(min_value=0.5, max_value=300, allow_nan=False),
    patient_id=FHIR_IDS,
    condition=REFERENCES,
)
def test_ivig_requests_are_valid_r4_for_any_input(
    regimen: Any, kg: float, patient_id: str, condition: str | None
) -> None:
    age = 40.0 if regimen.population is Population.ADULT else 8.0
    advice = compute(regimen, DosingPatient(age, sample_weight(kg), None))
    resource = ivig_medication_request(patient_id, advice, condition)
    if advice.amount is None:
        assert resource is None
    else:
        assert resource is not None
        validate_resource(resource)


@settings(max_examples=40, deadline=None)
@given(patient_id=FHIR_IDS, condition=REFERENCES)
def test_plasma_exchange_requests_are_valid_r4_for_any_input(
    patient_id: str, condition: str | None
) -> None:
    validate_resource(plex_service_request(patient_id, condition))


@pytest.mark.parametrize(
    "broken",
    [
        {"resourceType": "ServiceRequest", "status": "draft", "intent": "order"},  # no subject
        {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": "Patient/x"},
            "sessions": 5,  # no such element
        },
        {"resourceType": "NoSuchResource"},
    ],
)
def test_a_builder_emitting_invalid_fhir_stops_start_up(
    broken: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suggestion_check, "plex_service_request", lambda *_: broken)
    with pytest.raises(SuggestionBuilderError):
        create_app(
            {
                "AUTH_ENABLED": False,
                "LOG_LEVEL": "WARNING",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
            }
        )
