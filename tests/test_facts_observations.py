"""Lab facts: status filtering, UCUM normalisation, freshness, unusable units, flat cost."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from cds_service.facts.model import LabKind, Qualitative
from cds_service.facts.observations import (
    lab_facts,
)
from cds_service.knowledge.labs import lab_definition

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def obs(
    code, value=None, unit=None, *, status="final", hours_ago=2.0, oid="o1", ucum=True, **extra
):
    resource = {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": (NOW - timedelta(hours=hours_ago)).isoformat(),
    }
    if value is not None:
        quantity = {"value": value, "unit": unit}
        if ucum and unit is not None:
            quantity |= {"system": "http://unitsofmeasure.org", "code": unit}
        resource["valueQuantity"] = quantity
    return resource | extra


@pytest.mark.parametrize(
    ("code", "kind", "value", "unit", "expected"),
    [
        ("2951-2", LabKind.SODIUM, 121, "mmol/L", 121.0),
        ("2951-2", LabKind.SODIUM, 121, "mEq/L", 121.0),
        ("39791-9", LabKind.SODIUM, 130, "meq/l", 130.0),
        ("777-3", LabKind.PLATELETS, 45, "10*3/uL", 45.0),
        ("777-3", LabKind.PLATELETS, 45, "10*9/L", 45.0),
        ("26515-7", LabKind.PLATELETS, 45, "10*3/mm3", 45.0),
        ("777-3", LabKind.PLATELETS, 45, "K/uL", 45.0),
        ("777-3", LabKind.PLATELETS, 45000, "/uL", 45.0),
        ("3255-7", LabKind.FIBRINOGEN, 90, "mg/dL", 0.9),
        ("3255-7", LabKind.FIBRINOGEN, 0.9, "g/L", 0.9),
        ("29463-7", LabKind.WEIGHT, 70, "kg", 70.0),
        ("29463-7", LabKind.WEIGHT, 154, "[lb_av]", 69.853225),
        ("29463-7", LabKind.WEIGHT, 70000, "g", 70.0),
        ("8302-2", LabKind.HEIGHT, 170, "cm", 170.0),
        ("8302-2", LabKind.HEIGHT, 1.7, "m", 170.0),
        ("8302-2", LabKind.HEIGHT, 67, "[in_i]", 170.18),
        ("2160-0", LabKind.CREATININE, 1.2, "mg/dL", 1.2),
        ("2160-0", LabKind.CREATININE, 88.42, "umol/L", 1.0),
        ("3255-7", LabKind.FIBRINOGEN, 272, "mg/dL", 2.72),
        ("8302-2", LabKind.HEIGHT, 1700, "mm", 170.0),
        ("26465-5", LabKind.CSF_WBC, 25, "{cells}/uL", 25.0),
        ("6301-6", LabKind.INR, 1.8, "{INR}", 1.8),
        ("98979-8", LabKind.EGFR, 55, "mL/min/{1.73_m2}", 55.0),
    ],
)
def test_values_are_normalised_to_the_kinds_canonical_unit(code, kind, value, unit, expected):
    fact = lab_facts([obs(code, value, unit)], NOW)[kind]
    assert fact.latest is not None
    assert fact.latest.value == pytest.approx(expected)


def test_inr_without_a_unit_is_usable_because_inr_is_a_ratio():
    fact = lab_facts([obs("34714-6", 1.6, None)], NOW)[LabKind.INR]
    assert fact.latest is not None and fact.latest.value == 1.6


@pytest.mark.parametrize(
    ("code", "kind", "unit"),
    [
        ("2951-2", LabKind.SODIUM, "mg/dL"),
        ("3255-7", LabKind.FIBRINOGEN, "umol/L"),
        ("29463-7", LabKind.WEIGHT, "stone"),
        ("2951-2", LabKind.SODIUM, None),
    ],
)
def test_a_value_in_an_unconvertible_unit_is_not_used_and_says_why(code, kind, unit):
    fact = lab_facts([obs(code, 120, unit, oid="bad")], NOW)[kind]
    assert fact.latest is None
    assert len(fact.unusable) == 1 and "Observation/bad" in fact.unusable[0]


def test_an_unconvertible_newer_value_does_not_hide_an_older_usable_one():
    facts = lab_facts(
        [
            obs("2951-2", 120, "mg", oid="new", hours_ago=1),
            obs("2951-2", 124, "mmol/L", oid="old", hours_ago=5),
        ],
        NOW,
    )
    assert facts[LabKind.SODIUM].latest.reference == "Observation/old"
    assert facts[LabKind.SODIUM].unusable


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "unknown"])
def test_entered_in_error_cancelled_and_unknown_results_are_never_used(status):
    assert LabKind.SODIUM not in lab_facts([obs("2951-2", 118, "mmol/L", status=status)], NOW)


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_final_amended_and_corrected_results_are_used(status):
    assert lab_facts([obs("2951-2", 118, "mmol/L", status=status)], NOW)[LabKind.SODIUM].latest


def test_a_preliminary_numeric_result_is_not_a_value():
    fact = lab_facts([obs("2951-2", 118, "mmol/L", status="preliminary")], NOW)[LabKind.SODIUM]
    assert fact.latest is None and "preliminary" in fact.unusable[0]


def test_the_newest_value_wins_and_history_is_newest_first():
    facts = lab_facts(
        [
            obs("2951-2", 130, "mmol/L", oid="a", hours_ago=20),
            obs("2947-0", 122, "mmol/L", oid="b", hours_ago=1),
            obs("2951-2", 127, "mmol/L", oid="c", hours_ago=10),
        ],
        NOW,
    )
    fact = facts[LabKind.SODIUM]
    assert fact.latest.reference == "Observation/b"
    assert [m.reference for m in fact.history] == [
        "Observation/b",
        "Observation/c",
        "Observation/a",
    ]


@pytest.mark.parametrize(
    ("code", "kind", "window_hours"),
    [
        ("2951-2", LabKind.SODIUM, lab_definition(LabKind.SODIUM).freshness_hours),
        ("6301-6", LabKind.INR, lab_definition(LabKind.INR).freshness_hours),
    ],
)
def test_a_value_older_than_its_freshness_window_is_stale_not_current(code, kind, window_hours):
    fresh = lab_facts(
        [
            obs(
                code,
                1.0,
                "mmol/L" if kind is LabKind.SODIUM else "{INR}",
                hours_ago=window_hours - 1,
            )
        ],
        NOW,
    )[kind].latest
    stale = lab_facts(
        [
            obs(
                code,
                1.0,
                "mmol/L" if kind is LabKind.SODIUM else "{INR}",
                hours_ago=window_hours + 1,
            )
        ],
        NOW,
    )[kind].latest
    assert fresh.stale is False and stale.stale is True
    assert stale.age_hours == pytest.approx(window_hours + 1)


def test_an_undated_value_is_always_stale():
    resource = obs("2951-2", 120, "mmol/L")
    del resource["effectiveDateTime"]
    latest = lab_facts([resource], NOW)[LabKind.SODIUM].latest
    assert latest.stale is True and latest.age_hours is None


def test_the_recorded_original_is_kept_when_a_conversion_happened():
    latest = lab_facts([obs("3255-7", 272, "mg/dL")], NOW)[LabKind.FIBRINOGEN].latest
    assert latest.original == "272 mg/dL" and latest.unit == "g/L"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {
                "valueCodeableConcept": {
                    "coding": [{"system": "http://snomed.info/sct", "code": "10828004"}]
                }
            },
            Qualitative.POSITIVE,
        ),
        (
            {
                "valueCodeableConcept": {
                    "coding": [{"system": "http://snomed.info/sct", "code": "260415000"}]
                }
            },
            Qualitative.NEGATIVE,
        ),
        ({"interpretation": [{"coding": [{"code": "POS"}]}]}, Qualitative.POSITIVE),
        ({"interpretation": [{"coding": [{"code": "ND"}]}]}, Qualitative.NEGATIVE),
        ({"valueString": "Not detected"}, Qualitative.NEGATIVE),
        ({"valueString": "Detected"}, Qualitative.POSITIVE),
        ({"valueString": "Equivocal"}, Qualitative.INDETERMINATE),
    ],
)
def test_antibody_results_are_read_from_codes_interpretations_or_text(value, expected):
    fact = lab_facts([obs("80220-7", **value)], NOW)[LabKind.AUTOIMMUNE_ANTIBODY]
    assert fact.latest.qualitative is expected


@pytest.mark.parametrize("status", ["registered", "preliminary"])
def test_an_antibody_test_sent_but_not_resulted_is_pending(status):
    fact = lab_facts([obs("80221-5", status=status)], NOW)[LabKind.AUTOIMMUNE_ANTIBODY]
    assert fact.latest.qualitative is Qualitative.PENDING


def test_unrelated_observations_are_skipped_and_cost_stays_flat():
    noise = [obs("8867-4", 80, "/min", oid=f"hr{i}") for i in range(10_000)]
    wanted = [obs("2951-2", 121, "mmol/L", oid="na")]
    started = time.perf_counter()
    facts = lab_facts(noise + wanted, NOW)
    elapsed = time.perf_counter() - started
    assert list(facts) == [LabKind.SODIUM]
    assert elapsed < 0.5  # a dict lookup per resource; parsing each would take ~2 s
