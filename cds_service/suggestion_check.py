"""Start-up proof that the suggestion builders emit valid FHIR R4 resources.

Suggested resources are not validated on every call (that cost more than the clinical work and
protected nothing the builders' fixed shapes do not already fix). Instead `create_app` calls
`check_suggestion_builders()` once: it builds the IVIG MedicationRequest of every IVIG regimen
with a fixed course (at weights inside and at the edges of its band, with and without a reason
reference) and the plasma-exchange ServiceRequest, and validates each with fhir.resources.R4B;
a resource that does not validate, or that the library would not emit exactly as built, stops
start-up. The test suite validates the same builders over every fixture and, property-based,
over their inputs (`tests/test_suggestion_check.py`, `tests/test_rules_dosing.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cds_service.dosing import DosingPatient, compute
from cds_service.facts.model import LabKind, Measurement
from cds_service.knowledge.regimens import REGIMENS, Agent, Population, Regimen
from cds_service.suggestions import ivig_medication_request, plex_service_request

SAMPLE_PATIENT = "suggestion-check"
SAMPLE_CONDITION = "Condition/suggestion-check"
SAMPLE_AGES = {Population.ADULT: 40.0, Population.CHILD: 8.0}


class SuggestionBuilderError(RuntimeError):
    """A suggestion builder produced a resource that is not valid FHIR R4."""


def sample_weight(kg: float) -> Measurement:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return Measurement(LabKind.WEIGHT, "Observation/w", when, "final", value=kg, unit="kg")


def _weights(regimen: Regimen) -> list[float]:
    low = regimen.min_kg if regimen.min_kg is not None else 3.0
    high = regimen.below_kg - 0.1 if regimen.below_kg is not None else 150.0
    return sorted({low, round((low + high) / 2, 1), high})


def sample_resources() -> Iterator[dict[str, Any]]:
    for regimen in REGIMENS:
        if regimen.agent is not Agent.IVIG or regimen.course_days is None:
            continue
        for kg in _weights(regimen):
            patient = DosingPatient(SAMPLE_AGES[regimen.population], sample_weight(kg), None)
            advice = compute(regimen, patient)
            for condition in (None, SAMPLE_CONDITION):
                resource = ivig_medication_request(SAMPLE_PATIENT, advice, condition)
                if resource is not None:
                    yield resource
    for condition in (None, SAMPLE_CONDITION):
        yield plex_service_request(SAMPLE_PATIENT, condition)


def validate_resource(resource: dict[str, Any]) -> None:
    """Raise SuggestionBuilderError unless fhir.resources.R4B parses `resource` and would emit
    exactly it."""
    from fhir.resources.R4B import get_fhir_model_class  # once, at start-up only
    from pydantic import ValidationError

    kind = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(kind))
        parsed = model.model_validate(resource)
    except (KeyError, ValueError, ValidationError) as exc:
        raise SuggestionBuilderError(f"suggested {kind} is not valid FHIR R4: {exc}") from None
    if parsed.model_dump(mode="json", exclude_none=True) != resource:
        raise SuggestionBuilderError(f"suggested {kind} is not what FHIR R4 would emit")


@functools.cache  # the builders cannot change while a process runs: once per process
def check_suggestion_builders() -> int:
    """Validate every sample resource; return how many were checked."""
    count = 0
    for resource in sample_resources():
        validate_resource(resource)
        count += 1
    if count == 0:
        raise SuggestionBuilderError("no suggestion resource could be built to check")
    return count
