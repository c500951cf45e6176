"""First-line immunotherapy in autoimmune encephalitis once CSF has excluded infection.

Clinical source: seed 000 (autoimmune hemiplegia) and Abboud et al., JNNP 2021 (via secondary
summaries): high-dose IV methylprednisolone pulse as first line (regimen and paediatric dose in
cds_service.knowledge.regimens, confirmed by Uy, Binks & Irani 2021); IVIG or plasma exchange
instead when patient factors favour them (rules.support.factors); combination therapy from the
outset in severe presentations (hemiplegia, per seed 000; the paediatric NMDARE consensus 2021 adds
IVIG or PLEX in severe patients); never wait for antibody results (Graus 2016: results are not
available at onset). Primary CNS lymphoma or neurosarcoidosis in the record: steroids can obscure
the diagnosis (seed 000, "not considerations"), a warning on its own.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import ALL_HOOKS, CardGroup, Hook
from cds_service.dosing import advise_for
from cds_service.facts.model import (
    ConditionCategory,
    CsfInfectionStatus,
    LabKind,
    PatientFacts,
    Qualitative,
    Therapy,
)
from cds_service.findings import Evidence, Finding, Proposal, ProposeOrder, ProposeRemoval, Urgency
from cds_service.knowledge.citations import (
    ABBOUD_2021_AE,
    OVERRIDE_CLINICAL_JUDGEMENT,
    OVERRIDE_DATA_OUT_OF_DATE,
    TOPIC_AE,
)
from cds_service.knowledge.regimens import PLEX_SESSIONS_RANGE, Agent
from cds_service.rules import rule
from cds_service.rules.support.evidence import of_condition, of_lab, of_therapy
from cds_service.rules.support.factors import (
    Factor,
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

FIRST_LINE_ID = "ae-first-line-choice"
OBSCURE_ID = "ae-steroids-may-obscure-diagnosis"


def _ivmp_text(facts: PatientFacts) -> str:
    advice = advise_for(Agent.IV_METHYLPREDNISOLONE, facts)
    return f"IV methylprednisolone {advice.text()}"


def _steroid_cautions(facts: PatientFacts) -> list[Factor]:
    """Diagnoses that make corticosteroids the wrong first line: IVIG is steered to instead.

    Guillain-Barre syndrome (corticosteroids are not recommended, AAN 2003; IVIG treats both)
    and CNS lymphoma or neurosarcoidosis (steroids can make a biopsy non-diagnostic; the
    ae-steroids-may-obscure-diagnosis card explains). Resolves the conflict where this card
    advised steroids that another card then stops.
    """
    cautions = []
    gbs = facts.active(ConditionCategory.GUILLAIN_BARRE)
    if gbs:
        cautions.append(
            Factor(
                "Guillain-Barre syndrome is also active: steroids are not recommended in GBS "
                "and IVIG treats both",
                tuple(of_condition(c) for c in gbs),
            )
        )
    mimics = (
        *facts.active(ConditionCategory.PRIMARY_CNS_LYMPHOMA),
        *facts.active(ConditionCategory.NEUROSARCOIDOSIS),
    )
    if mimics:
        cautions.append(
            Factor(
                "CNS lymphoma or neurosarcoidosis is in the record: steroids could obscure it",
                tuple(of_condition(c) for c in mimics),
            )
        )
    return cautions


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
    fires=("ae-hemi-clear", "ae-hsv-eie", "ae-hemi-child", "ae-gbs"),
    silent=("ae-no-csf", "ae-escalate", "ae-steroid-5d", "ae-refuted", "none-pv"),
)
def which_first_line_immunotherapy(facts: PatientFacts) -> Iterator[Finding]:
    ae = facts.active(ConditionCategory.AUTOIMMUNE_ENCEPHALITIS)
    if not ae or facts.csf_status is not CsfInfectionStatus.EXCLUDED:
        return
    if facts.has_active(ConditionCategory.CNS_INFECTION) or first_line_given(facts):
        return
    against_steroids = _steroid_cautions(facts)
    for_ivig, for_plex = favouring_ivig(facts) + against_steroids, favouring_plex(facts)
    hemiplegia = facts.active(ConditionCategory.HEMIPLEGIA)
    daily = advise_for(Agent.IVIG, facts)
    ivig = f"IVIG {daily.text()}"
    plex = f"plasma exchange, {PLEX_SESSIONS_RANGE}"
    condition = ae[0].reference
    give_ivig = ProposeOrder(Therapy.IVIG, daily, condition_reference=condition)
    give_plex = ProposeOrder(Therapy.PLEX, condition_reference=condition)
    suggestions: list[Proposal] = []
    lines = []
    if for_ivig and for_plex:
        summary = "AE, CSF clear: factors favour both IVIG and PLEX; weigh the trade-off"
        lines.append(trade_off_text(for_ivig, for_plex))
        lines.append(f"Regimens: {ivig}; {plex}.")
        suggestions += [give_ivig, give_plex] if daily.computed else [give_plex]
    elif for_ivig:
        summary = "AE, CSF clear of infection: IVIG preferred as first line (see factors)"
        lines.append(f"**{ivig}** instead of steroids, because: {reasons(for_ivig)}.")
        suggestions += [give_ivig] if daily.computed else []
    elif for_plex:
        summary = "AE, CSF clear of infection: plasma exchange preferred as first line"
        lines.append(f"**Prefer {plex}**, because: {reasons(for_plex)}.")
        suggestions.append(give_plex)
    else:
        pulse = advise_for(Agent.IV_METHYLPREDNISOLONE, facts)
        amount = pulse.figure() if pulse.computed else "pulse (dose by weight)"
        summary = f"AE, CSF clear of infection: start IV methylprednisolone {amount} for 3-5 days"
        lines.append(f"**Start {_ivmp_text(facts)}**, the preferred first-line agent.")
        lines.append(f"Alternatives if steroids are unsuitable: {ivig}; {plex}.")
    if hemiplegia and not against_steroids:
        lines.append(
            "**Severe presentation (hemiplegia):** consider combination therapy from the "
            "outset, steroids plus IVIG or steroids plus plasma exchange, rather than "
            "sequential monotherapy."
        )
    antibodies = _antibodies_pending(facts)
    if LabKind.AUTOIMMUNE_ANTIBODY not in facts.labs and "observations" not in facts.unknown:
        lines.append(
            "No autoantibody test is recorded: send serum and CSF panels now, and do not wait "
            "for the results to treat."
        )
    else:
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
        group=CardGroup.AE_TREATMENT,
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
        f"The record lists **{names}** with autoimmune encephalitis. Steroids can shrink "
        "lymphoma and sarcoid lesions and make a biopsy non-diagnostic: discuss tissue "
        "diagnosis first, or use IVIG or plasma exchange as first line."
    )
    evidence = tuple(of_condition(c) for c in (*ae, *mimics)) + tuple(map(of_therapy, steroids))
    yield Finding(
        OBSCURE_ID,
        Urgency.WARNING,
        summary,
        detail,
        ABBOUD_2021_AE,
        evidence,
        suggestions=tuple(ProposeRemoval(o) for o in steroids),
        override_reasons=(OVERRIDE_CLINICAL_JUDGEMENT, OVERRIDE_DATA_OUT_OF_DATE)
        if steroids
        else (),
        topic=TOPIC_AE,
        group=CardGroup.AE_TREATMENT if facts.hook == Hook.PATIENT_VIEW else CardGroup.ORDER_CHOICE,
    )
