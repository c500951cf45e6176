"""Dose checks of immunotherapy orders, by the same computation that advises doses.

Every agent with a regimen in `cds_service.knowledge.regimens` (IV methylprednisolone, IVIG,
rituximab, cyclophosphamide IV and oral, azathioprine, mycophenolate mofetil, ciclosporin,
tocilizumab) is checked per dose and per day: for a child (under 18 years) by mg/kg or mg/m2 of
the paediatric regimen, for everyone against the absolute maximum (`cds_service.dosing`). A dose
above the regimen is a warning that names the dose, the patient's figure and the regimen; more
than twice the upper limit is critical. A dose the service cannot check (free text, a unit it
cannot compare, no current weight or height) is said plainly, never guessed; an azathioprine
start above the titration range, with no earlier course recorded, is a warning.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import ORDER_HOOKS, CardGroup
from cds_service.dosing import DoseCheck, DosingPatient, Verdict, check_order
from cds_service.facts.model import LabKind, PatientFacts, TherapyFact
from cds_service.findings import Finding, Urgency
from cds_service.knowledge.citations import (
    OVERRIDE_DATA_OUT_OF_DATE,
    OVERRIDE_DOSE_INTENDED,
    OVERRIDE_SPECIALIST_PLAN,
    TOPIC_ORDER_SAFETY,
)
from cds_service.knowledge.regimens import AGENT_NAMES, Agent, Basis, Population
from cds_service.rules import rule
from cds_service.rules.support.evidence import of_lab, of_therapy
from cds_service.rules.support.scope import given, orders_under_review

RULE_ID = "immunotherapy-dose-check"
_URGENCY = {
    Verdict.DANGEROUS: Urgency.CRITICAL,
    Verdict.ABOVE: Urgency.WARNING,
    Verdict.BELOW: Urgency.INFO,
    Verdict.NOT_CHECKED: Urgency.INFO,
}


def _wording(check: DoseCheck) -> tuple[str, str]:
    name = AGENT_NAMES[check.agent]
    figure = f" ({check.figure})" if check.figure else ""
    if check.verdict is Verdict.NOT_CHECKED:
        return (
            f"{name} dose not checked: {check.reason}"[:139],
            f"The dose was **not checked**: {check.reason}. Regimen for this patient: "
            f"{check.regimen}.",
        )
    if check.verdict is Verdict.BELOW:
        return (
            f"{name} {check.ordered}{figure} is below the regimen",
            f"Ordered {check.ordered}{figure}; the regimen for this patient is {check.regimen}.",
        )
    excess = "more than twice" if check.verdict is Verdict.DANGEROUS else "above"
    reason = f" ({check.reason})" if check.reason else ""
    return (
        f"{name} {check.ordered}{figure} is {excess} the regimen for this patient"[:139],
        f"**Ordered {check.ordered}{figure}{reason}.** The regimen for this patient is "
        f"{check.regimen}. Confirm the dose, the patient's weight and height, and the units.",
    )


def _worth_a_card(check: DoseCheck, patient: DosingPatient) -> bool:
    """Excess always; a dose that could not be checked when it matters; low IVIG doses."""
    if check.verdict in (Verdict.ABOVE, Verdict.DANGEROUS):
        return True
    if check.verdict is Verdict.BELOW:
        return check.agent is Agent.IVIG  # lower doses of the others are often intended
    if check.verdict is Verdict.NOT_CHECKED:
        # An unreadable stated dose, any IVIG order (dosed by weight for everyone), a dose per
        # m2 (needs a height), and any weight-based order for a child: say it was not checked.
        # Elsewhere the absolute maximum was still checked, and a card would only be noise.
        return (
            check.unreadable
            or check.agent is Agent.IVIG
            or check.regimen_row.basis is Basis.PER_M2
            or patient.population is Population.CHILD
        )
    return False


def _started_before(facts: PatientFacts, order: TherapyFact) -> bool:
    return any(t.reference != order.reference for t in given(facts, order.therapy))


@rule(
    RULE_ID,
    hooks=ORDER_HOOKS,
    seed="004",
    fires=("aza-200", "ivmp-child-1g", "aza-child-150", "ritux-child-1g"),
    silent=("gbs-ivig", "none-steroid", "ivmp-child-ok", "aza-child-50", "ritux-child-240"),
)
def is_the_ordered_dose_within_the_regimen(facts: PatientFacts) -> Iterator[Finding]:
    patient = DosingPatient.of(facts)
    for order in orders_under_review(facts):
        check = check_order(order, patient, started_before=_started_before(facts, order))
        if check is None or not _worth_a_card(check, patient):
            continue
        urgency = _URGENCY[check.verdict]
        summary, detail = _wording(check)
        row = check.regimen_row
        needs_height = row.basis is Basis.PER_M2
        evidence = (
            of_therapy(order),
            *of_lab(facts, LabKind.WEIGHT),
            *(of_lab(facts, LabKind.HEIGHT) if needs_height else ()),
        )
        yield Finding(
            RULE_ID,
            urgency,
            summary,
            detail,
            row.citation,
            evidence,
            override_reasons=(
                OVERRIDE_DOSE_INTENDED,
                OVERRIDE_SPECIALIST_PLAN,
                OVERRIDE_DATA_OUT_OF_DATE,
            )
            if urgency is not Urgency.INFO
            else (),
            topic=TOPIC_ORDER_SAFETY,
            group=CardGroup.ORDER_SAFETY,
        )
