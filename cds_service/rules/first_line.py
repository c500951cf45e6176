"""First-line immunotherapy in autoimmune encephalitis once CSF has excluded infection.

Clinical source: seed 000 (autoimmune hemiplegia) and Abboud et al., JNNP 2021 (via secondary
summaries): high-dose IV methylprednisolone 1 g daily (or 1-2 mg/kg/day) for 3-5 days, confirmed by
Uy, Binks & Irani 2021; IVIG 0.4 g/kg/day x 5 days or plasma exchange 5-10 sessions every other
day instead when patient factors favour them (rules.ivig_or_plex); combination therapy from the
outset in severe presentations (hemiplegia, per seed 000; the paediatric NMDARE consensus 2021 adds
IVIG or PLEX in severe patients); never wait for antibody results (Graus 2016: results are not
available at onset). Primary CNS lymphoma or neurosarcoidosis in the record: steroids can obscure
the diagnosis (seed 000, "not considerations"), a warning on its own.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import ALL_HOOKS, Hook
from cds_service.dosing import (
    IVIG_COURSE_DAYS,
    METHYLPREDNISOLONE_HIGH_MG_PER_KG_PER_DAY,
    METHYLPREDNISOLONE_LOW_MG_PER_KG_PER_DAY,
    current_weight_kg,
    ivig_daily_dose,
    number,
)
from cds_service.facts.model import (
    ConditionCategory,
    CsfInfectionStatus,
    LabKind,
    PatientFacts,
    Qualitative,
)
from cds_service.findings import Evidence, Finding, ProposedChange, Urgency
from cds_service.knowledge.citations import (
    ABBOUD_2021_AE,
    OVERRIDE_CLINICAL_JUDGEMENT,
    OVERRIDE_DATA_OUT_OF_DATE,
    TOPIC_AE,
)
from cds_service.rules import rule
from cds_service.rules.support.evidence import of_condition, of_lab, of_therapy
from cds_service.rules.support.factors import (
    evidence_of,
    favouring_ivig,
    favouring_plex,
    reasons,
    stale_inputs,
    trade_off_text,
)
from cds_service.rules.support.scope import (
    first_line_given,
    is_systemic_steroid,
    orders_under_review,
)
from cds_service.suggestions import remove_order, replace_with_ivig, replace_with_plex

FIRST_LINE_ID = "ae-first-line-choice"
OBSCURE_ID = "ae-steroids-may-obscure-diagnosis"


def _ivmp_text(facts: PatientFacts) -> str:
    kg, problem = current_weight_kg(facts.lab(LabKind.WEIGHT))
    per_kg = (
        f" (or {METHYLPREDNISOLONE_LOW_MG_PER_KG_PER_DAY}-"
        f"{METHYLPREDNISOLONE_HIGH_MG_PER_KG_PER_DAY} mg/kg/day"
    )
    if kg is None:
        per_kg += f"; {problem}"
    else:
        low = kg * METHYLPREDNISOLONE_LOW_MG_PER_KG_PER_DAY
        high = kg * METHYLPREDNISOLONE_HIGH_MG_PER_KG_PER_DAY
        per_kg += f" = {number(low, 0)}-{number(high, 0)} mg/day at {number(kg)} kg"
    return f"IV methylprednisolone 1 g daily for 3-5 days{per_kg})"


def _antibodies_pending(facts: PatientFacts) -> tuple[Evidence, ...]:
    fact = facts.labs.get(LabKind.AUTOIMMUNE_ANTIBODY)
    pending = (
        fact is not None
        and fact.latest is not None
        and fact.latest.qualitative is Qualitative.PENDING
    )
    return of_lab(facts, LabKind.AUTOIMMUNE_ANTIBODY) if pending else ()


@rule(
    FIRST_LINE_ID,
    hooks=(Hook.PATIENT_VIEW,),
    seed="000",
    fires=("ae-hemi-clear", "ae-hsv-eie"),
    silent=("ae-no-csf", "ae-escalate", "ae-steroid-5d", "ae-refuted", "none-pv"),
)
def which_first_line_immunotherapy(facts: PatientFacts) -> Iterator[Finding]:
    ae = facts.active(ConditionCategory.AUTOIMMUNE_ENCEPHALITIS)
    if not ae or facts.csf_status is not CsfInfectionStatus.EXCLUDED:
        return
    if facts.has_active(ConditionCategory.CNS_INFECTION) or first_line_given(facts):
        return
    for_ivig, for_plex = favouring_ivig(facts), favouring_plex(facts)
    hemiplegia = facts.active(ConditionCategory.HEMIPLEGIA)
    daily = ivig_daily_dose(facts.lab(LabKind.WEIGHT))
    ivig = f"IVIG 0.4 g/kg/day for {IVIG_COURSE_DAYS} days " + (
        f"= {number(daily.amount)} g/day ({daily.basis})"
        if daily.amount is not None
        else f"({daily.problem})"
    )
    plex = "plasma exchange, 5-10 sessions every other day"
    condition = ae[0].reference
    suggestions: list[ProposedChange] = []
    lines = []
    if for_ivig and for_plex:
        summary = "AE, CSF clear: factors favour both IVIG and PLEX; weigh the trade-off"
        lines.append(trade_off_text(for_ivig, for_plex))
        lines.append(f"Regimens: {ivig}; {plex}.")
        change = replace_with_ivig(None, facts.patient_id, daily, IVIG_COURSE_DAYS, condition)
        suggestions += [
            c
            for c in (change, replace_with_plex(None, facts.patient_id, condition))
            if c is not None
        ]
    elif for_ivig:
        summary = "AE, CSF clear of infection: IVIG preferred as first line (see factors)"
        lines.append(f"**{ivig}** instead of steroids, because: {reasons(for_ivig)}.")
        change = replace_with_ivig(None, facts.patient_id, daily, IVIG_COURSE_DAYS, condition)
        suggestions += [change] if change else []
    elif for_plex:
        summary = "AE, CSF clear of infection: plasma exchange preferred as first line"
        lines.append(f"**Prefer {plex}**, because: {reasons(for_plex)}.")
        suggestions.append(replace_with_plex(None, facts.patient_id, condition))
    else:
        summary = "AE, CSF clear of infection: start IV methylprednisolone 1 g/day for 3-5 days"
        lines.append(f"**Start {_ivmp_text(facts)}**, the preferred first-line agent (seed 000).")
        lines.append(f"Alternatives if steroids are unsuitable: {ivig}; {plex}.")
    if hemiplegia:
        lines.append(
            "**Severe presentation (hemiplegia):** consider combination therapy from the "
            "outset, steroids plus IVIG or steroids plus plasma exchange, rather than "
            "sequential monotherapy (seed 000)."
        )
    antibodies = _antibodies_pending(facts)
    lines.append(
        "Do not delay treatment for autoantibody results"
        + (" (tests are pending)." if antibodies else ".")
    )
    stale = stale_inputs(facts)
    if stale:
        lines.append("Some values are out of date and were not used: repeat them before choosing.")
    evidence = (
        *(of_condition(c) for c in (*ae, *hemiplegia)),
        *evidence_of(for_ivig),
        *evidence_of(for_plex),
        *stale,
        *antibodies,
        *of_lab(facts, LabKind.WEIGHT),
    )
    yield Finding(
        FIRST_LINE_ID,
        Urgency.INFO,
        summary,
        "\n\n".join(lines),
        ABBOUD_2021_AE,
        tuple(evidence),
        suggestions=tuple(suggestions),
        topic=TOPIC_AE,
        group="ae-treatment",
    )


@rule(
    OBSCURE_ID,
    hooks=ALL_HOOKS,
    seed="000",
    fires=("ae-lymphoma",),
    silent=("ae-hemi-clear", "none-pv", "none-steroid"),
)
def could_steroids_obscure_lymphoma_or_sarcoidosis(facts: PatientFacts) -> Iterator[Finding]:
    ae = facts.active(ConditionCategory.AUTOIMMUNE_ENCEPHALITIS)
    mimics = (
        *facts.active(ConditionCategory.PRIMARY_CNS_LYMPHOMA),
        *facts.active(ConditionCategory.NEUROSARCOIDOSIS),
    )
    if not ae or not mimics:
        return
    steroids = tuple(o for o in orders_under_review(facts) if is_systemic_steroid(o))
    if facts.hook != "patient-view" and not steroids:
        return
    names = ", ".join(dict.fromkeys(c.code.display or c.code.code for c in mimics))
    summary = "CNS lymphoma or neurosarcoidosis in the record: confirm diagnosis before steroids"
    detail = (
        f"The record lists **{names}** alongside autoimmune encephalitis. Corticosteroids "
        "can shrink lymphoma and sarcoid lesions and make a later biopsy non-diagnostic; "
        "seed 000 asks that these are not considerations before immunotherapy. If they "
        "remain possible, discuss tissue diagnosis before steroids, or consider IVIG or "
        "plasma exchange as first line."
    )
    evidence = tuple(of_condition(c) for c in (*ae, *mimics)) + tuple(map(of_therapy, steroids))
    yield Finding(
        OBSCURE_ID,
        Urgency.WARNING,
        summary,
        detail,
        ABBOUD_2021_AE,
        evidence,
        suggestions=tuple(remove_order(o) for o in steroids),
        override_reasons=(OVERRIDE_CLINICAL_JUDGEMENT, OVERRIDE_DATA_OUT_OF_DATE)
        if steroids
        else (),
        topic=TOPIC_AE,
        group="ae-treatment" if facts.hook == "patient-view" else "order-choice",
    )
