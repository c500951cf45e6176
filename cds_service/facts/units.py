"""UCUM unit normalisation: every lab kind's values converted to its one canonical unit.

Each kind lists the units it accepts and the factor to its canonical unit; a value in any other
unit is not converted by guesswork but reported as unusable (architecture.md, "Clinical content").
Units are compared after trimming case, spaces and UCUM curly-brace annotations ("{cells}/uL" is
"/uL"); the lists are per kind because the same spelling can mean different things ("G/L" is giga
per litre for platelets but gram per litre for fibrinogen). Molar conversions use molar masses:
glucose 180.16 g/mol (1 mmol/L = 18.016 mg/dL), creatinine 113.12 g/mol (1 mg/dL = 88.42 umol/L).
"""

from __future__ import annotations

import re
from functools import lru_cache

from cds_service.facts.model import LabKind as K

CANONICAL_UNITS: dict[K, str] = {
    K.SODIUM: "mmol/L",
    K.INR: "{INR}",
    K.PLATELETS: "10*9/L",
    K.FIBRINOGEN: "g/L",
    K.D_DIMER: "mg/L",
    K.CSF_WBC: "/uL",
    K.CSF_RBC: "/uL",
    K.CSF_PROTEIN: "mg/dL",
    K.CSF_GLUCOSE: "mg/dL",
    K.IL6: "pg/mL",
    K.WEIGHT: "kg",
    K.HEIGHT: "cm",
    K.CREATININE: "mg/dL",
    K.EGFR: "mL/min/{1.73_m2}",
}

GLUCOSE_MG_DL_PER_MMOL_L = 18.016  # molar mass of glucose 180.16 g/mol
CREATININE_UMOL_L_PER_MG_DL = 88.42  # molar mass of creatinine 113.12 g/mol
POUND_KG = 0.45359237  # UCUM [lb_av], exact by definition
INCH_CM = 2.54  # UCUM [in_i], exact by definition

_PER_UL = {
    "/ul": 1.0,
    "/mm3": 1.0,
    "/cumm": 1.0,
    "10*6/l": 1.0,
    "cells/ul": 1.0,
    "cells/mm3": 1.0,
    "/cmm": 1.0,
}

# Factor that turns a value in the listed unit into the canonical unit of the kind.
_FACTORS: dict[K, dict[str, float]] = {
    K.SODIUM: {"mmol/l": 1.0, "meq/l": 1.0},
    K.INR: {"": 1.0, "1": 1.0, "inr": 1.0, "ratio": 1.0},
    K.PLATELETS: {
        "10*9/l": 1.0,
        "10^9/l": 1.0,
        "x10*9/l": 1.0,
        "x10^9/l": 1.0,
        "x10e9/l": 1.0,
        "g/l": 1.0,
        "10*3/ul": 1.0,
        "10^3/ul": 1.0,
        "x10*3/ul": 1.0,
        "x10^3/ul": 1.0,
        "x10e3/ul": 1.0,
        "k/ul": 1.0,
        "thou/ul": 1.0,
        "10*3/mm3": 1.0,
        "10^3/mm3": 1.0,
        "/nl": 1.0,
        "/ul": 0.001,
        "/mm3": 0.001,
    },
    K.FIBRINOGEN: {"g/l": 1.0, "mg/dl": 0.01, "mg/l": 0.001},
    K.D_DIMER: {"mg/l": 1.0, "ug/ml": 1.0, "ng/ml": 0.001, "ug/l": 0.001},
    K.CSF_WBC: _PER_UL,
    K.CSF_RBC: _PER_UL,
    K.CSF_PROTEIN: {"mg/dl": 1.0, "g/l": 100.0, "mg/l": 0.1},
    K.CSF_GLUCOSE: {"mg/dl": 1.0, "mmol/l": GLUCOSE_MG_DL_PER_MMOL_L},
    K.IL6: {"pg/ml": 1.0, "ng/l": 1.0},
    K.WEIGHT: {"kg": 1.0, "g": 0.001, "[lb_av]": POUND_KG, "lb": POUND_KG, "lbs": POUND_KG},
    K.HEIGHT: {"cm": 1.0, "m": 100.0, "mm": 0.1, "[in_i]": INCH_CM, "in": INCH_CM},
    K.CREATININE: {
        "mg/dl": 1.0,
        "umol/l": 1.0 / CREATININE_UMOL_L_PER_MG_DL,
        "mmol/l": 1000.0 / CREATININE_UMOL_L_PER_MG_DL,
    },
    K.EGFR: {"ml/min/1.73m2": 1.0, "ml/min/1.73_m2": 1.0, "ml/min/1.73m^2": 1.0},
}

_ANNOTATION = re.compile(r"\{[^}]*\}")


@lru_cache(maxsize=1024)  # units are a small vocabulary repeated on every Observation
def unit_key(unit: str | None) -> str:
    """The comparison form of a unit: lower case, no spaces, no annotations, 'u' for micro."""
    if not unit:
        return ""
    text = unit.strip().replace("µ", "u").replace("μ", "u")
    text = text.replace("{1.73_m2}", "1.73m2")
    return _ANNOTATION.sub("", text).replace(" ", "").lower()


def to_canonical(kind: K, value: float, unit: str | None) -> float | None:
    """The value in the kind's canonical unit, or None when the unit is not one the kind accepts."""
    factor = _FACTORS.get(kind, {}).get(unit_key(unit))
    return None if factor is None else value * factor
