"""CSF infection status: excluded, infection found, pending or unknown, from CSF result facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cds_service.facts.csf import assess_csf, csf_infection_status
from cds_service.facts.model import CsfInfectionStatus as S
from cds_service.facts.model import LabKind as _LabKind
from cds_service.facts.observations import lab_facts
from cds_service.knowledge.labs import lab_definition

CSF_FRESHNESS_DAYS = lab_definition(_LabKind.CSF_CULTURE).freshness_hours / 24

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CULTURE, GRAM, HSV1, HSV2, PANEL = "606-4", "14357-8", "16952-4", "16960-7", "108157-9"
NEG = {
    "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "260385009"}]}
}
NO_GROWTH = {
    "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "264868006"}]}
}
DETECTED = {
    "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "260373001"}]}
}


def csf(code, result=None, *, status="final", hours_ago=24.0, oid=None):
    resource = {
        "resourceType": "Observation",
        "id": oid or f"{code}-{hours_ago}",
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": (NOW - timedelta(hours=hours_ago)).isoformat(),
    }
    return resource | (result or {})


def status_of(*resources):
    return csf_infection_status(lab_facts(list(resources), NOW))


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ((), S.UNKNOWN),
        ((csf(CULTURE, NO_GROWTH), csf(HSV1, NEG)), S.EXCLUDED),
        (
            (csf(GRAM, {"valueString": "No organisms seen"}), csf(HSV1, NEG), csf(HSV2, NEG)),
            S.EXCLUDED,
        ),
        ((csf(PANEL, NEG),), S.EXCLUDED),
        ((csf(CULTURE, NO_GROWTH),), S.UNKNOWN),
        ((csf(HSV1, NEG),), S.UNKNOWN),
        ((csf(CULTURE, NO_GROWTH), csf(HSV1, DETECTED)), S.INFECTION_FOUND),
        ((csf(GRAM, {"valueString": "Gram positive diplococci"}),), S.INFECTION_FOUND),
        ((csf(CULTURE, {"interpretation": [{"coding": [{"code": "POS"}]}]}),), S.INFECTION_FOUND),
        ((csf(CULTURE, status="preliminary"), csf(HSV1, NEG)), S.PENDING),
        ((csf(CULTURE, NO_GROWTH), csf(HSV1, status="registered")), S.PENDING),
        (
            (csf(GRAM, {"valueString": "Gram negative rods"}, status="preliminary"),),
            S.INFECTION_FOUND,
        ),
    ],
)
def test_csf_status_follows_the_studies_present(resources, expected):
    assert status_of(*resources) is expected


def test_a_positive_result_wins_over_a_newer_pending_repeat():
    assert (
        status_of(csf(HSV1, DETECTED, hours_ago=48), csf(HSV1, status="registered", hours_ago=2))
        is S.INFECTION_FOUND
    )


def test_a_repeat_result_replaces_the_earlier_pending_one_for_the_same_test():
    assert (
        status_of(
            csf(HSV1, status="preliminary", hours_ago=48),
            csf(HSV1, NEG, hours_ago=2),
            csf(CULTURE, NO_GROWTH),
        )
        is S.EXCLUDED
    )


def test_entered_in_error_csf_results_do_not_count():
    assert (
        status_of(
            csf(HSV1, DETECTED, status="entered-in-error"), csf(CULTURE, NO_GROWTH), csf(HSV1, NEG)
        )
        is S.EXCLUDED
    )


def test_csf_studies_older_than_the_window_do_not_exclude_infection_now():
    old = CSF_FRESHNESS_DAYS * 24 + 1
    assert (
        status_of(csf(CULTURE, NO_GROWTH, hours_ago=old), csf(HSV1, NEG, hours_ago=old))
        is S.UNKNOWN
    )


def test_the_assessment_names_the_missing_study_and_its_evidence():
    result = assess_csf(lab_facts([csf(CULTURE, NO_GROWTH, oid="cx")], NOW))
    assert result.status is S.UNKNOWN
    assert result.missing == ("HSV PCR",)
    assert [m.reference for m in result.evidence] == ["Observation/cx"]


def test_cell_counts_alone_never_decide_the_status():
    pleocytosis = csf("26465-5", {"valueQuantity": {"value": 80, "unit": "/uL"}})
    assert status_of(pleocytosis) is S.UNKNOWN
