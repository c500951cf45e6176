"""Lab and vital-sign facts: the newest usable value per kind, normalised, dated and aged.

Raw Observations are filtered first with plain dict lookups (LOINC code in the code set, status),
so cost stays flat however much unrelated history an EHR sends (architecture.md: up to 10,000
Observations; fhir.resources is never used here). Only final, amended and corrected results are
values; registered and preliminary results only mark a qualitative test as PENDING, except that a
preliminary result that already reads positive is kept as positive, because hiding an early
positive CSF Gram stain behind "pending" would be the unsafe error. Entered-in-error and cancelled
results are never used. A value whose unit cannot be converted is listed in `LabFact.unusable`, and
a value older than its kind's freshness window is marked stale (undated values are always stale).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from functools import lru_cache
from typing import Any

from cds_service.facts.model import CodeRef, LabFact, LabKind, Measurement, Qualitative
from cds_service.facts.qualitative import read_qualitative
from cds_service.facts.timestamps import first_time, hours_between
from cds_service.facts.units import CANONICAL_UNITS, to_canonical
from cds_service.terminology.loinc import QUALITATIVE_KINDS, LoincEntry, lab_entry_for

RESULT_STATUSES = frozenset({"final", "amended", "corrected"})
PENDING_STATUSES = frozenset({"registered", "preliminary"})

# Freshness windows. No guideline sets them; each is a design choice stated with its reason, to be
# reviewed with the clinical lead.
# Sodium moves within hours in hyponatraemia; 48 h is the acute/chronic boundary of the European
# hyponatraemia guideline (Spasovski 2014), beyond which a value no longer describes "now".
SODIUM_FRESHNESS_HOURS = 48.0
# Coagulation before a central line (SIR 2019, Patel JVIR 2019) is judged on recent labs; 72 h
# covers a weekend admission without accepting last week's values.
COAGULATION_FRESHNESS_HOURS = 72.0
# CSF studies belong to the current episode: escalation is judged at 2-4 weeks (seed 000), so a
# lumbar puncture within 30 days still speaks for this episode.
CSF_FRESHNESS_DAYS = 30.0
# IL-6 is a prognostic marker in ANE (seed 002) read in the acute phase only.
IL6_FRESHNESS_DAYS = 7.0
# Weight-based dosing (IVIG g/kg, seed 000/004) needs a current weight; 30 days.
WEIGHT_FRESHNESS_DAYS = 30.0
# Adult height changes slowly; used only for body surface area (rituximab mg/m2).
HEIGHT_FRESHNESS_DAYS = 365.0
# Renal function before IVIG (seed 004: renal failure risk) should reflect the last week.
RENAL_FRESHNESS_DAYS = 7.0
# Antibody results (sent at presentation, seed 000) stay relevant through the episode.
ANTIBODY_FRESHNESS_DAYS = 90.0

FRESHNESS_HOURS: dict[LabKind, float] = {
    LabKind.SODIUM: SODIUM_FRESHNESS_HOURS,
    LabKind.INR: COAGULATION_FRESHNESS_HOURS,
    LabKind.PLATELETS: COAGULATION_FRESHNESS_HOURS,
    LabKind.FIBRINOGEN: COAGULATION_FRESHNESS_HOURS,
    LabKind.D_DIMER: COAGULATION_FRESHNESS_HOURS,
    **{
        k: CSF_FRESHNESS_DAYS * 24
        for k in (
            LabKind.CSF_WBC,
            LabKind.CSF_RBC,
            LabKind.CSF_PROTEIN,
            LabKind.CSF_GLUCOSE,
            LabKind.CSF_GRAM_STAIN,
            LabKind.CSF_CULTURE,
            LabKind.CSF_HSV_PCR,
            LabKind.CSF_PATHOGEN_PCR,
        )
    },
    LabKind.IL6: IL6_FRESHNESS_DAYS * 24,
    LabKind.WEIGHT: WEIGHT_FRESHNESS_DAYS * 24,
    LabKind.HEIGHT: HEIGHT_FRESHNESS_DAYS * 24,
    LabKind.CREATININE: RENAL_FRESHNESS_DAYS * 24,
    LabKind.EGFR: RENAL_FRESHNESS_DAYS * 24,
    LabKind.AUTOIMMUNE_ANTIBODY: ANTIBODY_FRESHNESS_DAYS * 24,
}

_READABLE = RESULT_STATUSES | PENDING_STATUSES


def select_lab_observations(
    resources: Any,
) -> list[tuple[LoincEntry, dict[str, Any]]]:
    """Cheap pre-filter: Observations with a LOINC code in the sets and a readable status."""
    selected: list[tuple[LoincEntry, dict[str, Any]]] = []
    for resource in resources:
        if resource.get("status") not in _READABLE:
            continue
        code = resource.get("code")
        codings = code.get("coding") if isinstance(code, dict) else None
        for coding in codings or ():
            entry = lab_entry_for(coding.get("system"), coding.get("code"))
            if entry is not None:
                if resource.get("resourceType", "Observation") == "Observation":
                    selected.append((entry, resource))
                break
    return selected


def lab_facts(resources: Any, now: datetime) -> dict[LabKind, LabFact]:
    """The newest usable value per kind (stale or not), its history and the unusable values."""
    usable: dict[LabKind, list[Measurement]] = defaultdict(list)
    unusable: dict[LabKind, list[str]] = defaultdict(list)
    for entry, resource in select_lab_observations(resources):
        outcome = measurement_from(resource, entry, now)
        if isinstance(outcome, Measurement):
            usable[entry.kind].append(outcome)
        elif outcome:
            unusable[entry.kind].append(outcome)
    facts: dict[LabKind, LabFact] = {}
    for kind in set(usable) | set(unusable):
        history = sorted(usable.get(kind, ()), key=_newest_first)
        facts[kind] = LabFact(
            kind, history[0] if history else None, tuple(unusable.get(kind, ())), tuple(history)
        )
    return facts


@lru_cache(maxsize=256)
def _code_ref(entry: LoincEntry) -> CodeRef:
    return CodeRef(entry.system, entry.code, entry.display)


def measurement_from(
    resource: dict[str, Any], entry: LoincEntry, now: datetime
) -> Measurement | str:
    """One Observation as a Measurement, or a note saying why its value cannot be used."""
    reference = f"Observation/{resource.get('id', '?')}"
    status = str(resource.get("status"))
    effective = first_time(
        resource,
        "effectiveDateTime",
        "effectiveInstant",
        "effectivePeriod.start",
        "effectivePeriod.end",
        "issued",
    )
    age = None if effective is None else max(0.0, hours_between(effective, now))
    window = FRESHNESS_HOURS[entry.kind]
    base: dict[str, Any] = {
        "kind": entry.kind,
        "reference": reference,
        "effective": effective,
        "status": status,
        "code": _code_ref(entry),
        "age_hours": age,
        "stale": age is None or age > window,
    }
    if entry.kind in QUALITATIVE_KINDS:
        result = read_qualitative(resource)
        if status in PENDING_STATUSES and result is not Qualitative.POSITIVE:
            result = Qualitative.PENDING
        if result is None:
            return f"{reference}: result could not be read as positive or negative; not used"
        return Measurement(qualitative=result, **base)
    if status not in RESULT_STATUSES:
        return f"{reference}: status {status}, not a final result; not used"
    quantity = resource.get("valueQuantity")
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return f"{reference}: no numeric value; not used"
    unit = quantity.get("code") or quantity.get("unit")
    value = float(quantity["value"])
    converted = to_canonical(entry.kind, value, unit)
    canonical = CANONICAL_UNITS[entry.kind]
    if converted is None:
        return f"{reference}: unit '{unit or ''}' cannot be converted to {canonical}; not used"
    original = None if converted == value else f"{value:g} {quantity.get('unit') or unit}"
    return Measurement(
        value=round(converted, 6),
        unit=canonical,
        original=original,
        comparator=quantity.get("comparator"),
        **base,
    )


def _newest_first(measurement: Measurement) -> tuple[int, float]:
    if measurement.effective is None:
        return (1, 0.0)
    return (0, -measurement.effective.timestamp())
