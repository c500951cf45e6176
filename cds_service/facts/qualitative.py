"""Reading a qualitative result (positive, negative, indeterminate) from one raw Observation.

Three places can carry it, tried in this order: valueCodeableConcept (SNOMED CT result qualifiers
such as 260373001 Detected, or its text), the interpretation codes of HL7 v3
ObservationInterpretation (POS, NEG, DET, ND, A, N), and valueString. A result none of these can
read returns None, and the caller records the Observation as unusable rather than guessing.
"""

from __future__ import annotations

from typing import Any

from cds_service.facts.model import Qualitative
from cds_service.knowledge.results import (
    result_for_interpretation,
    result_for_snomed,
    result_for_text,
)


def read_qualitative(resource: dict[str, Any]) -> Qualitative | None:
    concept = resource.get("valueCodeableConcept")
    if isinstance(concept, dict):
        for coding in concept.get("coding") or ():
            found = result_for_snomed(coding.get("system"), coding.get("code"))
            if found is not None:
                return found
        for coding in concept.get("coding") or ():
            found = result_for_text(coding.get("display"))
            if found is not None:
                return found
        found = result_for_text(concept.get("text"))
        if found is not None:
            return found
    for interpretation in resource.get("interpretation") or ():
        for coding in interpretation.get("coding") or ():
            found = result_for_interpretation(coding.get("system"), coding.get("code"))
            if found is not None:
                return found
    value_string = resource.get("valueString")
    return result_for_text(value_string if isinstance(value_string, str) else None)
