"""Systemic corticosteroids in Guillain-Barre syndrome: not recommended; IVIG or PLEX instead.

Clinical source: seed 000 ("Avoid steroids in Guillain-Barre syndrome ... use PLEX or IVIG
instead"); AAN practice parameter 2003 (verbatim: "Corticosteroids are not recommended for the
management of GBS"; IVIg and PE equivalent); Cochrane 2016 (no benefit; oral steroids may slow
recovery); EAN/PNS guideline 2023 (IVIg or PE, no preference; its steroid wording not retrieved).
A new systemic steroid order for a patient with active GBS stops the clinician (critical) on
order-select and order-sign, with one-click replacements and override reasons, because a steroid
may be meant for another indication. On patient-view a running steroid course is a warning.

A steroid ordered when IVIG or plasma exchange is already ordered or given adds no benefit: a
warning, not critical. A steroid with another coded indication (adrenal insufficiency and stress
dosing, long-term systemic steroid use, asthma or COPD exacerbation: the STEROID_INDICATION
category) is not this pitfall: the rule stays silent, so no suggestion ever deletes it. Treatment
timing follows the AAN practice parameter 2003 (IVIg within 2 or possibly 4 weeks of onset, PE
within 4 weeks): from the GBS Condition's onset, after 2 weeks the card says IVIG is "possibly"
beneficial, and after 4 weeks it proposes no IVIG or plasma-exchange course and asks to discuss
with neurology instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from cds_service.contracts import ALL_HOOKS, CardGroup, Hook
from cds_service.dosing import advise_for, regimen_text
from cds_service.facts.model import (
    ConditionCategory,
    ConditionFact,
    LabKind,
    PatientFacts,
    Therapy,
)
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
    days_since,
    given,
    is_systemic_steroid,
    orders_under_review,
)

RULE_ID = "gbs-corticosteroid-not-recommended"
# AAN 2003: IVIg within 2 (possibly 4) weeks of onset; plasma exchange within 4 weeks.
IVIG_WINDOW_DAYS = 14
TREATMENT_WINDOW_DAYS = 28


@rule(
    RULE_ID,
    hooks=ALL_HOOKS,
    seed="000",
    fires=(
        "gbs-mp",
        "gbs-pred-nowt",
        "gbs-mp-child",
        "gbs-pred-312615",
        "gbs-mp-ivig-given",
        "gbs-mp-3wk",
        "gbs-mp-late",
    ),
    silent=("gbs-resolved", "gbs-ivig", "gbs-mp-addison", "none-pv", "none-steroid"),
)
def is_a_steroid_ordered_for_guillain_barre(facts: PatientFacts) -> Iterator[Finding]:
    gbs = facts.active(ConditionCategory.GUILLAIN_BARRE)
    if not gbs:
        return
    if facts.has_active(ConditionCategory.STEROID_INDICATION):
        return  # the steroid has an indication of its own: not the GBS pitfall, never deleted
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
    onset = _onset(gbs)
    days = days_since(facts, onset)
    already = all_drafts(facts, Therapy.IVIG, Therapy.PLEX) + tuple(
        t  # a course in this episode: since onset (any time when onset is not recorded)
        for t in given(facts, Therapy.IVIG, Therapy.PLEX)
        if onset is None or t.started is None or t.started >= onset
    )
    daily = advise_for(Agent.IVIG, facts)
    condition = gbs[0].reference
    late = days is not None and days > TREATMENT_WINDOW_DAYS
    suggestions: list[Proposal] = []
    for order in steroids:
        if already or late:
            suggestions.append(ProposeRemoval(order))
            continue
        if daily.computed:
            suggestions.append(ProposeOrder(Therapy.IVIG, daily, order, condition))
        suggestions.append(ProposeOrder(Therapy.PLEX, None, order, condition))
    regimen = regimen_text(daily.regimen) if daily.regimen else "by weight"
    if already:
        lines = [
            "**Corticosteroids are not recommended for Guillain-Barre syndrome** (AAN 2003; "
            "Cochrane 2016: no benefit, and oral steroids may slow recovery).",
            "IVIG or plasma exchange is already ordered or given; adding a steroid does "
            "not add benefit. Remove the steroid unless it is for another indication.",
        ]
    elif late:
        lines = [
            "**Corticosteroids are not recommended for Guillain-Barre syndrome** (AAN 2003; "
            "Cochrane 2016: no benefit, and oral steroids may slow recovery).",
            f"Onset was {days:.0f} days ago: past the 4 weeks within which IVIG and plasma "
            "exchange were shown to help (AAN 2003), so no course is proposed. Discuss "
            "treatment with neurology.",
        ]
    else:
        lines = [
            "**Corticosteroids are not recommended for Guillain-Barre syndrome** (AAN 2003; "
            "Cochrane 2016: no benefit, and oral steroids may slow recovery). Treat with IVIG "
            f"{regimen} or plasma exchange; neither is preferred (EAN/PNS 2023)."
        ]
        if days is None:
            lines.append(
                "Onset is not recorded: IVIG helps within 2 (possibly 4) weeks of onset and "
                "plasma exchange within 4 weeks (AAN 2003)."
            )
        elif days > IVIG_WINDOW_DAYS:
            lines.append(
                f"Onset was {days:.0f} days ago: plasma exchange is within its 4-week window; "
                "IVIG is possibly beneficial up to 4 weeks (AAN 2003)."
            )
        if daily.computed:
            lines.append(f"IVIG dose for this patient: {daily.text()}.")
        else:
            lines.append(f"IVIG: {daily.text()} Plasma exchange is offered instead.")
    evidence = (
        *(of_condition(c) for c in gbs),
        *map(of_therapy, steroids),
        *map(of_therapy, already),
        *of_lab(facts, LabKind.WEIGHT),
    )
    if already:
        summary = "GBS: IVIG or plasma exchange already under way; a steroid adds no benefit"
    elif late:
        summary = "Steroids are not recommended in GBS; past the IVIG/PLEX window: ask neurology"
    else:
        summary = "Steroids are not recommended in Guillain-Barre syndrome: use IVIG or PLEX"
    yield Finding(
        RULE_ID,
        Urgency.WARNING if already else Urgency.CRITICAL,
        summary,
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


def _onset(gbs: tuple[ConditionFact, ...]) -> datetime | None:
    """The earliest recorded onset of the active GBS diagnoses (recorded date when no onset)."""
    times = [t for c in gbs if (t := c.onset or c.recorded) is not None]
    return min(times) if times else None
