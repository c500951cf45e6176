"""Code sets: every shipped code is verified or corroborated and checked where a checker exists.

ICD-10-CM codes are checked against the official tabular list shipped in `simple-icd-10-cm`
(FY2026): the code exists, its display is the official description, an EXACT entry is a billable
leaf and a FAMILY entry is a header whose children count. LOINC codes are checked with the LOINC
mod-10 check digit, which catches a mistyped code.
"""

from __future__ import annotations

import pytest
import simple_icd_10_cm as cm

from cds_service.facts.model import ConditionCategory, LabKind, Therapy
from cds_service.knowledge import ICD10CM, LOINC, SNOMED, Match, Verification
from cds_service.knowledge.conditions import (
    CONDITION_CODES,
    DROPPED_CONDITION_CODES,
    categories_for,
)
from cds_service.knowledge.labs import observation_codes
from cds_service.knowledge.loinc import (
    DROPPED_LOINC_CODES,
    LOINC_CODES,
    codes_for,
)
from cds_service.knowledge.procedures import PLEX_CODES
from cds_service.knowledge.rxnorm import (
    BRAND_NAME_SOURCES,
    CLINICAL_DRUG_CODES,
    INGREDIENT_CODES,
    TEXT_TERMS,
    therapy_for_rxnorm,
)

ICD_ENTRIES = [e for entries in CONDITION_CODES.values() for e in entries if e.system == ICD10CM]
ALL_ENTRIES = [
    *[e for entries in CONDITION_CODES.values() for e in entries],
    *[e for table in (INGREDIENT_CODES, CLINICAL_DRUG_CODES) for es in table.values() for e in es],
    *PLEX_CODES,
]


@pytest.mark.parametrize("entry", ICD_ENTRIES, ids=lambda e: e.code)
def test_every_icd10cm_code_is_in_the_official_tabular_list_with_its_official_description(entry):
    assert cm.is_valid_item(entry.code)
    assert cm.get_description(entry.code) == entry.display


@pytest.mark.parametrize("entry", ICD_ENTRIES, ids=lambda e: e.code)
def test_exact_icd10cm_entries_are_billable_leaves_and_families_are_headers(entry):
    assert cm.is_leaf(entry.code) is (entry.match is Match.EXACT)


@pytest.mark.parametrize(
    "entry", [e for e in ICD_ENTRIES if e.match is Match.FAMILY], ids=lambda e: e.code
)
def test_every_child_of_a_family_falls_in_the_family_category(entry):
    category = next(c for c, es in CONDITION_CODES.items() if entry in es)
    for child in cm.get_descendants(entry.code):
        assert category in categories_for(ICD10CM, child), child


@pytest.mark.parametrize("code", ["G35", "G35.A", "G35.B0", "G35.C2", "G35.D", "g35b1", "G35D"])
def test_g35_header_and_its_fy2026_children_are_cns_demyelination(code):
    assert ConditionCategory.CNS_DEMYELINATION in categories_for(ICD10CM, code)


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (ICD10CM, "G36.1"),
        (ICD10CM, "G61.81"),
        (ICD10CM, "G04.8"),
        (ICD10CM, "G3"),
        (SNOMED, "G35"),
        (LOINC, "24700007"),
        (ICD10CM, ""),
    ],
)
def test_codes_outside_the_sets_or_in_the_wrong_system_match_nothing(system, code):
    assert categories_for(system, code) == frozenset()


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=lambda e: f"{e.system[-8:]}|{e.code}")
def test_every_shipped_code_is_verified_or_corroborated_with_a_source(entry):
    assert entry.status in (Verification.VERIFIED, Verification.CORROBORATED)
    assert entry.source.strip()
    assert entry.display.strip()


def test_no_dropped_code_is_shipped():
    shipped = {(e.system, e.code) for e in ALL_ENTRIES} | {(LOINC, e.code) for e in LOINC_CODES}
    dropped = {(d.system, d.code) for d in (*DROPPED_CONDITION_CODES, *DROPPED_LOINC_CODES)}
    assert not shipped & dropped


def _loinc_check_digit(body: str) -> int:
    """LOINC mod-10 check digit: double every other digit from the right, starting rightmost."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit // 10 + digit % 10
    return (10 - total % 10) % 10


@pytest.mark.parametrize("entry", LOINC_CODES, ids=lambda e: e.code)
def test_every_loinc_code_has_a_valid_check_digit(entry):
    body, check = entry.code.split("-")
    assert _loinc_check_digit(body) == int(check)
    assert entry.status in (Verification.VERIFIED, Verification.CORROBORATED)


def test_prefetch_observation_codes_are_sorted_unique_and_cover_every_lab_kind():
    codes = observation_codes()
    assert list(codes) == sorted(set(codes))
    for kind in LabKind:
        assert codes_for(kind), kind


def test_every_sodium_code_of_loinc_group_lg11363_5_is_matched():
    assert set(codes_for(LabKind.SODIUM)) == {
        "2951-2",
        "2947-0",
        "32717-1",
        "39791-9",
        "39792-7",
        "41657-8",
        "77139-4",
    }


@pytest.mark.parametrize(
    ("code", "therapy"),
    [
        ("6902", Therapy.CORTICOSTEROID),
        ("1743726", Therapy.CORTICOSTEROID),
        ("121191", Therapy.RITUXIMAB),
        ("1657862", Therapy.RITUXIMAB),
        ("3002", Therapy.CYCLOPHOSPHAMIDE),
        ("612865", Therapy.TOCILIZUMAB),
        ("358258", Therapy.BORTEZOMIB),
        ("1256", Therapy.AZATHIOPRINE),
        ("68149", Therapy.MYCOPHENOLATE),
        ("485023", Therapy.MYCOPHENOLATE),
        ("3008", Therapy.CYCLOSPORINE),
        ("202817", Therapy.CYCLOSPORINE),
        ("999999", None),
    ],
)
def test_rxnorm_ingredient_and_clinical_drug_codes_map_to_their_therapy(code, therapy):
    assert therapy_for_rxnorm(code) is therapy


def test_every_brand_name_in_the_text_fallback_has_a_recorded_source():
    generic = {
        "methylprednisolone",
        "prednisone",
        "prednisolone",
        "dexamethasone",
        "hydrocortisone",
        "ivig",
        "igiv",
        "intravenous immunoglobulin",
        "intravenous immune globulin",
        "immune globulin intravenous",
        "rituximab",
        "cyclophosphamide",
        "tocilizumab",
        "bortezomib",
        "azathioprine",
        "mycophenolate",
        "mycophenolate mofetil",
        "mycophenolic acid",
        "cyclosporine",
        "ciclosporin",
        "cyclosporin",
    }
    for terms in TEXT_TERMS.values():
        for term in terms:
            assert term in generic or term in BRAND_NAME_SOURCES, term
