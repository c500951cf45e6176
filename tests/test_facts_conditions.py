"""Condition facts: categories by code family, active status, refuted and entered-in-error."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.facts.conditions import condition_facts
from cds_service.facts.model import CodeRef, ConditionFact, PatientFacts
from cds_service.facts.model import ConditionCategory as C

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"


def condition(code, system=ICD, *, clinical="active", verification="confirmed", cid="c1", **extra):
    resource = {
        "resourceType": "Condition",
        "id": cid,
        "code": {"coding": [{"system": system, "code": code}]},
    }
    if clinical:
        resource["clinicalStatus"] = {"coding": [{"code": clinical}]}
    if verification:
        resource["verificationStatus"] = {"coding": [{"code": verification}]}
    return resource | extra


@pytest.mark.parametrize(
    ("code", "system", "category"),
    [
        ("G04.81", ICD, C.AUTOIMMUNE_ENCEPHALITIS),
        ("G81.91", ICD, C.HEMIPLEGIA),
        ("G61.0", ICD, C.GUILLAIN_BARRE),
        ("40956001", SCT, C.GUILLAIN_BARRE),
        ("G04.31", ICD, C.ACUTE_NECROTIZING_ENCEPHALOPATHY),
        ("G54.5", ICD, C.PLEXOPATHY),
        ("B00.4", ICD, C.CNS_INFECTION),
        ("G00.9", ICD, C.CNS_INFECTION),
        ("C83.390", ICD, C.PRIMARY_CNS_LYMPHOMA),
        ("D86.82", ICD, C.NEUROSARCOIDOSIS),
        ("D68.022", ICD, C.COAGULOPATHY),
        ("D69.6", ICD, C.COAGULOPATHY),
        ("Z86.718", ICD, C.THROMBOEMBOLIC_RISK),
        ("I82.409", ICD, C.THROMBOEMBOLIC_RISK),
        ("G35.B1", ICD, C.CNS_DEMYELINATION),
        ("G35", ICD, C.CNS_DEMYELINATION),
        ("24700007", SCT, C.CNS_DEMYELINATION),
        ("E22.2", ICD, C.HYPONATREMIA),
        ("R45.1", ICD, C.AGITATION),
        ("D80.2", ICD, C.IGA_DEFICIENCY),
        ("N17.9", ICD, C.RENAL_FAILURE),
        ("G610", ICD, C.GUILLAIN_BARRE),
    ],
)
def test_conditions_fall_into_their_clinical_category(code, system, category):
    facts = condition_facts([condition(code, system)])
    assert [f.category for f in facts] == [category]
    assert facts[0].active is True


@pytest.mark.parametrize(
    ("clinical", "active"),
    [
        ("active", True),
        ("recurrence", True),
        ("relapse", True),
        ("inactive", False),
        ("remission", False),
        ("resolved", False),
    ],
)
def test_only_active_recurrence_and_relapse_are_active(clinical, active):
    assert condition_facts([condition("G61.0", clinical=clinical)])[0].active is active


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_and_entered_in_error_conditions_never_count(verification):
    assert condition_facts([condition("G61.0", verification=verification)]) == ()


def test_a_provisional_diagnosis_still_counts():
    assert condition_facts([condition("G04.81", verification="provisional")])[0].active


def test_a_resolved_dvt_is_kept_as_history_not_active():
    fact = condition_facts([condition("I82.409", clinical="resolved")])[0]
    assert fact.category is C.THROMBOEMBOLIC_RISK and fact.active is False


def test_missing_clinical_status_is_active_unless_abated():
    assert condition_facts([condition("G61.0", clinical=None)])[0].active is True
    abated = condition("G61.0", clinical=None, abatementDateTime="2025-01-01")
    assert condition_facts([abated])[0].active is False


def test_onset_and_recorded_date_are_kept():
    fact = condition_facts(
        [condition("G04.30", onsetDateTime="2026-02-28T06:00:00Z", recordedDate="2026-02-28")]
    )[0]
    assert fact.onset == datetime(2026, 2, 28, 6, tzinfo=UTC)
    assert fact.recorded == datetime(2026, 2, 28, tzinfo=UTC)


def test_unrelated_conditions_and_other_resource_types_are_ignored():
    assert condition_facts([condition("I10"), {"resourceType": "Observation", "id": "x"}]) == ()


def test_a_condition_coded_in_two_systems_gives_one_fact_per_category():
    resource = condition("G61.0")
    resource["code"]["coding"].append({"system": SCT, "code": "40956001"})
    facts = condition_facts([resource])
    assert len(facts) == 1 and facts[0].code.system == ICD


def test_a_huge_code_is_refused_in_linear_time() -> None:
    import time

    from cds_service.knowledge import ICD10CM
    from cds_service.knowledge.conditions import categories_for

    started = time.process_time()
    assert categories_for(ICD10CM, "G61" + "0" * 200_000) == frozenset()
    assert time.process_time() - started < 0.5
    assert categories_for(ICD10CM, "G61.0")  # real codes still match


_CATEGORIES = st.sampled_from(list(C))
_CONDITION_FACTS = st.builds(
    lambda category, active, n: ConditionFact(
        category,
        CodeRef("http://snomed.info/sct", str(n)),
        f"Condition/c{n}",
        active,
        "active" if active else "resolved",
        "confirmed",
        None,
        None,
    ),
    _CATEGORIES,
    st.booleans(),
    st.integers(0, 10**6),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_CONDITION_FACTS, max_size=8), _CATEGORIES)
def test_active_and_has_active_read_as_the_plain_filters(
    conditions: list[ConditionFact], category: C
) -> None:
    facts = PatientFacts("p1", datetime(2026, 1, 1, tzinfo=UTC), conditions=tuple(conditions))
    expected = tuple(c for c in conditions if c.category is category and c.active)
    for _ in range(2):  # the first question reads the conditions, the second the index
        assert facts.active(category) == expected
        assert all(a is b for a, b in zip(facts.active(category), expected, strict=True))
        assert facts.has_active(category) is bool(expected)
    # The index is no field: equality, hashing and replace see only the conditions.
    fresh = PatientFacts("p1", datetime(2026, 1, 1, tzinfo=UTC), conditions=tuple(conditions))
    assert facts == fresh and repr(facts) == repr(fresh)
    assert dataclasses.replace(facts, conditions=()).active(category) == ()
