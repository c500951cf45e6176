"""Codes that carry a qualitative lab result: SNOMED CT result values and v3 interpretation codes.

A qualitative Observation (CSF culture, Gram stain, PCR, antibody test) reports its result as a
SNOMED CT qualifier in valueCodeableConcept, as an HL7 v3 ObservationInterpretation code, or as
free text in valueString. The SNOMED rows are VERIFIED (HL7 eCR and
Logica COVID-19 value sets, tx.fhir.org); the interpretation codes are those of the HL7 v3 code
system (http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation).
"""

from __future__ import annotations

import re

from cds_service.facts.model import Qualitative
from cds_service.knowledge import SNOMED, V3_INTERPRETATION, CodeEntry, Verification

_V = Verification.VERIFIED

RESULT_VALUE_CODES: dict[Qualitative, tuple[CodeEntry, ...]] = {
    Qualitative.POSITIVE: (
        CodeEntry(
            SNOMED,
            "10828004",
            "Positive (qualifier value)",
            _V,
            "tx.fhir.org $validate-code SNOMED Intl 20240801; Logica PosNegVS",
        ),
        CodeEntry(
            SNOMED,
            "260373001",
            "Detected (qualifier value)",
            _V,
            "Logica DetNotDetEqInVS; HL7 home-lab-report IG example",
        ),
    ),
    Qualitative.NEGATIVE: (
        CodeEntry(
            SNOMED,
            "260385009",
            "Negative (qualifier value)",
            _V,
            "CSTE/VSAC 2.16.840.1.113762.1.4.1146.1034 (HL7 eCR); Logica PosNegVS",
        ),
        CodeEntry(
            SNOMED,
            "260415000",
            "Not detected (qualifier value)",
            _V,
            "CSTE/VSAC 2.16.840.1.113762.1.4.1146.1034 (HL7 eCR); Logica DetNotDetEqInVS",
        ),
        CodeEntry(
            SNOMED,
            "264868006",
            "No growth (qualifier value)",
            _V,
            "CSTE/VSAC 2.16.840.1.113762.1.4.1146.1034 (HL7 eCR); MII microbiology VS",
        ),
    ),
}

# v3 ObservationInterpretation: POS/DET and NEG/ND are explicit; A (abnormal) and N (normal) are
# read as positive/negative only for qualitative kinds, where no other reading is possible.
INTERPRETATION_CODES: dict[str, Qualitative] = {
    "POS": Qualitative.POSITIVE,
    "DET": Qualitative.POSITIVE,
    "A": Qualitative.POSITIVE,
    "AA": Qualitative.POSITIVE,
    "NEG": Qualitative.NEGATIVE,
    "ND": Qualitative.NEGATIVE,
    "N": Qualitative.NEGATIVE,
    "IND": Qualitative.INDETERMINATE,
    "E": Qualitative.INDETERMINATE,
}

_BY_SNOMED: dict[str, Qualitative] = {
    entry.code: result for result, entries in RESULT_VALUE_CODES.items() for entry in entries
}

# Free-text results. Negative phrases are tried first because they often contain a positive word
# ("not detected" contains "detected"); all patterns match whole words only.
_NEGATIVE_TEXT = re.compile(
    r"\b(negative|neg|not detected|none detected|undetected|no growth|no organisms?"
    r"( seen)?|no bacteria( seen)?|nonreactive|non-reactive|absent)\b"
)
_POSITIVE_TEXT = re.compile(
    r"\b(positive|pos|detected|reactive|present|growth|organisms? seen|"
    r"gram[- ](positive|negative|variable)|cocci|bacilli|rods|diplococci|yeast)\b"
)
_INDETERMINATE_TEXT = re.compile(r"\b(indeterminate|equivocal|inconclusive|borderline)\b")


def result_for_snomed(system: str | None, code: str | None) -> Qualitative | None:
    return _BY_SNOMED.get(code or "") if system == SNOMED else None


def result_for_interpretation(system: str | None, code: str | None) -> Qualitative | None:
    if system not in (V3_INTERPRETATION, None) or code is None:
        return None
    return INTERPRETATION_CODES.get(code)


def result_for_text(text: str | None) -> Qualitative | None:
    """Read a free-text result; Gram-stain organisms ('gram negative rods') count as positive."""
    if not text:
        return None
    lowered = text.lower()
    if _INDETERMINATE_TEXT.search(lowered):
        return Qualitative.INDETERMINATE
    if re.search(r"\bgram[- ](positive|negative|variable)\b", lowered):
        return Qualitative.POSITIVE
    if _NEGATIVE_TEXT.search(lowered):
        return Qualitative.NEGATIVE
    if _POSITIVE_TEXT.search(lowered):
        return Qualitative.POSITIVE
    return None
