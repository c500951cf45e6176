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

from cds_service.contracts import CardGroup, Hook
from cds_service.dosing import DosingPatient, advise, compute, number, regimen_text
from cds_service.facts.model import ConditionCategory, LabKind, PatientFacts, Therapy
from cds_service.findings import Finding, ProposeOrder, Urgency
from cds_service.knowledge.citations import PLEXOPATHY_EVIDENCE, TOPIC_PLEXOPATHY
from cds_service.knowledge.regimens import REGIMENS_BY_ID, Agent, Population
from cds_service.rules import rule
from cds_service.rules.support.evidence import of_condition, of_lab, of_therapy
from cds_service.rules.support.scope import days_since, earliest_start, given, is_systemic_steroid

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
_IMAGING = "**First exclude a compressive or neoplastic lesion** (plexus MRI, repeat EMG)."


@rule(
    IVIG_ID,
    hooks=(Hook.PATIENT_VIEW,),
    seed="004",
    fires=("plex-fail", "plex-ckd-nowt"),
    silent=("plex-early", "plex-post-ivig", "plex-old-steroid", "none-pv"),
)
def is_ivig_the_next_step_after_failed_steroids(facts: PatientFacts) -> Iterator[Finding]:
    plexopathy = facts.active(ConditionCategory.PLEXOPATHY)
    if not plexopathy:  # the condition first: the rest is read only for a patient who has it
        return
    # "Failed steroids" means a course in this episode: started on or after the plexopathy's
    # onset (or its recording), never prednisone for asthma years before.
    starts = [when for c in plexopathy if (when := c.onset or c.recorded) is not None]
    onset = min(starts, default=None)
    steroids = tuple(
        t
        for t in given(facts, Therapy.CORTICOSTEROID)
        if is_systemic_steroid(t)
        and (onset is None or (t.started is not None and t.started >= onset))
    )
    if not steroids or given(facts, Therapy.IVIG):
        return
    days = days_since(facts, earliest_start(steroids))
    if days is None or days < STEROID_RESPONSE_REVIEW_DAYS:
        return
    patient = DosingPatient.of(facts)
    standard = advise(Agent.IVIG, patient)
    population = "child" if patient.population is Population.CHILD else "adult"
    high = compute(REGIMENS_BY_ID[f"ivig-2-day-{population}"], patient)
    dose = f"**{standard.text()}**; or {high.text()}"
    pulse = [
        t for t in steroids if t.ingredient == "methylprednisolone" and t.route == "intravenous"
    ]
    adequacy = (
        ""
        if pulse
        else " The recorded steroid course is not IV methylprednisolone: "
        f"check it was adequate (pulse: {advise(Agent.IV_METHYLPREDNISOLONE, patient).text()})."
    )
    risks = [c for cat in _IVIG_RISKS for c in facts.active(cat)]
    risk_text = ""
    if risks:
        names = ", ".join(dict.fromkeys(c.code.display or c.code.code for c in risks))
        risk_text = (
            f"\n\n**IVIG risks here:** {names}. Check renal function and IgA, hydrate, "
            "infuse slowly."
        )
    detail = (
        f"Plexopathy still active {number(days, 0)} days after steroids began.{adequacy}\n\n"
        f"{_IMAGING}\n\nIf no compressive cause: **IVIG** as second line, {dose}. Response "
        f"usually within 1-2 weeks; treat neuropathic pain alongside. Case reports only.{risk_text}"
    )
    suggestion = (
        ProposeOrder(Therapy.IVIG, standard, None, plexopathy[0].reference)
        if standard.computed
        else None
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
        group=CardGroup.PLEXOPATHY,
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
    if not plexopathy:
        return
    ivig = given(facts, Therapy.IVIG)
    if not ivig or given(facts, *_IMMUNOSUPPRESSANTS):
        return
    days = days_since(facts, earliest_start(ivig))
    if days is None or days < IVIG_RESPONSE_REVIEW_DAYS:
        return
    patient = DosingPatient.of(facts)
    azathioprine = advise(Agent.AZATHIOPRINE, patient)
    titration = azathioprine.regimen.titration if azathioprine.regimen else None
    start = (
        f"start {number(titration.start_low)}-{number(titration.start_high)} mg/day, "
        f"+{number(titration.step)} mg {titration.interval}, to "
        if titration
        else ""
    )
    cyclophosphamide_iv = (
        regimen_text(REGIMENS_BY_ID["cyclophosphamide-iv-range-adult"])
        if patient.population is Population.ADULT
        else advise(Agent.CYCLOPHOSPHAMIDE_IV, patient).compact()
    )
    detail = (
        f"Plexopathy still active {number(days, 0)} days after IVIG. {_IMAGING}\n\n"
        "If IVIG failed (no trial evidence):\n"
        f"- **azathioprine** {start}{azathioprine.compact()}\n"
        f"- **cyclophosphamide** {advise(Agent.CYCLOPHOSPHAMIDE_ORAL, patient).compact()} "
        f"orally, or IV {cyclophosphamide_iv}\n"
        f"- **mycophenolate mofetil** {advise(Agent.MYCOPHENOLATE_MOFETIL, patient).compact()}\n"
        f"- **ciclosporin** {advise(Agent.CICLOSPORIN, patient).compact()}\n\n"
        "Allow 3-6 months; monitor blood counts (azathioprine, cyclophosphamide) and renal "
        "function (ciclosporin). Treat neuropathic pain."
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
        group=CardGroup.PLEXOPATHY,
    )
