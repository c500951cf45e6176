"""Immunotherapy is gated on CSF excluding infection, in autoimmune encephalitis and in ANE.

Clinical source: seed 000 ("CSF analysis excludes infection - this is the key gating factor for
treatment initiation"; Abboud et al., JNNP 2021, via secondary summaries: start "as soon as
cerebrospinal fluid results rule out infection") and seed 002 ("Rule out infectious causes before
starting immunosuppressive therapy"). An active CNS infection diagnosis with immunotherapy
ordered or running is critical, without immunotherapy a warning. CSF pending, or no CSF studies in
the record: warning (on patient-view only before any immunotherapy has been given; once treatment
is under way that request is no longer useful). CSF excluded: silent (first_line takes over).

Infection found in CSF (positive culture, Gram stain or pathogen PCR/panel) is critical even with
nothing ordered: the card names the pathogen (from
the test's code, or the result's own words for a culture, Gram stain or panel) and, for herpes
simplex or varicella zoster virus, advises IV aciclovir (IDSA encephalitis guideline 2008, Tunkel
et al.; ABN/BIA 2012, Solomon et al.). Once an antiviral is recorded as running or started within
the CSF window, HSV/VZV is a warning: autoimmune encephalitis after HSV encephalitis is real
(Armangue et al. 2018), so immunotherapy is a decision for neurology and infectious diseases, and
no removal is proposed. A bacterial or unnamed pathogen stays critical: antivirals do not treat it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from cds_service.contracts import ALL_HOOKS, CardGroup, Hook
from cds_service.facts.model import (
    AntiviralFact,
    ConditionCategory,
    ConditionFact,
    CsfInfectionStatus,
    LabKind,
    Measurement,
    PatientFacts,
    Therapy,
    TherapyFact,
)
from cds_service.facts.word_match import words
from cds_service.findings import Citation, Coding, Evidence, Finding, ProposeRemoval, Urgency
from cds_service.knowledge import ICD10CM, SNOMED
from cds_service.knowledge.citations import (
    ABBOUD_2021_AE,
    ENCEPHALITIS_ANTIVIRAL,
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
# Tests whose code names the virus (knowledge.loinc rows); other results name it in their words.
_VIRUS_BY_LOINC = {"16952-4": "HSV-1", "16960-7": "HSV-2", "21598-8": "VZV"}
_HERPES_WORDS = ("herpes", "hsv", "varicella", "zoster", "vzv")
_HERPES_CONDITIONS = frozenset(
    {(ICD10CM, "B00.4"), (ICD10CM, "B02.0"), (ICD10CM, "B02.1"), (SNOMED, "230176008")}
)
_PLAIN_RESULTS = frozenset({"detected", "positive", "pos", "abnormal", "growth", "present"})
_RESULT_NAMES = {
    LabKind.CSF_CULTURE: "culture",
    LabKind.CSF_GRAM_STAIN: "Gram stain",
    LabKind.CSF_PATHOGEN_PCR: "pathogen panel",
    LabKind.CSF_HSV_PCR: "HSV PCR",
}
# An antiviral counts for this episode when running, or started at most this long before the
# first positive CSF result (aciclovir is often started before the lumbar puncture).
_ANTIVIRAL_LEAD = timedelta(days=7)


@rule(
    RULE_ID,
    hooks=ALL_HOOKS,
    seed="000",
    fires=("ae-no-csf", "ae-hsv-pos", "ae-hsv-pv", "ae-hsv-acv", "ae-gram-pv", "enc-unspec-hsv"),
    silent=(
        "ae-hemi-clear",
        "ae-hsv-eie",
        "ae-combo",
        "ae-escalate",
        "ae-refuted",
        "enc-unspec",
        "ane-early",
        "none-pv",
        "none-steroid",
    ),
)
def is_infection_excluded_before_immunotherapy(facts: PatientFacts) -> Iterator[Finding]:
    ae = facts.active(ConditionCategory.AUTOIMMUNE_ENCEPHALITIS)
    ane = facts.active(ConditionCategory.ACUTE_NECROTIZING_ENCEPHALOPATHY)
    ae += _unspecified_infected(facts)
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
        yield _infection_found(facts, orders, exposed, evidence, infections, citation, topic)
        return

    if facts.hook == Hook.PATIENT_VIEW and given(facts, *Therapy):
        return  # treatment is under way: asking for CSF "before starting" is no longer useful
    if facts.hook == Hook.PATIENT_VIEW and ane and not ae:
        return  # ANE: steroids must not wait for CSF; the ANE card says to send it and cover

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


def _unspecified_infected(facts: PatientFacts) -> tuple[ConditionFact, ...]:
    """Unspecified encephalitis (G04.90) once infection is found in CSF or coded; until then its
    missing studies are the work-up card's (rules.encephalitis_workup), not this gate's."""
    infection = facts.csf_status is CsfInfectionStatus.INFECTION_FOUND or facts.has_active(
        ConditionCategory.CNS_INFECTION
    )
    return facts.active(ConditionCategory.ENCEPHALITIS_UNSPECIFIED) if infection else ()


def _infection_found(
    facts: PatientFacts,
    orders: tuple[TherapyFact, ...],
    exposed: bool,
    evidence: list[Evidence],
    infections: tuple[ConditionFact, ...],
    citation: Citation,
    topic: Coding,
) -> Finding:
    in_csf = facts.csf_status is CsfInfectionStatus.INFECTION_FOUND
    positives = facts.csf_evidence if in_csf else ()
    viruses = _herpes_viruses(positives, infections)
    antivirals = _antivirals_this_episode(facts, positives, infections)
    being_ordered = tuple(a for a in facts.antivirals if a.is_draft_order)
    evidence = [*evidence, *map(_of_antiviral, (*antivirals, *being_ordered))]
    treated = bool(viruses and antivirals)
    if in_csf:
        what = (
            f"{viruses} found in CSF"
            if viruses
            else f"Infection found in CSF ({_named(positives)})"
        )
    else:
        what = f"{viruses} infection recorded" if viruses else "Active CNS infection recorded"
    urgency = Urgency.CRITICAL if (in_csf or exposed) and not treated else Urgency.WARNING
    if treated:
        summary = f"{what}, antiviral recorded: immunotherapy only with neurology and ID"
        lines = [
            f"**{what}; {_antiviral_names(antivirals)} recorded.** Complete the antiviral course "
            "and confirm it is IV aciclovir at treatment dose, adjusted for renal function.",
            "Autoimmune encephalitis can follow HSV encephalitis, usually weeks later, often with "
            "NMDA receptor antibodies (Armangue et al. 2018). Immunotherapy may then be right, "
            "but decide it with neurology and infectious diseases once the infection is treated.",
        ]
        citation = ENCEPHALITIS_ANTIVIRAL
    elif viruses:
        action = (
            "start IV aciclovir and hold immunotherapy" if exposed else "start IV aciclovir now"
        )
        summary = f"{what}: {action}"
        lines = [
            f"**{what}.** Treat as {_virus_disease(viruses)}: start IV aciclovir now, dosed by "
            "weight and adjusted for renal function (IDSA 2008; ABN/BIA 2012). Do not start "
            "immunotherapy until the infection is treated.",
            "Autoimmune encephalitis can follow HSV encephalitis (Armangue et al. 2018); if the "
            "patient worsens after antiviral treatment, test for neuronal antibodies and "
            "review immunotherapy with neurology and infectious diseases.",
        ]
        if being_ordered:
            lines.append("An antiviral is among the orders being placed.")
        citation = ENCEPHALITIS_ANTIVIRAL
    else:
        summary = (
            f"{what}: hold immunotherapy and treat the infection first"
            if exposed
            else f"{what}: treat it; no immunotherapy until infection is excluded"
        )
        lines = [
            f"**{what}.** Immunotherapy for autoimmune or necrotizing encephalopathy is "
            "started only once infection is excluded: CSF is the key gating factor. Treat "
            "the infection, repeat CSF as indicated, and reconsider immunotherapy with "
            "neurology and infectious diseases."
        ]
    removals = () if treated else tuple(ProposeRemoval(o) for o in orders)
    overrides = (OVERRIDE_SPECIALIST_PLAN, OVERRIDE_DATA_OUT_OF_DATE)
    return Finding(
        RULE_ID,
        urgency,
        summary,
        "\n\n".join(lines),
        citation,
        tuple(evidence),
        suggestions=removals,
        override_reasons=overrides if treated else (OVERRIDE_INFECTION_TREATED, *overrides),
        topic=topic,
        group=CardGroup.CSF_GATE,
    )


def _herpes_viruses(
    positives: tuple[Measurement, ...], infections: tuple[ConditionFact, ...]
) -> str:
    """'HSV-1', 'HSV-1 and VZV', 'HSV' ... when a positive result or diagnosis names HSV or VZV."""
    found: list[str] = []
    for m in positives:
        code = m.code.code if m.code else ""
        if code in _VIRUS_BY_LOINC:
            found.append(_VIRUS_BY_LOINC[code])
        elif m.kind is LabKind.CSF_HSV_PCR:
            found.append("HSV")
        elif any(w in words(m.result_text) for w in _HERPES_WORDS):
            text = " ".join(words(m.result_text))
            found.append("VZV" if any(w in text for w in ("varicella", "zoster", "vzv")) else "HSV")
    for c in infections:
        if (c.code.system, c.code.code) in _HERPES_CONDITIONS:
            found.append(
                "VZV" if c.code.code.startswith("B02") or c.code.system == SNOMED else "HSV"
            )
    unique = list(dict.fromkeys(found))
    return " and ".join(unique)


def _virus_disease(viruses: str) -> str:
    if "HSV" in viruses and "VZV" in viruses:
        return "herpes simplex and varicella zoster encephalitis"
    return "herpes simplex encephalitis" if "HSV" in viruses else "varicella zoster encephalitis"


def _named(positives: tuple[Measurement, ...]) -> str:
    """The positive results in their own words, short: 'CSF Gram stain: Gram-positive cocci'."""
    names = []
    for m in positives:
        label = _RESULT_NAMES.get(m.kind, "test")
        text = (m.result_text or "").strip()
        if text and " ".join(words(text)) not in _PLAIN_RESULTS:
            names.append(f"{label}: {text[:40]}")
        else:
            names.append(f"{label} positive")
    return "; ".join(dict.fromkeys(names[:2])) or "positive result"


def _antivirals_this_episode(
    facts: PatientFacts, positives: tuple[Measurement, ...], infections: tuple[ConditionFact, ...]
) -> tuple[AntiviralFact, ...]:
    """Antivirals on record (not drafts): running, or started from a week before the finding."""
    found_at = [m.effective for m in positives if m.effective] + [
        c.onset for c in infections if c.onset
    ]
    since = min(found_at) - _ANTIVIRAL_LEAD if found_at else facts.now - _ANTIVIRAL_LEAD
    return tuple(
        a
        for a in facts.antivirals
        if not a.is_draft_order
        and (
            (not a.completed and (a.status or "") in RUNNING_STATUSES)
            or (a.started is not None and a.started >= since)
        )
    )


def _antiviral_names(antivirals: tuple[AntiviralFact, ...]) -> str:
    names = {"acyclovir": "aciclovir", "valacyclovir": "valaciclovir"}
    return " and ".join(dict.fromkeys(names.get(a.ingredient, a.ingredient) for a in antivirals))


def _of_antiviral(a: AntiviralFact) -> Evidence:
    state = "being ordered" if a.is_draft_order else (a.status or "status not recorded")
    return Evidence("Antiviral", a.display or a.ingredient, a.started, a.reference, state)
