"""Systemic corticosteroids in Guillain-Barre syndrome: not recommended; IVIG or PLEX instead.

Clinical source: seed 000 ("Avoid steroids in Guillain-Barre syndrome ... use PLEX or IVIG
instead"); AAN practice parameter 2003 (verbatim: "Corticosteroids are not recommended for the
management of GBS"; IVIg and PE equivalent); Cochrane 2016 (no benefit; oral steroids may slow
recovery); EAN/PNS guideline 2023 (IVIg or PE, no preference; its steroid wording not retrieved).
A new systemic steroid order for a patient with active GBS stops the clinician (critical) on
order-select and order-sign, with one-click replacements and override reasons, because a steroid
may be meant for another indication. On patient-view a running steroid course is a warning.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import ALL_HOOKS, CardGroup, Hook
from cds_service.dosing import DosingPatient, advise, regimen_text
from cds_service.facts.model import ConditionCategory, LabKind, PatientFacts, Therapy
from cds_service.findings import Finding, Proposal, ProposeOrder, ProposeRemoval, Urgency
from cds_service.knowledge.citations import (
    GBS_GUIDELINE,
    OVERRIDE_CLINICAL_JUDGEMENT,
    OVERRIDE_OTHER_STEROID_INDICATION,
    OVERRIDE_SPECIALIST_PLAN,
    TOPIC_GBS,
)
from cds_service.knowledge.regimens import Agent
from cds_service.rules import rule
from cds_service.rules.support.evidence import of_condition, of_lab, of_therapy
from cds_service.rules.support.scope import (
    RUNNING_STATUSES,
    all_drafts,
    given,
    is_systemic_steroid,
    orders_under_review,
)

RULE_ID = "gbs-corticosteroid-not-recommended"


@rule(
    RULE_ID,
    hooks=ALL_HOOKS,
    seed="000",
    fires=("gbs-mp", "gbs-pred-nowt", "gbs-mp-child", "gbs-pred-312615"),
    silent=("gbs-resolved", "gbs-ivig", "none-pv", "none-steroid"),
)
def is_a_steroid_ordered_for_guillain_barre(facts: PatientFacts) -> Iterator[Finding]:
    gbs = facts.active(ConditionCategory.GUILLAIN_BARRE)
    if not gbs:
        return
    steroids = tuple(o for o in orders_under_review(facts) if is_systemic_steroid(o))
    if facts.hook == Hook.PATIENT_VIEW:
        running = tuple(
            t
            for t in given(facts, Therapy.CORTICOSTEROID)
            if is_systemic_steroid(t) and not t.completed and (t.status or "") in RUNNING_STATUSES
        )
        if running:
            yield Finding(
                RULE_ID,
                Urgency.WARNING,
                "Guillain-Barre syndrome on a systemic steroid: not recommended; review it",
                "Corticosteroids are not recommended in GBS (no benefit; oral steroids may slow "
                "recovery). Unless the steroid is for another indication, stop it and treat with "
                "IVIG or plasma exchange.",
                GBS_GUIDELINE,
                (*(of_condition(c) for c in gbs), *map(of_therapy, running)),
                topic=TOPIC_GBS,
                group=CardGroup.GBS_STEROID,
            )
        return
    if not steroids:
        return
    already = all_drafts(facts, Therapy.IVIG, Therapy.PLEX) + given(
        facts, Therapy.IVIG, Therapy.PLEX
    )
    daily = advise(Agent.IVIG, DosingPatient.of(facts))
    condition = gbs[0].reference
    suggestions: list[Proposal] = []
    for order in steroids:
        if already:
            suggestions.append(ProposeRemoval(order))
            continue
        if daily.computed:
            suggestions.append(ProposeOrder(Therapy.IVIG, daily, order, condition))
        suggestions.append(ProposeOrder(Therapy.PLEX, None, order, condition))
    regimen = regimen_text(daily.regimen) if daily.regimen else "by weight"
    lines = [
        "**Corticosteroids are not recommended for Guillain-Barre syndrome** (AAN 2003; "
        "Cochrane 2016: no benefit, and oral steroids may slow recovery). Treat with IVIG "
        f"{regimen} or plasma exchange; neither is preferred (EAN/PNS 2023)."
    ]
    if already:
        lines.append(
            "IVIG or plasma exchange is already ordered or given; adding a steroid does "
            "not add benefit. Remove the steroid unless it is for another indication."
        )
    elif daily.computed:
        lines.append(f"IVIG dose for this patient: {daily.text()}.")
    else:
        lines.append(f"IVIG: {daily.text()} Plasma exchange is offered instead.")
    evidence = (
        *(of_condition(c) for c in gbs),
        *map(of_therapy, steroids),
        *map(of_therapy, already),
        *of_lab(facts, LabKind.WEIGHT),
    )
    yield Finding(
        RULE_ID,
        Urgency.CRITICAL,
        "Steroids are not recommended in Guillain-Barre syndrome: use IVIG or PLEX",
        "\n\n".join(lines),
        GBS_GUIDELINE,
        evidence,
        suggestions=tuple(suggestions),
        override_reasons=(
            OVERRIDE_OTHER_STEROID_INDICATION,
            OVERRIDE_SPECIALIST_PLAN,
            OVERRIDE_CLINICAL_JUDGEMENT,
        ),
        topic=TOPIC_GBS,
        group=CardGroup.GBS_STEROID,
    )
