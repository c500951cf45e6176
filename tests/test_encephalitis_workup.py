"""Unspecified encephalitis (G04.90) is not autoimmune encephalitis: the card names what is missing.

Graus et al. 2016 criteria for possible autoimmune encephalitis rest on CSF, MRI and the exclusion
of other causes; the card lists the CSF cell count, CSF infection studies and antibody testing the
record lacks, says MRI and EEG are not read, and stays silent when AE, ANE or a CNS infection is
coded or infection is found in CSF.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cds_service.facts.model import ConditionFact, CsfInfectionStatus, LabKind, Qualitative
from cds_service.findings import Finding, Urgency
from cds_service.rules import evaluate, load_rules
from cds_service.rules.encephalitis_workup import RULE_ID
from tests.test_rules_scenarios import C, cond, facts, lab

WORKUP = load_rules()[RULE_ID]
X = CsfInfectionStatus


def _unspecified(active: bool = True) -> ConditionFact:
    c = cond(C.AUTOIMMUNE_ENCEPHALITIS, active=active)
    return replace(c, category=C.ENCEPHALITIS_UNSPECIFIED)


def _run(*conditions: ConditionFact, **kw: Any) -> list[Finding]:
    return evaluate(facts(conditions=conditions, **kw), (WORKUP,))


def test_nothing_in_the_record_lists_every_missing_study() -> None:
    (f,) = _run(_unspecified())
    assert f.urgency is Urgency.INFO and len(f.summary) < 140
    for words in (
        "CSF cell count",
        "CSF infection studies",
        "neuronal antibody testing",
        "MRI and EEG",
    ):
        assert words in f.detail
    assert "Graus 2016" in f.detail and "CSF CSF" not in f.detail


def test_all_studies_present_still_points_to_mri_eeg_and_the_criteria() -> None:
    labs = (
        lab(LabKind.CSF_WBC, 12),
        lab(LabKind.AUTOIMMUNE_ANTIBODY, qualitative=Qualitative.NEGATIVE),
    )
    (f,) = _run(_unspecified(), labs=labs, csf=X.EXCLUDED)
    assert "check MRI, EEG" in f.summary and "Missing" not in f.detail


def test_pending_csf_and_pending_antibodies_are_named_as_pending() -> None:
    labs = (lab(LabKind.AUTOIMMUNE_ANTIBODY, qualitative=Qualitative.PENDING),)
    (f,) = _run(_unspecified(), labs=labs, csf=X.PENDING)
    assert "final CSF infection studies" in f.detail and "(pending)" in f.detail


def test_observations_not_retrieved_is_said_plainly() -> None:
    (f,) = _run(_unspecified(), unknown=frozenset({"observations"}))
    assert "could not be retrieved" in f.detail


def test_silent_when_ae_ane_or_infection_explains_it_or_it_is_resolved() -> None:
    assert _run(_unspecified(), cond(C.AUTOIMMUNE_ENCEPHALITIS)) == []
    assert _run(_unspecified(), cond(C.ACUTE_NECROTIZING_ENCEPHALOPATHY)) == []
    assert _run(_unspecified(), cond(C.CNS_INFECTION)) == []
    assert _run(_unspecified(), csf=X.INFECTION_FOUND) == []
    assert _run(_unspecified(active=False)) == []


def test_the_card_is_for_patient_view_only() -> None:
    assert {str(h) for h in WORKUP.hooks} == {"patient-view"}
