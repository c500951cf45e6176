"""Idiopathic (immune) plexopathy not responding to pulse steroids: IVIG, then immunosuppressants.

Clinical source: seed 004. After a documented steroid course with no response at 3-4 weeks, IVIG
0.4 g/kg/day x 5 days or 1 g/kg/day x 1-2 days; then azathioprine (titrated, max 150 mg/day),
cyclophosphamide, mycophenolate mofetil 1000 mg twice daily or cyclosporin, each needing 3-6 months;
rule out compressive or neoplastic lesions (imaging) first. The evidence is thin and the cards say
so: no randomised trial (Cochrane ILSP 2013), case reports for IVIG, and an AANEM consensus that
finds the evidence for IVIG in idiopathic brachial plexopathy insufficient. These cards are
therefore information, raised to warning only when the record shows an IVIG risk (renal failure,
thromboembolic risk or IgA deficiency; seed 004 and Keh et al. 2020).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import Hook
from cds_service.dosing import (
    AZATHIOPRINE_MAX_MG_PER_DAY,
    IVIG_COURSE_DAYS,
    IVIG_HIGH_G_PER_KG_PER_DAY,
    MYCOPHENOLATE_MOFETIL_MG_PER_DOSE,
    ivig_daily_dose,
    number,
)
from cds_service.facts.model import ConditionCategory, LabKind, PatientFacts, Therapy
from cds_service.findings import Finding, Urgency
from cds_service.knowledge.citations import PLEXOPATHY_EVIDENCE, TOPIC_PLEXOPATHY
from cds_service.rules import rule
from cds_service.rules.support.evidence import of_condition, of_lab, of_therapy
from cds_service.rules.support.scope import days_since, earliest_start, given, is_systemic_steroid
from cds_service.suggestions import replace_with_ivig

IVIG_ID = "plexopathy-ivig-after-steroid-failure"
IMMUNOSUPPRESSANT_ID = "plexopathy-immunosuppressant-after-ivig"

# Seed 004: "Document objective neurological deterioration or lack of improvement after 3-4 weeks".
STEROID_RESPONSE_REVIEW_DAYS = 21
# Seed 004: after IVIG, "Monitor for response within 1-2 weeks".
IVIG_RESPONSE_REVIEW_DAYS = 14
_IVIG_RISKS = (
    ConditionCategory.RENAL_FAILURE,
    ConditionCategory.THROMBOEMBOLIC_RISK,
    ConditionCategory.IGA_DEFICIENCY,
)
_IMMUNOSUPPRESSANTS = (
    Therapy.AZATHIOPRINE,
    Therapy.MYCOPHENOLATE,
    Therapy.CYCLOPHOSPHAMIDE,
    Therapy.CYCLOSPORINE,
)
_IMAGING = (
    "**First rule out a compressive or neoplastic lesion** (MRI of the plexus) and repeat "
    "electrodiagnostic studies before escalating immunotherapy."
)


@rule(
    IVIG_ID,
    hooks=(Hook.PATIENT_VIEW,),
    seed="004",
    fires=("plex-fail", "plex-ckd-nowt"),
    silent=("plex-early", "plex-post-ivig", "none-pv"),
)
def is_ivig_the_next_step_after_failed_steroids(facts: PatientFacts) -> Iterator[Finding]:
    plexopathy = facts.active(ConditionCategory.PLEXOPATHY)
    steroids = tuple(t for t in given(facts, Therapy.CORTICOSTEROID) if is_systemic_steroid(t))
    if not plexopathy or not steroids or given(facts, Therapy.IVIG):
        return
    days = days_since(facts, earliest_start(steroids))
    if days is None or days < STEROID_RESPONSE_REVIEW_DAYS:
        return
    weight = facts.lab(LabKind.WEIGHT)
    standard, high = ivig_daily_dose(weight), ivig_daily_dose(weight, IVIG_HIGH_G_PER_KG_PER_DAY)
    if standard.computed:
        dose = (
            f"0.4 g/kg/day x 5 days = **{number(standard.amount or 0)} g/day** or 1 g/kg/day "
            f"x 1-2 days = **{number(high.amount or 0)} g/day** ({standard.basis})"
        )
    else:
        dose = f"0.4 g/kg/day x 5 days or 1 g/kg/day x 1-2 days ({standard.problem})"
    pulse = [
        t for t in steroids if t.ingredient == "methylprednisolone" and t.route == "intravenous"
    ]
    adequacy = (
        ""
        if pulse
        else " The recorded steroid course is not IV methylprednisolone: "
        "check it was adequate (seed 004: 1 g daily for 3-5 days)."
    )
    risks = [c for cat in _IVIG_RISKS for c in facts.active(cat)]
    risk_text = ""
    if risks:
        names = ", ".join(dict.fromkeys(c.code.display or c.code.code for c in risks))
        risk_text = (
            f"\n\n**IVIG risks in this patient:** {names}. IVIG can cause renal failure, "
            "thrombosis and headache: check renal function and IgA level, hydrate, and "
            "use a slow infusion rate."
        )
    detail = (
        f"Plexopathy still active {number(days, 0)} days after steroids began.{adequacy}\n\n"
        f"{_IMAGING}\n\nIf no compressive cause: **IVIG** as second line, {dose}. Response "
        f"usually within 1-2 weeks. Evidence is case reports only.{risk_text}"
    )
    suggestion = replace_with_ivig(
        None, facts.patient_id, standard, IVIG_COURSE_DAYS, plexopathy[0].reference
    )
    evidence = (
        *(of_condition(c) for c in (*plexopathy, *risks)),
        *map(of_therapy, steroids),
        *of_lab(facts, LabKind.WEIGHT),
    )
    yield Finding(
        IVIG_ID,
        Urgency.WARNING if risks else Urgency.INFO,
        "Plexopathy not better after steroids: exclude a structural cause, then consider IVIG",
        detail,
        PLEXOPATHY_EVIDENCE,
        evidence,
        suggestions=(suggestion,) if suggestion else (),
        topic=TOPIC_PLEXOPATHY,
        group="plexopathy",
    )


@rule(
    IMMUNOSUPPRESSANT_ID,
    hooks=(Hook.PATIENT_VIEW,),
    seed="004",
    fires=("plex-post-ivig",),
    silent=("none-pv",),
)
def is_an_immunosuppressant_the_next_step_after_ivig(facts: PatientFacts) -> Iterator[Finding]:
    plexopathy = facts.active(ConditionCategory.PLEXOPATHY)
    ivig = given(facts, Therapy.IVIG)
    if not plexopathy or not ivig or given(facts, *_IMMUNOSUPPRESSANTS):
        return
    days = days_since(facts, earliest_start(ivig))
    if days is None or days < IVIG_RESPONSE_REVIEW_DAYS:
        return
    detail = (
        f"Plexopathy still active {number(days, 0)} days after IVIG.\n\n{_IMAGING}\n\n"
        "Options if IVIG was ineffective (seed 004; no trial evidence): "
        f"**azathioprine** 25-50 mg/day, up by 25 mg every 7-14 days to 1-2 mg/kg/day, "
        f"maximum {AZATHIOPRINE_MAX_MG_PER_DAY} mg/day; **cyclophosphamide** 1-2 mg/kg/day "
        "orally or 0.3-1 g/m2 IV every 2-4 weeks (presumed microvasculitis); "
        f"**mycophenolate mofetil** {MYCOPHENOLATE_MOFETIL_MG_PER_DOSE} mg twice daily; "
        "**cyclosporin** 5 mg/kg/day, then 2.5-3 mg/kg/day. Allow 3-6 months for effect; "
        "monitor blood counts (azathioprine, cyclophosphamide) and renal function "
        "(cyclosporin). Treat neuropathic pain alongside."
    )
    evidence = (*(of_condition(c) for c in plexopathy), *map(of_therapy, ivig))
    yield Finding(
        IMMUNOSUPPRESSANT_ID,
        Urgency.INFO,
        "Plexopathy not better after IVIG: consider azathioprine, mycophenolate or "
        "cyclophosphamide",
        detail,
        PLEXOPATHY_EVIDENCE,
        evidence,
        topic=TOPIC_PLEXOPATHY,
        group="plexopathy",
    )
