"""Turns typed facts into the Evidence lines a card shows: value, unit, date, resource reference.

Rules name every fact they relied on. The wording
for data that cannot be used lives here so every card says it the same way: a stale value is shown
with its age and marked stale, a value in an unconvertible unit is reported as not used, and a
category of data the service could not obtain is said plainly ("could not be retrieved").
"""

from __future__ import annotations

from cds_service.dosing import number
from cds_service.facts.model import (
    ConditionFact,
    LabKind,
    Measurement,
    PatientFacts,
    TherapyFact,
)
from cds_service.facts.robust import text_or_none
from cds_service.findings import Evidence
from cds_service.knowledge.labs import lab_definition, unit_display

CSF_KINDS = (
    LabKind.CSF_GRAM_STAIN,
    LabKind.CSF_CULTURE,
    LabKind.CSF_HSV_PCR,
    LabKind.CSF_PATHOGEN_PCR,
    LabKind.CSF_WBC,
)


def age_text(hours: float | None) -> str:
    if hours is None:
        return "age unknown"
    return f"{number(hours)} h old" if hours < 48 else f"{number(hours / 24, 0)} days old"


def measurement_value(m: Measurement) -> str:
    if m.qualitative is not None:
        return m.qualitative.value
    if m.value is None:
        return "no value"
    shown = unit_display(m.unit)
    unit = f" {shown}" if shown else ""
    return f"{number(m.value, 2)}{unit}"


def of_measurement(m: Measurement) -> Evidence:
    notes = []
    if m.stale:
        notes.append(f"stale ({age_text(m.age_hours)}): not used as a current value")
    if m.original:
        notes.append(f"recorded as {m.original}")
    if m.status not in ("final", "amended", "corrected"):
        notes.append(f"status {text_or_none(m.status)}")
    return Evidence(
        lab_definition(m.kind).label,
        measurement_value(m),
        m.effective,
        m.reference,
        "; ".join(notes) or None,
    )


def of_lab(facts: PatientFacts, kind: LabKind) -> tuple[Evidence, ...]:
    """The latest value of a kind (if any), plus a line for each value that could not be used."""
    fact = facts.labs.get(kind)
    if fact is None:
        return ()
    lines = [of_measurement(fact.latest)] if fact.latest else []
    label = lab_definition(kind).label
    lines += [Evidence(label, None, None, None, f"not used: {why}") for why in fact.unusable]
    return tuple(lines)


def of_condition(c: ConditionFact) -> Evidence:
    name = c.code.display or c.text or text_or_none(c.code.code)
    status = text_or_none(c.clinical_status) or "status not recorded"
    return Evidence(
        "Diagnosis",
        f"{name} ({text_or_none(c.code.code)})",
        c.onset or c.recorded,
        c.reference,
        f"clinical status {status}",
    )


def of_therapy(t: TherapyFact) -> Evidence:
    what = t.display or t.ingredient or t.therapy.value
    dose = (
        f", {t.dose.text or f'{number(t.dose.quantity)} {unit_display(t.dose.unit)}'}"
        if t.dose
        else ""
    )
    kind = "Draft order" if t.is_draft_order else "Therapy"
    note = None if t.matched_by == "code" else "recognised from its name, not a code"
    return Evidence(
        kind,
        f"{what}{dose} (status {text_or_none(t.status) or 'unknown'})",
        t.started,
        t.reference,
        note,
    )


def not_retrieved(facts: PatientFacts, category: str, what: str) -> tuple[Evidence, ...]:
    """A line saying a data category could not be obtained, when that is the case."""
    if category not in facts.unknown:
        return ()
    return (Evidence(what, None, None, None, f"{what} could not be retrieved"),)
