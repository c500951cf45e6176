"""LOINC codes per lab kind, each with the unit the term is natively reported in, and provenance.

Each row names its source and verification status. The observation prefetch template filters on
`PREFETCH_OBSERVATION_CODES`; `lab_kind_for` is the cheap lookup the facts layer runs on every raw
Observation before doing anything else with it. Every code passes the LOINC mod-10 check digit
(tests/test_terminology.py), which is how the candidate 5895-7 was caught and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.facts.model import LabKind as K
from cds_service.frozen import fast_init
from cds_service.knowledge import LOINC, DroppedCode, Verification

_V, _C = Verification.VERIFIED, Verification.CORROBORATED


@fast_init
@dataclass(frozen=True)
class LoincEntry:
    code: str
    display: str
    kind: K
    native_unit: str | None  # UCUM unit the term is reported in; None for qualitative terms
    status: Verification
    source: str
    system: str = LOINC


def _l(
    code: str, display: str, kind: K, unit: str | None, status: Verification, source: str
) -> LoincEntry:
    return LoincEntry(code, display, kind, unit, status, source)


LOINC_CODES: tuple[LoincEntry, ...] = (
    _l(
        "2951-2",
        "Sodium [Moles/volume] in Serum or Plasma",
        K.SODIUM,
        "mmol/L",
        _V,
        "loinc.org LG11363-5",
    ),
    _l("2947-0", "Sodium [Moles/volume] in Blood", K.SODIUM, "mmol/L", _V, "loinc.org LG11363-5"),
    _l(
        "32717-1",
        "Sodium [Moles/volume] in Arterial blood",
        K.SODIUM,
        "mmol/L",
        _V,
        "loinc.org LG11363-5",
    ),
    _l(
        "39791-9",
        "Sodium [Moles/volume] in Venous blood",
        K.SODIUM,
        "mmol/L",
        _V,
        "loinc.org LG11363-5",
    ),
    _l(
        "39792-7",
        "Sodium [Moles/volume] in Capillary blood",
        K.SODIUM,
        "mmol/L",
        _V,
        "loinc.org LG11363-5",
    ),
    _l(
        "41657-8",
        "Sodium [Moles/volume] in Mixed venous blood",
        K.SODIUM,
        "mmol/L",
        _V,
        "loinc.org LG11363-5",
    ),
    _l(
        "77139-4",
        "Sodium [Moles/volume] in Serum, Plasma or Blood",
        K.SODIUM,
        "mmol/L",
        _V,
        "loinc.org/77139-4",
    ),
    _l(
        "6301-6",
        "INR in Platelet poor plasma by Coagulation assay",
        K.INR,
        "{INR}",
        _C,
        "healthassure LOINC mirror; Labcorp PT map",
    ),
    _l(
        "34714-6",
        "INR in Blood by Coagulation assay",
        K.INR,
        "{INR}",
        _C,
        "Swiss eHealth value-set enum; GECCO enum",
    ),
    _l(
        "777-3",
        "Platelets [#/volume] in Blood by Automated count",
        K.PLATELETS,
        "10*3/uL",
        _V,
        "loinc.org/777-3",
    ),
    _l("26515-7", "Platelets [#/volume] in Blood", K.PLATELETS, "10*3/uL", _V, "loinc.org/26515-7"),
    _l(
        "3255-7",
        "Fibrinogen [Mass/volume] in Platelet poor plasma by Coagulation assay",
        K.FIBRINOGEN,
        "mg/dL",
        _C,
        "Swiss eHealth enum; GECCO enum; ARUP 0030130",
    ),
    _l(
        "26465-5",
        "Leukocytes [#/volume] in Cerebral spinal fluid",
        K.CSF_WBC,
        "/uL",
        _C,
        "MIMIC d_labitems LOINC map; public repos",
    ),
    _l(
        "806-0",
        "Leukocytes [#/volume] in Cerebral spinal fluid by Manual count",
        K.CSF_WBC,
        "/uL",
        _C,
        "public LOINC JSON list; OMOP change log",
    ),
    _l(
        "805-2",
        "Leukocytes [#/volume] in Cerebral spinal fluid by Automated count",
        K.CSF_WBC,
        "/uL",
        _C,
        "OHDSI SQL comment; LOINC naming pattern of 806-0",
    ),
    _l(
        "14357-8",
        "Microscopic observation [Identifier] in Cerebral spinal fluid by Gram stain",
        K.CSF_GRAM_STAIN,
        None,
        _C,
        "healthassure LOINC mirror (ACTIVE)",
    ),
    _l(
        "606-4",
        "Bacteria identified in Cerebral spinal fluid by Culture",
        K.CSF_CULTURE,
        None,
        _C,
        "OMOP concept; HL7 example messages; MIMIC->FHIR converter",
    ),
    _l(
        "16952-4",
        "Herpes simplex virus 1 DNA [Presence] in Cerebral spinal fluid by NAA with "
        "probe detection",
        K.CSF_HSV_PCR,
        None,
        _C,
        "RML/SJHS, Mayo HSVC and Labcorp 139800 maps",
    ),
    _l(
        "16960-7",
        "Herpes simplex virus 2 DNA [Presence] in Cerebral spinal fluid by NAA with "
        "probe detection",
        K.CSF_HSV_PCR,
        None,
        _C,
        "healthassure LOINC mirror; lab catalogues",
    ),
    _l(
        "108157-9",
        "Meningitis+Encephalitis pathogens [Presence] in Cerebral spinal fluid by NAA "
        "with non-probe detection",
        K.CSF_PATHOGEN_PCR,
        None,
        _C,
        "healthassure LOINC mirror",
    ),
    _l(
        "21598-8",
        "Varicella zoster virus DNA [Presence] in Cerebral spinal fluid (lab usage)",
        K.CSF_PATHOGEN_PCR,
        None,
        _C,
        "lab usage: Michigan Medicine MLabs VZV PCR CSF; Allina Health lab 14501 (Addendum 3)",
    ),
    _l(
        "26881-3",
        "Interleukin 6 [Mass/volume] in Serum or Plasma",
        K.IL6,
        "pg/mL",
        _C,
        "OMOP concept 3023091; public FSH files",
    ),
    _l("29463-7", "Body weight", K.WEIGHT, "kg", _C, "FHIR R4 vital-signs profile bodyweight code"),
    _l("8302-2", "Body height", K.HEIGHT, "cm", _C, "FHIR R4 vital-signs profile bodyheight code"),
    _l(
        "2160-0",
        "Creatinine [Mass/volume] in Serum or Plasma",
        K.CREATININE,
        "mg/dL",
        _C,
        "public repos; HL7 v2 examples",
    ),
    _l(
        "98979-8",
        "Glomerular filtration rate [Volume Rate/Area] in Serum, Plasma or Blood by "
        "Creatinine-based formula (CKD-EPI 2021)/1.73 sq M",
        K.EGFR,
        "mL/min/{1.73_m2}",
        _C,
        "FHIR IG FSH files (TW, HL7 examples)",
    ),
    _l(
        "62238-1",
        "Glomerular filtration rate/1.73 sq M.predicted in Serum, Plasma or Blood by "
        "Creatinine-based formula (CKD-EPI)",
        K.EGFR,
        "mL/min/{1.73_m2}",
        _C,
        "public repos",
    ),
    _l(
        "33914-3",
        "Glomerular filtration rate/1.73 sq M.predicted in Serum or Plasma by "
        "Creatinine-based formula (MDRD)",
        K.EGFR,
        "mL/min/{1.73_m2}",
        _C,
        "HL7 v2 examples",
    ),
    _l(
        "80220-7",
        "NMDA receptor Ab IgG, CSF (ARUP chart name)",
        K.AUTOIMMUNE_ANTIBODY,
        None,
        _C,
        "ARUP 2005164; NS-LIJ catalogue",
    ),
    _l(
        "80221-5",
        "NMDA receptor Ab IgG, serum (ARUP chart name)",
        K.AUTOIMMUNE_ANTIBODY,
        None,
        _C,
        "ARUP 2004221",
    ),
    _l(
        "9269-2",
        "Glasgow coma score total",
        K.GCS,
        "{score}",
        _C,
        "HL7 FHIR EMS example Observation; public vital-sign LOINC tables",
    ),
)

DROPPED_LOINC_CODES: tuple[DroppedCode, ...] = (
    DroppedCode(
        LOINC,
        "5895-7",
        "deprecated INR",
        "fails the LOINC mod-10 check digit (5895 gives 8): not a valid LOINC code",
    ),
    DroppedCode(LOINC, "46418-0", "INR capillary blood", "unverified (memory only)"),
    DroppedCode(LOINC, "5964-2", "PT in blood", "unverified, and PT is not used by the rules"),
    DroppedCode(LOINC, "778-1", "Platelets manual count", "unverified (memory only)"),
    DroppedCode(LOINC, "792-2", "CSF RBC manual count", "unverified (memory only)"),
    # Verified or corroborated, but read by no rule: not fetched, so an EHR is not asked for them.
    DroppedCode(LOINC, "48065-7", "D-dimer FEU", "corroborated; read by no rule"),
    DroppedCode(LOINC, "48066-5", "D-dimer DDU", "corroborated; read by no rule"),
    DroppedCode(LOINC, "26454-9", "CSF erythrocytes", "corroborated; read by no rule"),
    DroppedCode(LOINC, "791-4", "CSF erythrocytes, automated", "corroborated; read by no rule"),
    DroppedCode(LOINC, "2880-3", "CSF protein", "corroborated; read by no rule"),
    DroppedCode(LOINC, "2342-4", "CSF glucose", "corroborated; read by no rule"),
    DroppedCode(LOINC, "16955-7", "CSF HSV-1+2 combined PCR", "candidate not confirmed"),
    DroppedCode(
        LOINC,
        "11483-5",
        "VZV DNA (specimen-agnostic)",
        "not CSF-specific: a blood or swab result would pass for CSF",
    ),
    DroppedCode(
        LOINC,
        "29591-5",
        "Enterovirus RNA (specimen-agnostic)",
        "not CSF-specific (Mayo uses it for plasma)",
    ),
    DroppedCode(LOINC, "29558-4", "Enterovirus RNA CSF", "single source (Corewell)"),
)

_BY_CODE: dict[str, LoincEntry] = {entry.code: entry for entry in LOINC_CODES}


def lab_entry_for(system: str | None, code: str | None) -> LoincEntry | None:
    """The code-set row for one coding, or None; a dict lookup, safe to run on every resource."""
    if system != LOINC or code is None:
        return None
    return _BY_CODE.get(code)


def codes_for(kind: K) -> tuple[str, ...]:
    return tuple(sorted(e.code for e in LOINC_CODES if e.kind is kind))
