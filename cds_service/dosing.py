"""Dose regimens from the seed documents as named constants, and the arithmetic that applies them.

Every constant carries its unit in its name and the source it was read from; the seeds are
AI-generated secondary summaries, so where a primary source confirms a regimen the comment says so
(shared/docs/guidelines.md). Weight-based doses are computed only from a current body weight: with
no weight, or a stale one, the calculation returns a plain statement that the dose cannot be
computed, never a guessed number. Body surface area uses the Mosteller formula, named wherever it
is shown: BSA (m2) = sqrt(height (cm) x weight (kg) / 3600) (Mosteller, N Engl J Med 1987).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cds_service.facts.model import Measurement

# IVIG. Seed 000 and 002: 0.4 g/kg/day for 5 days (total 2 g/kg); Uy, Binks & Irani, Pract Neurol
# 2021, Table 2: "2 g/kg intravenous divided over 3-5 days". Seed 004 also gives 1 g/kg/day for
# 1-2 days (no primary dosing source for plexopathy: AANEM "little evidence ... on dosing").
IVIG_G_PER_KG_PER_DAY = 0.4
IVIG_COURSE_DAYS = 5
IVIG_COURSE_TOTAL_G_PER_KG = 2.0
IVIG_HIGH_G_PER_KG_PER_DAY = 1.0  # seed 004: 1 g/kg/day for 1-2 days
IVIG_HIGH_COURSE_DAYS = 2

# IV methylprednisolone. Seed 000: 1 g daily (or 1-2 mg/kg/day) for 3-5 days; confirmed by
# Uy, Binks & Irani 2021, Table 2: "Methylprednisolone 1 g intravenous daily x3-5 days".
METHYLPREDNISOLONE_PULSE_MG_PER_DAY = 1000
METHYLPREDNISOLONE_PULSE_DAYS_MIN = 3
METHYLPREDNISOLONE_PULSE_DAYS_MAX = 5
METHYLPREDNISOLONE_LOW_MG_PER_KG_PER_DAY = 1
METHYLPREDNISOLONE_HIGH_MG_PER_KG_PER_DAY = 2
# ANE in children: pulse 30 mg/kg/day x 3 days within 24 h (single-centre series, terminology.md
# E3); 20 vs 30 mg/kg/day compared retrospectively (Li et al., n=23). Shown as reported only.
METHYLPREDNISOLONE_ANE_PAEDIATRIC_MG_PER_KG_PER_DAY = 30

# Rituximab. Seed 000: 375 mg/m2 weekly x 4, or 1000 mg on days 1 and 15; the weekly regimen is
# confirmed by the German table (Neurol Res Pract 2019, Table 4: "4 x 375 mg/m2 i.v., weekly").
RITUXIMAB_MG_PER_M2 = 375
RITUXIMAB_WEEKLY_DOSES = 4
RITUXIMAB_FIXED_MG = 1000  # days 1 and 15

# Cyclophosphamide. German table 2019: 750 mg/m2 IV monthly (AE). Seed 004: 0.3-1 g/m2 IV every
# 2-4 weeks, or 1-2 mg/kg/day orally (plexopathy).
CYCLOPHOSPHAMIDE_AE_MG_PER_M2_MONTHLY = 750

# Seed 004: azathioprine start 25-50 mg/day, +25 mg every 7-14 days to 1-2 mg/kg/day, maximum
# 150 mg/day. Mycophenolate mofetil 1000 mg twice daily. Cyclosporin A 5 mg/kg/day, then
# 2.5-3 mg/kg/day. All seed-only (no primary dosing source verified).
AZATHIOPRINE_START_MG_PER_DAY = (25, 50)
AZATHIOPRINE_TARGET_MG_PER_KG_PER_DAY = (1, 2)
AZATHIOPRINE_MAX_MG_PER_DAY = 150
MYCOPHENOLATE_MOFETIL_MG_PER_DOSE = 1000
MYCOPHENOLATE_MOFETIL_DOSES_PER_DAY = 2
MYCOPHENOLATE_MOFETIL_MG_PER_DAY = MYCOPHENOLATE_MOFETIL_MG_PER_DOSE * 2

# Plasma exchange. Seed 000/002: 5-10 sessions every other day; the suggestion orders 5 sessions.
PLEX_SESSIONS = 5
PLEX_INTERVAL_DAYS = 2

# Design choice, not a guideline: an ordered dose within 10% of a regimen counts as that regimen
# (vial rounding); outside it the card shows the difference and lets the clinician decide.
DOSE_TOLERANCE_FRACTION = 0.10


@dataclass(frozen=True)
class DoseCalculation:
    """A computed dose, or the plain reason it could not be computed (then `amount` is None)."""

    amount: float | None
    unit: str
    basis: str  # how it was computed, with the measurements used
    problem: str | None = None

    @property
    def computed(self) -> bool:
        return self.amount is not None


def number(value: float, digits: int = 1) -> str:
    """A dose for display: at most `digits` decimals, no trailing zeros."""
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def current_weight_kg(weight: Measurement | None) -> tuple[float | None, str | None]:
    """The weight to dose from, or why there is none (missing or stale: never a guess)."""
    if weight is None or weight.value is None:
        return None, "No body weight is recorded, so a weight-based dose cannot be computed."
    when = weight.effective.date().isoformat() if weight.effective else "an unknown date"
    if weight.stale:
        return None, (
            f"The latest body weight ({number(weight.value)} kg, {when}) is out of date; "
            "re-weigh before computing a weight-based dose."
        )
    return weight.value, None


def ivig_daily_dose(
    weight: Measurement | None, g_per_kg_per_day: float = IVIG_G_PER_KG_PER_DAY
) -> DoseCalculation:
    kg, problem = current_weight_kg(weight)
    if kg is None:
        return DoseCalculation(None, "g", f"{number(g_per_kg_per_day)} g/kg/day", problem)
    assert weight is not None
    grams = round(kg * g_per_kg_per_day, 1)
    basis = f"{number(g_per_kg_per_day)} g/kg/day x {number(kg)} kg ({weight.reference})"
    return DoseCalculation(grams, "g", basis)


def mosteller_bsa_m2(height_cm: float, weight_kg: float) -> float:
    """Body surface area by the Mosteller formula: sqrt(height cm x weight kg / 3600)."""
    return math.sqrt(height_cm * weight_kg / 3600.0)


def body_surface_area(
    height: Measurement | None, weight: Measurement | None
) -> tuple[float | None, str]:
    """BSA (Mosteller) from current height and weight, or the reason it cannot be computed."""
    kg, problem = current_weight_kg(weight)
    if kg is None:
        return None, problem or ""
    if height is None or height.value is None:
        return None, "No height is recorded, so body surface area (Mosteller) cannot be computed."
    assert weight is not None
    bsa = mosteller_bsa_m2(height.value, kg)
    return bsa, (
        f"BSA {number(bsa, 2)} m2 by Mosteller from height {number(height.value)} cm "
        f"({height.reference}) and weight {number(kg)} kg ({weight.reference})"
    )


def rituximab_weekly_dose(
    height: Measurement | None, weight: Measurement | None
) -> DoseCalculation:
    bsa, basis = body_surface_area(height, weight)
    if bsa is None:
        return DoseCalculation(None, "mg", f"{RITUXIMAB_MG_PER_M2} mg/m2", basis)
    return DoseCalculation(
        round(bsa * RITUXIMAB_MG_PER_M2), "mg", f"{RITUXIMAB_MG_PER_M2} mg/m2 x {basis}"
    )


def within_tolerance(ordered: float, expected: float) -> bool:
    return abs(ordered - expected) <= expected * DOSE_TOLERANCE_FRACTION
