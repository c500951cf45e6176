"""Escalation to second-line immunotherapy in autoimmune encephalitis, and rituximab out of turn.

Clinical source: seed 000 and Abboud et al., JNNP 2021 (via secondary summaries): with no
meaningful improvement after 2-4 weeks of optimised first-line therapy, escalate; rituximab (375
mg/m2 weekly x 4, or 1000 mg on days 1 and 15) is preferred, cyclophosphamide when cell-mediated
disease is suspected; continuing ineffective first-line therapy beyond 4 weeks is a pitfall; and
rituximab is not a first-line monotherapy. Supporting primary text: paediatric NMDARE consensus
2021 ("about 2 weeks"), German table 2019 ("within 10 days" for anti-NMDAR). Bridging, maintenance
(Abboud Part 2) and refractory options are information in the detail, never an alarm of their own.
The record cannot show improvement; an encephalitis diagnosis still active is the proxy, and the
card asks the clinician to judge response.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import ORDER_HOOKS, CardGroup, Hook
from cds_service.dosing import DosingPatient, advise, compute, number
from cds_service.facts.model import (
    FIRST_LINE_THERAPIES,
    ConditionCategory,
    LabKind,
    PatientFacts,
    Therapy,
)
from cds_service.findings import Coding, Finding, ProposeRemoval, Urgency
from cds_service.knowledge.citations import (
    AE_SECOND_LINE,
    OVERRIDE_CLINICAL_JUDGEMENT,
    OVERRIDE_REASON_SYSTEM,
    OVERRIDE_SPECIALIST_PLAN,
    TOPIC_AE,
)
from cds_service.knowledge.regimens import REGIMENS_BY_ID, Agent, Population
from cds_service.rules import rule
from cds_service.rules.support.evidence import of_condition, of_lab, of_therapy
from cds_service.rules.support.scope import (
    all_drafts,
    days_since,
    earliest_start,
    first_line_given,
    given,
    ordered,
)

ESCALATE_ID = "ae-escalate-second-line"
RITUXIMAB_FIRST_ID = "ae-rituximab-before-first-line"

# Seed 000 / Abboud 2021 (secondary): escalate after 2-4 weeks without meaningful improvement.
ESCALATION_REVIEW_DAYS = 14
ESCALATION_OVERDUE_DAYS = 28
# The window's far end (a design choice): beyond 12 weeks of first-line therapy this is no longer
# the acute episode's escalation decision (refractory disease is reviewed by the team), so the
# card stays silent rather than firing on a patient a year into maintenance.
ESCALATION_UNTIL_DAYS = 84
# Second-line or maintenance therapy already started: the escalation question is answered.
_SECOND_LINE_OR_MAINTENANCE = (
    Therapy.RITUXIMAB,
    Therapy.CYCLOPHOSPHAMIDE,
    Therapy.TOCILIZUMAB,
    Therapy.BORTEZOMIB,
    Therapy.AZATHIOPRINE,
    Therapy.MYCOPHENOLATE,
)
OVERRIDE_FIRST_LINE_ELSEWHERE = Coding(
    OVERRIDE_REASON_SYSTEM,
    "first-line-given-elsewhere",
    "First-line therapy was given (not in this record)",
)


def _second_line_text(facts: PatientFacts) -> str:
    patient = DosingPatient.of(facts)
    rituximab = advise(Agent.RITUXIMAB, patient).text()
    if patient.population is Population.ADULT:
        fixed = compute(REGIMENS_BY_ID["rituximab-fixed-adult"], patient).text()
        rituximab += f"; or {fixed}"
    cyclophosphamide = advise(Agent.CYCLOPHOSPHAMIDE_IV, patient).text()
    return (
        f"**Rituximab** (preferred): {rituximab}. "
        "Improvement usually begins 1-2 weeks after the first dose.\n\n"
        "**Cyclophosphamide** if cell-mediated (onconeuronal) disease is suspected: "
        f"IV {cyclophosphamide}.\n\n"
        "*After improvement:* bridge with an oral prednisone taper or monthly IVIG; rituximab, "
        "azathioprine or mycophenolate for maintenance (Abboud 2021)."
    )


@rule(
    ESCALATE_ID,
    hooks=(Hook.PATIENT_VIEW,),
    seed="000",
    fires=("ae-escalate",),
    silent=("ae-steroid-5d", "ae-maintenance", "ae-escalate-late", "none-pv"),
)
def is_it_time_to_escalate_to_second_line(facts: PatientFacts) -> Iterator[Finding]:
    ae = facts.active(ConditionCategory.AUTOIMMUNE_ENCEPHALITIS)
    if not ae:  # the condition first: the rest is read only for a patient who has it
        return
    first_line = first_line_given(facts)
    if not first_line or given(facts, *_SECOND_LINE_OR_MAINTENANCE):
        return
    days = days_since(facts, earliest_start(first_line))
    if days is None or days < ESCALATION_REVIEW_DAYS or days > ESCALATION_UNTIL_DAYS:
        return
    if days > ESCALATION_OVERDUE_DAYS:
        urgency = Urgency.WARNING
        summary = (
            f"First-line therapy began {number(days, 0)} days ago: if not clearly better, "
            "escalate to rituximab now"
        )
        lead = (
            "**Beyond 4 weeks of first-line therapy.** Continuing ineffective first-line "
            "therapy is a pitfall; early escalation is associated with better outcomes."
        )
    else:
        urgency = Urgency.INFO
        summary = (
            f"First-line therapy began {number(days, 0)} days ago: review response; "
            "escalate if no clear improvement"
        )
        lead = (
            "**2-4 weeks into first-line therapy.** Without meaningful clinical or "
            "radiological improvement, escalate to second line."
        )
    evidence = (
        *(of_condition(c) for c in ae),
        *(of_therapy(t) for t in first_line),
        *of_lab(facts, LabKind.HEIGHT),
        *of_lab(facts, LabKind.WEIGHT),
    )
    yield Finding(
        ESCALATE_ID,
        urgency,
        summary,
        f"{lead}\n\n{_second_line_text(facts)}",
        AE_SECOND_LINE,
        evidence,
        topic=TOPIC_AE,
        group=CardGroup.AE_TREATMENT,
    )


@rule(
    RITUXIMAB_FIRST_ID,
    hooks=ORDER_HOOKS,
    seed="000",
    fires=("ae-ritux-first",),
    silent=("none-steroid",),
)
def is_rituximab_ordered_before_first_line(facts: PatientFacts) -> Iterator[Finding]:
    ae = facts.active(ConditionCategory.AUTOIMMUNE_ENCEPHALITIS)
    if not ae:
        return
    rituximab = ordered(facts, Therapy.RITUXIMAB)
    if not rituximab:
        return
    if first_line_given(facts) or all_drafts(facts, *FIRST_LINE_THERAPIES):
        return
    detail = (
        "No first-line therapy (IV methylprednisolone, IVIG or plasma exchange) is recorded "
        "or being ordered. Rituximab is a second-line agent for inadequate response to "
        "first-line therapy (do not use it as initial monotherapy). Start "
        "first-line therapy once CSF excludes infection; if first-line therapy was given "
        "elsewhere, override with that reason."
    )
    evidence = (*(of_condition(c) for c in ae), *(of_therapy(o) for o in rituximab))
    yield Finding(
        RITUXIMAB_FIRST_ID,
        Urgency.WARNING,
        "Rituximab is second line: no first-line therapy recorded; start that first",
        detail,
        AE_SECOND_LINE,
        evidence,
        suggestions=tuple(ProposeRemoval(o) for o in rituximab),
        override_reasons=(
            OVERRIDE_FIRST_LINE_ELSEWHERE,
            OVERRIDE_SPECIALIST_PLAN,
            OVERRIDE_CLINICAL_JUDGEMENT,
        ),
        topic=TOPIC_AE,
        group=CardGroup.ORDER_CHOICE,
    )
