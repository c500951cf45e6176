"""Dose checks of immunotherapy orders against the seeds' regimens, computed from the record.

Clinical source: seed 000 (IV methylprednisolone 1 g/day; IVIG 0.4 g/kg/day x 5; rituximab 375
mg/m2 weekly or 1000 mg), seed 004 (IVIG up to 1 g/kg/day; azathioprine maximum 150 mg/day;
mycophenolate mofetil 1000 mg twice daily); regimens and their primary support are in
cds_service.dosing. IVIG is checked per kg of the latest current weight, rituximab per m2 of body
surface area by the Mosteller formula. A dose the service cannot check (no weight, stale weight,
no height, no daily total derivable from the order's timing) is said plainly, never guessed.
Above a regimen's upper dose: warning; below it, or not checkable: info.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import ORDER_HOOKS
from cds_service.dosing import (
    AZATHIOPRINE_MAX_MG_PER_DAY,
    DOSE_TOLERANCE_FRACTION,
    IVIG_G_PER_KG_PER_DAY,
    IVIG_HIGH_G_PER_KG_PER_DAY,
    METHYLPREDNISOLONE_PULSE_MG_PER_DAY,
    MYCOPHENOLATE_MOFETIL_MG_PER_DAY,
    RITUXIMAB_FIXED_MG,
    RITUXIMAB_MG_PER_M2,
    body_surface_area,
    current_weight_kg,
    number,
    within_tolerance,
)
from cds_service.facts.model import LabKind, PatientFacts, Therapy, TherapyFact
from cds_service.findings import Citation, Finding, Urgency
from cds_service.knowledge.citations import (
    ABBOUD_2021_AE,
    AE_SECOND_LINE,
    OVERRIDE_DATA_OUT_OF_DATE,
    OVERRIDE_DOSE_INTENDED,
    OVERRIDE_SPECIALIST_PLAN,
    PLEXOPATHY_EVIDENCE,
    TOPIC_ORDER_SAFETY,
)
from cds_service.rules import rule
from cds_service.rules.support.evidence import of_lab, of_therapy
from cds_service.rules.support.scope import (
    orders_under_review,
)

RULE_ID = "immunotherapy-dose-check"
_MASS_TO_MG = {"mg": 1.0, "g": 1000.0}
_MASS_TO_G = {"g": 1.0, "mg": 0.001}
Verdict = tuple[Urgency, str, str, Citation]


def _upper(limit: float) -> float:
    return limit * (1 + DOSE_TOLERANCE_FRACTION)


def _ivig(order: TherapyFact, facts: PatientFacts) -> Verdict | None:
    dose = order.dose
    if dose is None:
        return None
    if dose.per_day is None:
        return (
            Urgency.INFO,
            "IVIG order: daily dose not derivable from the order; check it",
            "The order's timing does not give a daily total, so the dose was not checked "
            "against 0.4-1 g/kg/day.",
            ABBOUD_2021_AE,
        )
    if dose.unit in ("g/kg", "mg/kg"):
        per_kg = dose.per_day * (0.001 if dose.unit == "mg/kg" else 1.0)
    elif dose.unit in _MASS_TO_G:
        kg, problem = current_weight_kg(facts.lab(LabKind.WEIGHT))
        if kg is None:
            return (
                Urgency.INFO,
                "IVIG dose cannot be checked: no current body weight",
                f"{problem} The regimens are 0.4 g/kg/day for 5 days or 1 g/kg/day for 1-2 "
                "days; weigh the patient.",
                ABBOUD_2021_AE,
            )
        per_kg = dose.per_day * _MASS_TO_G[dose.unit] / kg
    else:
        return None
    shown = f"{number(per_kg, 2)} g/kg/day"
    if per_kg > _upper(IVIG_HIGH_G_PER_KG_PER_DAY):
        return (
            Urgency.WARNING,
            f"IVIG dose {shown} is above the 1 g/kg/day maximum regimen",
            f"Ordered {shown}; the seed regimens are 0.4 g/kg/day x 5 days (2 g/kg total) "
            "or 1 g/kg/day x 1-2 days.",
            ABBOUD_2021_AE,
        )
    if per_kg < IVIG_G_PER_KG_PER_DAY * (1 - DOSE_TOLERANCE_FRACTION):
        return (
            Urgency.INFO,
            f"IVIG dose {shown} is below the 0.4 g/kg/day regimen",
            f"Ordered {shown}; the standard course is 0.4 g/kg/day for 5 days.",
            ABBOUD_2021_AE,
        )
    return None


def _mg_per_day(order: TherapyFact, facts: PatientFacts) -> float | None:
    dose = order.dose
    if dose is None or dose.per_day is None:
        return None
    if dose.unit in _MASS_TO_MG:
        return dose.per_day * _MASS_TO_MG[dose.unit]
    if dose.unit == "mg/kg":
        kg, _ = current_weight_kg(facts.lab(LabKind.WEIGHT))
        return None if kg is None else dose.per_day * kg
    return None


def _over(
    order: TherapyFact,
    facts: PatientFacts,
    limit: float,
    name: str,
    regimen: str,
    citation: Citation,
) -> Verdict | None:
    mg = _mg_per_day(order, facts)
    if mg is None or mg <= _upper(limit):
        return None
    return (
        Urgency.WARNING,
        f"{name} {number(mg, 0)} mg/day is above the {regimen}",
        f"Ordered {number(mg, 0)} mg/day; the seed regimen is {regimen}.",
        citation,
    )


def _rituximab(order: TherapyFact, facts: PatientFacts) -> Verdict | None:
    dose = order.dose
    if dose is None:
        return None
    if dose.unit == "mg/m2":
        if within_tolerance(dose.quantity, RITUXIMAB_MG_PER_M2):
            return None
        return (
            Urgency.WARNING,
            f"Rituximab {number(dose.quantity, 0)} mg/m2 differs from the 375 mg/m2 regimen",
            "Seed 000: 375 mg/m2 weekly x 4, or 1000 mg on days 1 and 15.",
            AE_SECOND_LINE,
        )
    if dose.unit not in _MASS_TO_MG:
        return None
    mg = dose.quantity * _MASS_TO_MG[dose.unit]
    if within_tolerance(mg, RITUXIMAB_FIXED_MG):
        return None
    bsa, basis = body_surface_area(facts.lab(LabKind.HEIGHT), facts.lab(LabKind.WEIGHT))
    if bsa is None:
        return (
            Urgency.INFO,
            f"Rituximab {number(mg, 0)} mg: per-m2 dose cannot be checked (no height or weight)",
            f"{basis} The order is not the fixed 1000 mg dose.",
            AE_SECOND_LINE,
        )
    expected = bsa * RITUXIMAB_MG_PER_M2
    if within_tolerance(mg, expected):
        return None
    urgency = Urgency.WARNING if mg > _upper(max(expected, RITUXIMAB_FIXED_MG)) else Urgency.INFO
    return (
        urgency,
        f"Rituximab {number(mg, 0)} mg differs from 375 mg/m2 "
        f"({number(expected, 0)} mg) and from 1000 mg",
        f"{RITUXIMAB_MG_PER_M2} mg/m2 x {basis} = {number(expected, 0)} mg.",
        AE_SECOND_LINE,
    )


def _verdict(order: TherapyFact, facts: PatientFacts) -> Verdict | None:
    if order.therapy is Therapy.IVIG:
        return _ivig(order, facts)
    if order.therapy is Therapy.CORTICOSTEROID and order.ingredient == "methylprednisolone":
        return _over(
            order,
            facts,
            METHYLPREDNISOLONE_PULSE_MG_PER_DAY,
            "Methylprednisolone",
            "1 g/day pulse maximum",
            ABBOUD_2021_AE,
        )
    if order.therapy is Therapy.AZATHIOPRINE:
        return _over(
            order,
            facts,
            AZATHIOPRINE_MAX_MG_PER_DAY,
            "Azathioprine",
            "150 mg/day maximum",
            PLEXOPATHY_EVIDENCE,
        )
    if order.therapy is Therapy.MYCOPHENOLATE and order.ingredient != "mycophenolic acid":
        return _over(
            order,
            facts,
            MYCOPHENOLATE_MOFETIL_MG_PER_DAY,
            "Mycophenolate mofetil",
            "1000 mg twice daily regimen",
            PLEXOPATHY_EVIDENCE,
        )
    if order.therapy is Therapy.RITUXIMAB:
        return _rituximab(order, facts)
    return None


@rule(
    RULE_ID,
    hooks=ORDER_HOOKS,
    seed="000",
    fires=("aza-200",),
    silent=("gbs-ivig", "none-steroid"),
)
def is_the_ordered_dose_within_the_regimen(facts: PatientFacts) -> Iterator[Finding]:
    for order in orders_under_review(facts):
        verdict = _verdict(order, facts)
        if verdict is None:
            continue
        urgency, summary, detail, citation = verdict
        evidence = (
            of_therapy(order),
            *of_lab(facts, LabKind.WEIGHT),
            *(of_lab(facts, LabKind.HEIGHT) if order.therapy is Therapy.RITUXIMAB else ()),
        )
        yield Finding(
            RULE_ID,
            urgency,
            summary,
            detail,
            citation,
            evidence,
            override_reasons=(
                OVERRIDE_DOSE_INTENDED,
                OVERRIDE_SPECIALIST_PLAN,
                OVERRIDE_DATA_OUT_OF_DATE,
            )
            if urgency is not Urgency.INFO
            else (),
            topic=TOPIC_ORDER_SAFETY,
            group="order-safety",
        )
