"""Every lab and vital sign the rules read: one row per kind, the only place a lab is defined.

A row holds what the facts layer needs to use a value honestly: the label shown on cards, the
canonical UCUM unit and the factor from each accepted unit to it, the freshness window and the
reason for it, whether the result is qualitative (positive / negative / pending) or numeric, and
the LOINC codes (with their verification status, in `cds_service.knowledge.loinc`). The facts
layer, the Observation prefetch template and the evidence lines on cards all read this table;
`tests/test_knowledge_tables.py` proves every kind complete. Adding a lab is one row here and its
LOINC rows.

Units are compared after trimming case, spaces and UCUM curly-brace annotations ("{cells}/uL" is
"/uL"); factors are per kind because one spelling can mean different things ("G/L" is giga per
litre for platelets but gram per litre for fibrinogen). Molar conversions use molar masses:
creatinine 113.12 g/mol (1 mg/dL = 88.42 umol/L). No guideline sets the freshness windows; each
is a design choice stated with its reason, for review with the clinical lead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from cds_service.facts.model import LabKind as K
from cds_service.facts.robust import text_or_none
from cds_service.frozen import fast_init
from cds_service.knowledge.loinc import LOINC_CODES, LoincEntry

CREATININE_UMOL_L_PER_MG_DL = 88.42  # molar mass of creatinine 113.12 g/mol
POUND_KG = 0.45359237  # UCUM [lb_av], exact by definition
INCH_CM = 2.54  # UCUM [in_i], exact by definition
HOURS_PER_DAY = 24.0

_PER_UL = {
    "/ul": 1.0,
    "/mm3": 1.0,
    "/cumm": 1.0,
    "10*6/l": 1.0,
    "cells/ul": 1.0,
    "cells/mm3": 1.0,
    "/cmm": 1.0,
}
_PLATELET_UNITS = {
    **dict.fromkeys(
        (
            "10*9/l",
            "10^9/l",
            "x10*9/l",
            "x10^9/l",
            "x10e9/l",
            "g/l",
            "10*3/ul",
            "10^3/ul",
            "x10*3/ul",
            "x10^3/ul",
            "x10e3/ul",
            "k/ul",
            "thou/ul",
            "10*3/mm3",
            "10^3/mm3",
            "/nl",
        ),
        1.0,
    ),
    "/ul": 0.001,
    "/mm3": 0.001,
}

_SODIUM_WHY = (
    "sodium moves within hours in hyponatraemia; 48 h is the acute/chronic boundary of the "
    "European hyponatraemia guideline (Spasovski 2014), beyond which a value no longer "
    "describes now"
)
_COAGULATION_WHY = (
    "coagulation before a central line (SIR 2019, Patel JVIR 2019) is judged on recent labs; "
    "72 h covers a weekend admission without accepting last week's values"
)
_CSF_WHY = (
    "CSF studies belong to the current episode: escalation is judged at 2-4 weeks, so a lumbar "
    "puncture within 30 days still speaks for this episode"
)
_RENAL_WHY = "renal function before IVIG (renal failure risk) should reflect the last week"


@fast_init
@dataclass(frozen=True)
class LabDefinition:
    """One kind of observation: how to recognise, convert, date and show its values."""

    kind: K
    label: str  # shown on cards, e.g. "Sodium"
    unit: str | None  # canonical UCUM unit; None for qualitative results
    freshness_hours: float
    freshness_reason: str
    unit_factors: Mapping[str, float] = field(default_factory=dict)  # unit key -> factor
    qualitative: bool = False

    @property
    def codes(self) -> tuple[LoincEntry, ...]:
        return tuple(entry for entry in LOINC_CODES if entry.kind is self.kind)


def _lab(
    kind: K,
    label: str,
    unit: str | None,
    freshness_hours: float,
    reason: str,
    factors: Mapping[str, float] | None = None,
) -> LabDefinition:
    return LabDefinition(
        kind,
        label,
        unit,
        freshness_hours,
        reason,
        MappingProxyType(dict(factors or {})),
        qualitative=unit is None,
    )


_DAY = HOURS_PER_DAY
LABS: tuple[LabDefinition, ...] = (
    _lab(K.SODIUM, "Sodium", "mmol/L", 48, _SODIUM_WHY, {"mmol/l": 1.0, "meq/l": 1.0}),
    _lab(K.INR, "INR", "{INR}", 72, _COAGULATION_WHY, dict.fromkeys(("", "1", "inr", "ratio"), 1)),
    _lab(K.PLATELETS, "Platelets", "10*9/L", 72, _COAGULATION_WHY, _PLATELET_UNITS),
    _lab(
        K.FIBRINOGEN,
        "Fibrinogen",
        "g/L",
        72,
        _COAGULATION_WHY,
        {"g/l": 1.0, "mg/dl": 0.01, "mg/l": 0.001},
    ),
    _lab(K.CSF_WBC, "CSF white cells", "/uL", 30 * _DAY, _CSF_WHY, _PER_UL),
    _lab(K.CSF_GRAM_STAIN, "CSF Gram stain", None, 30 * _DAY, _CSF_WHY),
    _lab(K.CSF_CULTURE, "CSF culture", None, 30 * _DAY, _CSF_WHY),
    _lab(K.CSF_HSV_PCR, "CSF HSV PCR", None, 30 * _DAY, _CSF_WHY),
    _lab(K.CSF_PATHOGEN_PCR, "CSF pathogen PCR / panel", None, 30 * _DAY, _CSF_WHY),
    _lab(
        K.IL6,
        "Interleukin-6",
        "pg/mL",
        7 * _DAY,
        "IL-6 is a prognostic marker in ANE read in the acute phase only",
        {"pg/ml": 1.0, "ng/l": 1.0},
    ),
    _lab(
        K.WEIGHT,
        "Body weight",
        "kg",
        30 * _DAY,
        "weight-based dosing (IVIG g/kg, methylprednisolone mg/kg) needs a current weight",
        {"kg": 1.0, "g": 0.001, "[lb_av]": POUND_KG, "lb": POUND_KG, "lbs": POUND_KG},
    ),
    _lab(
        K.HEIGHT,
        "Body height",
        "cm",
        365 * _DAY,
        "adult height changes slowly; used only for body surface area (mg/m2 doses)",
        {"cm": 1.0, "m": 100.0, "mm": 0.1, "[in_i]": INCH_CM, "in": INCH_CM},
    ),
    _lab(
        K.CREATININE,
        "Creatinine",
        "mg/dL",
        7 * _DAY,
        _RENAL_WHY,
        {
            "mg/dl": 1.0,
            "umol/l": 1.0 / CREATININE_UMOL_L_PER_MG_DL,
            "mmol/l": 1000.0 / CREATININE_UMOL_L_PER_MG_DL,
        },
    ),
    _lab(
        K.EGFR,
        "eGFR",
        "mL/min/{1.73_m2}",
        7 * _DAY,
        _RENAL_WHY,
        dict.fromkeys(("ml/min/1.73m2", "ml/min/1.73_m2", "ml/min/1.73m^2"), 1.0),
    ),
    _lab(
        K.GCS,
        "Glasgow Coma Scale",
        "{score}",
        24,
        "consciousness changes by the hour in acute necrotizing encephalopathy; only today's "
        "score describes the severity",
        {"": 1.0, "1": 1.0, "score": 1.0},
    ),
    _lab(
        K.AUTOIMMUNE_ANTIBODY,
        "Autoimmune antibody test",
        None,
        90 * _DAY,
        "antibody results sent at presentation stay relevant through the episode",
    ),
)

LAB_DEFINITIONS: Mapping[K, LabDefinition] = MappingProxyType({lab.kind: lab for lab in LABS})


# UCUM is for machines; cards show units as clinicians write them.
_UNIT_DISPLAY = {
    "10*9/L": "x10^9/L",
    "10*3/uL": "x10^3/uL",
    "{INR}": "",
    "{score}": "",
    "mL/min/{1.73_m2}": "mL/min/1.73 m2",
    "[lb_av]": "lb",
    "[in_i]": "in",
    "/uL": "cells/uL",
}


def unit_display(unit: str | None) -> str:
    """A unit as a clinician reads it: no UCUM brackets or curly-brace annotations."""
    if not unit:
        return ""
    if unit in _UNIT_DISPLAY:
        return _UNIT_DISPLAY[unit]
    return _shown(unit) if isinstance(unit, str) else ""


@lru_cache(maxsize=1024)  # units are a small vocabulary; bounded whatever EHRs send
def _shown(unit: str) -> str:
    text = re.sub(r"\{[^}]*\}", "", unit).replace("[", "").replace("]", "")
    return text_or_none(text.replace("10*", "10^")) or ""  # a unit from FHIR data is escaped


def lab_definition(kind: K) -> LabDefinition:
    return LAB_DEFINITIONS[kind]


def observation_codes() -> tuple[str, ...]:
    """Every LOINC code of every lab kind, sorted: what the Observation prefetch asks for."""
    return tuple(sorted(entry.code for lab in LABS for entry in lab.codes))
