"""Code sets as data with provenance: every code the service matches on, where it was checked.

Each entry records the code system, the code, the display seen in the source, the source itself and
the verification status. Only VERIFIED or CORROBORATED
codes ship; candidates that could not be checked are left
out and listed in each module's `DROPPED_*` tuple with the reason, so nobody re-adds them from
memory. Submodules hold one code set each: `conditions` (ICD-10-CM, SNOMED CT), `loinc`,
`rxnorm`, `procedures` and `results`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cds_service.frozen import fast_init

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


class Verification(StrEnum):
    VERIFIED = "verified"  # code and display seen in an authoritative, machine-readable source
    CORROBORATED = "corroborated"  # code and meaning seen in two or more independent sources


class Match(StrEnum):
    EXACT = "exact"
    FAMILY = "family"  # the code and every code below it in the classification (ICD-10-CM)


@fast_init
@dataclass(frozen=True)
class CodeEntry:
    system: str
    code: str
    display: str
    status: Verification
    source: str
    match: Match = Match.EXACT
    note: str | None = None


@fast_init
@dataclass(frozen=True)
class DroppedCode:
    """A candidate code that was not shipped, kept so the reason is not lost."""

    system: str
    code: str
    meaning: str
    reason: str


def normalise_icd10cm(code: str) -> str:
    """ICD-10-CM codes arrive as 'g35a', 'G35.A' or 'G35A'; compare them in tabular spelling."""
    compact = code.strip().upper().replace(".", "")
    return compact if len(compact) <= 3 else f"{compact[:3]}.{compact[3:]}"
