"""Infection found in CSF: critical with nothing ordered, the pathogen named, antivirals read.

Built from raw FHIR resources through the real facts layer (build_facts), so the antiviral facts
(facts.antivirals), the result's own words (Measurement.result_text) and the CSF gate are tested
together. HSV or VZV with an antiviral on record for this episode is a warning without a removal;
a bacterial finding stays critical whatever antiviral is recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds_service.facts.antivirals import antiviral_fact
from cds_service.facts.build import build_facts
from cds_service.findings import Finding, ProposeRemoval, Urgency
from cds_service.knowledge.rxnorm import ANTIVIRAL_CODES
from cds_service.rules import evaluate, load_rules
from cds_service.rules.csf_gate import RULE_ID
from tests.test_rules_fixtures import _resolved

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
GATE = load_rules()[RULE_ID]


def _condition(code: str = "G04.81") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"c-{code}",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
        "onsetDateTime": "2026-02-20T00:00:00Z",
    }


def _csf(loinc: str, *, text: str | None = None, detected: bool = True) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"o-{loinc}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "effectiveDateTime": "2026-02-28T10:00:00Z",
    }
    if text is not None:
        resource["valueString"] = text
    else:
        code = "260373001" if detected else "260415000"
        resource["valueCodeableConcept"] = {
            "coding": [{"system": "http://snomed.info/sct", "code": code}]
        }
    return resource


def _antiviral(
    *,
    code: str | None = "281",
    text: str = "aciclovir IV",
    status: str = "active",
    authored: str = "2026-02-28T12:00:00Z",
    draft: bool = False,
) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if code:
        concept["coding"] = [{"system": RX, "code": code}]
    return {
        "resourceType": "MedicationRequest",
        "id": f"av-{status}-{authored[:10]}",
        "status": "draft" if draft else status,
        "intent": "order",
        "medicationCodeableConcept": concept,
        "authoredOn": authored,
    }


def _steroid_draft() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "mp-draft",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RX, "code": "6902"}]},
        "authoredOn": "2026-03-01T12:00:00Z",
    }


def _findings(
    resources: list[dict[str, Any]],
    *,
    hook: str = "patient-view",
    drafts: tuple[dict[str, Any], ...] = (),
) -> list[Finding]:
    bundle = {"entry": [{"resource": {"resourceType": "Patient", "id": "p"}}]}
    bundle["entry"] += [{"resource": r} for r in resources]
    facts = build_facts(
        _resolved(bundle),
        patient_id="p",
        hook=hook,
        now=NOW,
        draft_orders=drafts,
        selections=(),
    )
    return evaluate(facts, (GATE,))


def _one(resources: list[dict[str, Any]], **kw: Any) -> Finding:
    found = _findings(resources, **kw)
    assert len(found) == 1, found
    assert len(found[0].summary) < 140
    return found[0]


def test_hsv_in_csf_with_nothing_ordered_is_critical_names_the_virus_and_advises_aciclovir() -> (
    None
):
    f = _one([_condition(), _csf("16952-4")])
    assert f.urgency is Urgency.CRITICAL
    assert "HSV-1" in f.summary and "aciclovir" in f.summary
    assert "IDSA 2008" in f.detail and "Armangue" in f.detail
    assert f.citation.label.startswith("IDSA encephalitis guideline 2008")


def test_vzv_named_from_its_test_code_and_from_a_panel_result() -> None:
    assert "VZV" in _one([_condition(), _csf("21598-8")]).summary
    panel = _one([_condition(), _csf("108157-9", text="Varicella zoster virus detected")])
    assert "VZV" in panel.summary and panel.urgency is Urgency.CRITICAL


def test_running_aciclovir_makes_it_a_warning_that_mentions_post_infectious_encephalitis() -> None:
    f = _one([_condition(), _csf("16952-4"), _antiviral()])
    assert f.urgency is Urgency.WARNING
    assert "aciclovir recorded" in f.detail and "Autoimmune encephalitis can follow" in f.detail


def test_valaciclovir_recognised_by_name_only_counts_too() -> None:
    f = _one([_condition(), _csf("16960-7"), _antiviral(code=None, text="valACYclovir 1 g")])
    assert f.urgency is Urgency.WARNING and "valaciclovir" in f.detail


def test_with_an_antiviral_running_a_steroid_order_is_a_warning_and_not_removed() -> None:
    f = _one(
        [_condition(), _csf("16952-4"), _antiviral()],
        hook="order-sign",
        drafts=(_steroid_draft(),),
    )
    assert f.urgency is Urgency.WARNING
    assert not f.suggestions


def test_without_an_antiviral_a_steroid_order_is_critical_with_its_removal() -> None:
    f = _one([_condition(), _csf("16952-4")], hook="order-sign", drafts=(_steroid_draft(),))
    assert f.urgency is Urgency.CRITICAL
    assert [type(s) for s in f.suggestions] == [ProposeRemoval]
    assert "hold immunotherapy" in f.summary


def test_an_old_completed_aciclovir_course_does_not_count() -> None:
    old = _antiviral(status="completed", authored="2024-01-10T08:00:00Z")
    assert _one([_condition(), _csf("16952-4"), old]).urgency is Urgency.CRITICAL


def test_aciclovir_being_ordered_is_not_yet_treatment_but_is_said() -> None:
    f = _one(
        [_condition(), _csf("16952-4")],
        hook="order-sign",
        drafts=(_steroid_draft(), _antiviral(draft=True)),
    )
    assert f.urgency is Urgency.CRITICAL
    assert "among the orders being placed" in f.detail


def test_a_bacterial_finding_stays_critical_with_aciclovir_running_and_names_the_organism() -> None:
    f = _one([_condition(), _csf("14357-8", text="Gram-positive diplococci"), _antiviral()])
    assert f.urgency is Urgency.CRITICAL
    assert "Gram-positive diplococci" in f.summary
    assert "aciclovir" not in f.summary


def test_an_unnamed_positive_culture_says_which_test_is_positive() -> None:
    f = _one([_condition(), _csf("606-4", text="Growth")])
    assert "culture positive" in f.summary


def test_negative_csf_with_aciclovir_running_is_silent() -> None:
    negatives = [_csf("16952-4", detected=False), _csf("606-4", text="No growth")]
    assert _findings([_condition(), *negatives, _antiviral()]) == []


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (_antiviral(), "acyclovir"),
        (_antiviral(code="73645", text="Valtrex"), "valacyclovir"),
        (_antiviral(code=None, text="Aciclovir 5% cream, topical"), None),
        (_antiviral(status="entered-in-error"), None),
        (_antiviral(code=None, text="ganciclovir IV"), None),
    ],
)
def test_antiviral_facts(resource: dict[str, Any], expected: str | None) -> None:
    fact = antiviral_fact(resource, NOW)
    assert (fact.ingredient if fact else None) == expected


def test_an_unsigned_draft_in_the_record_is_not_an_antiviral_given() -> None:
    assert antiviral_fact(_antiviral(draft=True), NOW) is None
    drafted = antiviral_fact(_antiviral(draft=True), NOW, draft=True)
    assert drafted is not None and drafted.is_draft_order


def test_antiviral_codes_are_verified_ingredients_with_their_sources() -> None:
    assert {e.code for e in ANTIVIRAL_CODES} == {"281", "73645"}
    assert all(e.status.value == "verified" and e.source for e in ANTIVIRAL_CODES)
