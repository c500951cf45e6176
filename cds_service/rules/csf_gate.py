"""Immunotherapy is gated on CSF excluding infection, in autoimmune encephalitis and in ANE.

Clinical source: seed 000 ("CSF analysis excludes infection - this is the key gating factor for
treatment initiation"; Abboud et al., JNNP 2021, via secondary summaries: start "as soon as
cerebrospinal fluid results rule out infection") and seed 002 ("Rule out infectious causes before
starting immunosuppressive therapy"). Infection found in CSF (positive culture, Gram stain or
pathogen PCR/panel) or an active CNS infection diagnosis, with immunotherapy ordered or running, is
the one situation here that may harm now: critical. Infection found with no immunotherapy yet, CSF
pending, or no CSF studies in the record: warning (on patient-view only before any immunotherapy
has been given; once treatment is under way that request is no longer useful). CSF excluded:
silent (first_line takes over).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import ALL_HOOKS, CardGroup, Hook
from cds_service.facts.model import ConditionCategory, CsfInfectionStatus, PatientFacts, Therapy
from cds_service.findings import Evidence, Finding, ProposeRemoval, Urgency
from cds_service.knowledge.citations import (
    ABBOUD_2021_AE,
    FISCHELL_2023_ANE,
    OVERRIDE_CLINICAL_JUDGEMENT,
    OVERRIDE_DATA_OUT_OF_DATE,
    OVERRIDE_INFECTION_TREATED,
    OVERRIDE_SPECIALIST_PLAN,
    TOPIC_AE,
    TOPIC_ANE,
)
from cds_service.rules import rule
from cds_service.rules.support.evidence import (
    CSF_KINDS,
    not_retrieved,
    of_condition,
    of_lab,
    of_measurement,
    of_therapy,
)
from cds_service.rules.support.scope import (
    RUNNING_STATUSES,
    given,
    is_immunotherapy,
    orders_under_review,
)

RULE_ID = "ae-csf-infection-gate"


@rule(
    RULE_ID,
    hooks=ALL_HOOKS,
    seed="000",
    fires=("ae-no-csf", "ae-hsv-pos"),
    silent=(
        "ae-hemi-clear",
        "ae-hsv-eie",
        "ae-combo",
        "ae-escalate",
        "ae-refuted",
        "ane-early",
        "none-pv",
        "none-steroid",
    ),
)
def is_infection_excluded_before_immunotherapy(facts: PatientFacts) -> Iterator[Finding]:
    ae = facts.active(ConditionCategory.AUTOIMMUNE_ENCEPHALITIS)
    ane = facts.active(ConditionCategory.ACUTE_NECROTIZING_ENCEPHALOPATHY)
    if not (ae or ane):
        return
    orders = tuple(o for o in orders_under_review(facts) if is_immunotherapy(o))
    if facts.hook != Hook.PATIENT_VIEW and not orders:
        return
    running = tuple(
        t
        for t in facts.therapy_history
        if is_immunotherapy(t) and not t.completed and (t.status or "") in RUNNING_STATUSES
    )
    infections = facts.active(ConditionCategory.CNS_INFECTION)
    status = facts.csf_status
    if status is CsfInfectionStatus.EXCLUDED and not infections:
        return

    evidence: list[Evidence] = [of_condition(c) for c in (*ae, *ane, *infections)]
    if facts.csf_evidence:
        evidence += [of_measurement(m) for m in facts.csf_evidence]
    else:
        for kind in CSF_KINDS:
            evidence += of_lab(facts, kind)
    evidence += not_retrieved(facts, "observations", "CSF results")
    evidence += [of_therapy(t) for t in (*orders, *running)]
    citation = ABBOUD_2021_AE if ae else FISCHELL_2023_ANE
    topic = TOPIC_AE if ae else TOPIC_ANE
    exposed = bool(orders or running)

    if status is CsfInfectionStatus.INFECTION_FOUND or infections:
        what = (
            "CSF shows infection"
            if status is CsfInfectionStatus.INFECTION_FOUND
            else "Active CNS infection recorded"
        )
        if exposed:
            summary = f"{what}: hold immunotherapy and treat the infection first"
            urgency = Urgency.CRITICAL
        else:
            summary = f"{what}: treat it; do not start immunotherapy until infection is excluded"
            urgency = Urgency.WARNING
        detail = (
            f"**{what}.** Immunotherapy for autoimmune or necrotizing encephalopathy is started "
            "only once infection is excluded: CSF is the key gating factor. Treat the infection, "
            "repeat CSF "
            "as indicated, and reconsider immunotherapy with neurology and infectious diseases."
        )
        yield Finding(
            RULE_ID,
            urgency,
            summary,
            detail,
            citation,
            tuple(evidence),
            suggestions=tuple(ProposeRemoval(o) for o in orders),
            override_reasons=(
                OVERRIDE_INFECTION_TREATED,
                OVERRIDE_SPECIALIST_PLAN,
                OVERRIDE_DATA_OUT_OF_DATE,
            ),
            topic=topic,
            group=CardGroup.CSF_GATE,
        )
        return

    if facts.hook == Hook.PATIENT_VIEW and given(facts, *Therapy):
        return  # treatment is under way: asking for CSF "before starting" is no longer useful
    if "observations" in facts.unknown:
        summary = "CSF results could not be retrieved: confirm infection is excluded first"
        detail = (
            "**CSF results could not be retrieved** from the record for this request, so "
            "the service cannot tell whether infection has been excluded. Check the CSF "
            "Gram stain, culture and HSV/pathogen PCR before immunotherapy."
        )
    elif status is CsfInfectionStatus.PENDING:
        summary = "CSF infection studies pending: confirm no infection before immunotherapy"
        detail = (
            "**CSF infection studies are not final.** Start immunotherapy once Gram stain, "
            "culture and HSV/pathogen PCR exclude infection. Autoantibody "
            "results are a different matter: do not wait for them."
        )
    elif facts.csf_evidence and facts.csf_missing:
        missing = " and ".join(facts.csf_missing)
        summary = f"CSF infection studies incomplete ({missing} missing): complete before treating"
        detail = (
            f"**CSF infection studies are incomplete:** the record has the results listed "
            f"below but no {missing}. Infection is excluded only when a negative bacterial "
            "study (Gram stain or culture) and a negative HSV PCR are both on record; complete "
            "them before immunotherapy."
        )
    else:
        summary = "No CSF infection studies found: send CSF before starting immunotherapy"
        detail = (
            "**No CSF infection studies are in the record.** Lumbar puncture with cell "
            "count, protein, glucose, Gram stain, culture and HSV/pathogen PCR should "
            "exclude infection before immunotherapy."
        )
    yield Finding(
        RULE_ID,
        Urgency.WARNING,
        summary,
        detail,
        citation,
        tuple(evidence),
        override_reasons=(OVERRIDE_DATA_OUT_OF_DATE, OVERRIDE_CLINICAL_JUDGEMENT)
        if exposed
        else (),
        topic=topic,
        group=CardGroup.CSF_GATE,
    )
