"""Acute necrotizing encephalopathy (ANE): early high-dose steroids, then tocilizumab and PLEX.

Clinical source: seed 002 and Fischell et al., Front Neurol 2023 (meta-analysis of case reports,
158 patients; abstract verified): high-dose IV methylprednisolone within 24 h of neurological onset
is effective; IVIG added no benefit. Tocilizumab early in severe disease (Ju et al., J Neurol 2025,
systematic review of 77 cases; observational; no consensus dose), plasma exchange (case series),
escalation when there is no improvement within 48-72 h (seed 002 only), and raised IL-6 linked to
poor outcome (seed 002). Infection must be ruled out first (rules.csf_gate says so on its own card).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import ORDER_HOOKS, CardGroup, Hook
from cds_service.dosing import advise_for, number
from cds_service.facts.model import (
    ConditionCategory,
    CsfInfectionStatus,
    LabKind,
    PatientFacts,
    Therapy,
)
from cds_service.findings import Finding, ProposeOrder, Urgency
from cds_service.knowledge.citations import (
    ANE_TOCILIZUMAB,
    FISCHELL_2023_ANE,
    OVERRIDE_CLINICAL_JUDGEMENT,
    OVERRIDE_SPECIALIST_PLAN,
    TOPIC_ANE,
)
from cds_service.knowledge.regimens import PLEX_SESSIONS_RANGE, Agent
from cds_service.rules import rule
from cds_service.rules.support.evidence import of_condition, of_lab, of_therapy
from cds_service.rules.support.scope import (
    all_drafts,
    days_since,
    earliest_start,
    given,
    is_systemic_steroid,
    ordered,
)

EARLY_STEROID_ID = "ane-early-methylprednisolone"
ESCALATE_ID = "ane-escalate-if-no-improvement"
IVIG_ALONE_ID = "ane-ivig-without-steroids"

# Fischell 2023 abstract: "initiation within 24 h of neurologic symptom onset".
ANE_STEROID_WINDOW_HOURS = 24
# Seed 002: "If no clinical improvement is observed within 48-72 hours ... consider escalating".
ANE_REVIEW_HOURS = 48
# The upper bound (a design choice): escalation is an acute-phase decision; a week after steroids
# began the prompt no longer describes the patient and stays silent.
ANE_ESCALATION_UNTIL_DAYS = 7
# Seed 002 "severe cases (rapid neurological deterioration or coma)": coma read as a current
# Glasgow Coma Scale of 8 or less, the conventional threshold for coma.
GCS_COMA = 8.0
_SEVERE = (
    "**Severe disease** (rapid deterioration, coma): add tocilizumab early (observational "
    "evidence; no consensus dose) and plasma exchange "
    f"({PLEX_SESSIONS_RANGE}; case series). IVIG alone adds little (meta-analysis)."
)


def _il6_note(facts: PatientFacts) -> str:
    il6 = facts.lab(LabKind.IL6)
    if il6 is None or il6.value is None:
        return "IL-6 is not in the record; a raised blood IL-6 marks a poorer prognosis."
    return (
        f"IL-6 {number(il6.value, 1)} pg/mL: compare with the laboratory's reference range; a "
        "raised blood IL-6 is associated with poorer outcome and supports early "
        "tocilizumab."
    )


def _severity(facts: PatientFacts) -> str:
    """'Coma now (GCS 6):' when a current Glasgow Coma Scale reads 8 or less, else nothing."""
    gcs = facts.lab(LabKind.GCS)
    if gcs is None or gcs.value is None or gcs.stale or gcs.value > GCS_COMA:
        return ""
    return f"**Coma now (GCS {number(gcs.value, 0)}): this is severe disease.** "


def _steroid_dose(facts: PatientFacts) -> str:
    return advise_for(Agent.IV_METHYLPREDNISOLONE, facts).text()


@rule(
    EARLY_STEROID_ID,
    hooks=(Hook.PATIENT_VIEW,),
    seed="002",
    fires=("ane-early", "ane-early-40kg", "ane-noage", "ane-coma"),
    silent=("ane-72h", "none-pv"),
)
def has_high_dose_steroid_started_within_24_hours(facts: PatientFacts) -> Iterator[Finding]:
    ane = facts.active(ConditionCategory.ACUTE_NECROTIZING_ENCEPHALOPATHY)
    if not ane or [t for t in given(facts, Therapy.CORTICOSTEROID) if is_systemic_steroid(t)]:
        return
    if facts.csf_status is CsfInfectionStatus.INFECTION_FOUND:
        return  # the CSF gate card speaks instead
    onset = min((c.onset for c in ane if c.onset), default=None)
    hours = None if onset is None else (facts.now - onset).total_seconds() / 3600.0
    if hours is None:
        timing = "onset time is not recorded"
        summary = "ANE: start high-dose IV methylprednisolone now (onset time not recorded)"
    elif hours <= ANE_STEROID_WINDOW_HOURS:
        timing = f"onset {number(hours, 0)} h ago"
        summary = f"ANE, onset {number(hours, 0)} h ago: start high-dose IV methylprednisolone now"
    else:
        timing = f"onset {number(hours, 0)} h ago, past the 24 h window; still start promptly"
        summary = (
            f"ANE, onset {number(hours, 0)} h ago: start high-dose IV methylprednisolone "
            "without further delay"
        )
    gate = (
        ""
        if facts.csf_status is CsfInfectionStatus.EXCLUDED
        else (
            "\n\n**Infection not yet excluded:** send CSF (Gram stain, culture, HSV and pathogen "
            "PCR) without delaying steroids past 24 h; meanwhile cover with empirical IV "
            "aciclovir (IDSA 2008) and antibiotics if bacterial meningitis is possible."
        )
    )
    detail = (
        f"**High-dose IV methylprednisolone now, within 24 h of neurological onset** "
        f"({timing}): {_steroid_dose(facts)}.{gate}\n\n{_severity(facts)}{_SEVERE}\n\n"
        f"{_il6_note(facts)}"
    )
    evidence = (
        *(of_condition(c) for c in ane),
        *of_lab(facts, LabKind.GCS),
        *of_lab(facts, LabKind.IL6),
        *of_lab(facts, LabKind.WEIGHT),
    )
    yield Finding(
        EARLY_STEROID_ID,
        Urgency.WARNING,
        summary,
        detail,
        FISCHELL_2023_ANE,
        evidence,
        topic=TOPIC_ANE,
        group=CardGroup.ANE,
    )


@rule(
    ESCALATE_ID,
    hooks=(Hook.PATIENT_VIEW,),
    seed="002",
    fires=("ane-72h",),
    silent=("ane-early", "ane-late", "none-pv"),
)
def is_ane_improving_48_to_72_hours_after_steroids(facts: PatientFacts) -> Iterator[Finding]:
    ane = facts.active(ConditionCategory.ACUTE_NECROTIZING_ENCEPHALOPATHY)
    if not ane:  # the condition first: the rest is read only for a patient who has it
        return
    steroids = tuple(t for t in given(facts, Therapy.CORTICOSTEROID) if is_systemic_steroid(t))
    if not steroids or given(facts, Therapy.TOCILIZUMAB, Therapy.PLEX):
        return
    days = days_since(facts, earliest_start(steroids))
    if days is None or days * 24 < ANE_REVIEW_HOURS or days > ANE_ESCALATION_UNTIL_DAYS:
        return
    summary = (
        f"ANE, steroids started {number(days * 24, 0)} h ago: if not improving, add "
        "tocilizumab and plasma exchange"
    )
    detail = (
        "**No improvement 48-72 h after starting treatment → escalate.** "
        f"{_SEVERE}\n\n{_il6_note(facts)}"
    )
    evidence = (
        *(of_condition(c) for c in ane),
        *map(of_therapy, steroids),
        *of_lab(facts, LabKind.IL6),
    )
    yield Finding(
        ESCALATE_ID,
        Urgency.INFO,
        summary,
        detail,
        ANE_TOCILIZUMAB,
        evidence,
        topic=TOPIC_ANE,
        group=CardGroup.ANE,
    )


@rule(
    IVIG_ALONE_ID,
    hooks=ORDER_HOOKS,
    seed="002",
    fires=("ane-ivig",),
    silent=("none-steroid",),
)
def is_ivig_ordered_for_ane_without_steroids(facts: PatientFacts) -> Iterator[Finding]:
    ane = facts.active(ConditionCategory.ACUTE_NECROTIZING_ENCEPHALOPATHY)
    ivig = ordered(facts, Therapy.IVIG)
    if not ane or not ivig:
        return
    steroids = [
        t
        for t in (*given(facts, Therapy.CORTICOSTEROID), *all_drafts(facts, Therapy.CORTICOSTEROID))
        if is_systemic_steroid(t)
    ]
    if steroids:
        return
    detail = (
        "IVIG alone has weaker evidence in ANE: the 2023 meta-analysis found no difference "
        "in outcome with or without IVIG. The treatment with support is **high-dose IV "
        "methylprednisolone within 24 h of onset**, with tocilizumab and plasma exchange in "
        "severe disease. IVIG can be adjunctive; it should not replace steroids."
    )
    evidence = (*(of_condition(c) for c in ane), *map(of_therapy, ivig))
    yield Finding(
        IVIG_ALONE_ID,
        Urgency.WARNING,
        "ANE: IVIG alone has weak evidence; order high-dose IV methylprednisolone too",
        detail,
        FISCHELL_2023_ANE,
        evidence,
        override_reasons=(OVERRIDE_SPECIALIST_PLAN, OVERRIDE_CLINICAL_JUDGEMENT),
        topic=TOPIC_ANE,
        group=CardGroup.ANE,
    )


REFRACTORY_ID = "ane-add-plex-if-refractory"


@rule(
    REFRACTORY_ID,
    hooks=(Hook.PATIENT_VIEW,),
    seed="002",
    fires=("ane-refractory",),
    silent=("ane-refractory-plex", "ane-72h", "none-pv"),
)
def is_plasma_exchange_the_next_step_in_refractory_ane(facts: PatientFacts) -> Iterator[Finding]:
    """Seed 002: not responding to IV methylprednisolone, tocilizumab and IVIG: add PLEX."""
    ane = facts.active(ConditionCategory.ACUTE_NECROTIZING_ENCEPHALOPATHY)
    if not ane:  # the condition first: the rest is read only for a patient who has it
        return
    steroids = tuple(t for t in given(facts, Therapy.CORTICOSTEROID) if is_systemic_steroid(t))
    tocilizumab, ivig = given(facts, Therapy.TOCILIZUMAB), given(facts, Therapy.IVIG)
    if not steroids or not tocilizumab or not ivig or given(facts, Therapy.PLEX):
        return
    days = days_since(facts, earliest_start(steroids))
    if days is None or days * 24 < ANE_REVIEW_HOURS or days > ANE_ESCALATION_UNTIL_DAYS:
        return
    detail = (
        f"Steroids began {number(days * 24, 0)} h ago and tocilizumab and IVIG are recorded. If "
        f"not improving, **add plasma exchange** ({PLEX_SESSIONS_RANGE}; case-series evidence). "
        "Where inflammatory markers stay raised, a further tocilizumab dose may be considered "
        f"(observational evidence; specialist protocol).\n\n{_il6_note(facts)}"
    )
    evidence = (
        *(of_condition(c) for c in ane),
        *map(of_therapy, (*steroids, *tocilizumab, *ivig)),
        *of_lab(facts, LabKind.IL6),
    )
    yield Finding(
        REFRACTORY_ID,
        Urgency.INFO,
        "ANE not improving on steroids, tocilizumab and IVIG: consider adding plasma exchange",
        detail,
        ANE_TOCILIZUMAB,
        evidence,
        suggestions=(ProposeOrder(Therapy.PLEX, condition_reference=ane[0].reference),),
        topic=TOPIC_ANE,
        group=CardGroup.ANE,
    )
