"""Lab and vital-sign facts: the newest usable value per kind, normalised, dated and aged.

Raw Observations are filtered first with plain dict lookups (LOINC code in the code set, status),
so cost stays flat however much unrelated history an EHR sends (up to 10,000
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
from typing import Any

from cds_service.facts.model import CodeRef, LabFact, LabKind, Measurement, Qualitative
from cds_service.facts.qualitative import read_qualitative
from cds_service.facts.robust import READ_ERRORS, ident, name_of, text_or_none
from cds_service.facts.timestamps import first_time, hours_between
from cds_service.facts.units import to_canonical
from cds_service.knowledge.labs import LAB_DEFINITIONS, unit_display
from cds_service.knowledge.loinc import LoincEntry, lab_entry_for

RESULT_STATUSES = frozenset({"final", "amended", "corrected"})
PENDING_STATUSES = frozenset({"registered", "preliminary"})

_READABLE = RESULT_STATUSES | PENDING_STATUSES
# When a result was obtained, in order of preference.
_EFFECTIVE_PATHS = (
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod.start",
    "effectivePeriod.end",
    "issued",
)


def select_lab_observations(
    resources: Any, unreadable: list[str] | None = None
) -> list[tuple[LoincEntry, dict[str, Any]]]:
    """Cheap pre-filter: Observations with a LOINC code in the sets and a readable status.

    A malformed resource (a `coding` that is a string, an unhashable `status`) is skipped and
    named in `unreadable` (a try block costs nothing until it catches)."""
    selected: list[tuple[LoincEntry, dict[str, Any]]] = []
    for resource in resources:
        try:
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
        except READ_ERRORS:
            if unreadable is not None:
                unreadable.append(name_of(resource))
    return selected


def lab_facts(
    resources: Any, now: datetime, unreadable: list[str] | None = None
) -> dict[LabKind, LabFact]:
    """The newest usable value per kind (stale or not), its history and the unusable values."""
    usable: dict[LabKind, list[Measurement]] = defaultdict(list)
    unusable: dict[LabKind, list[str]] = defaultdict(list)
    for entry, resource in select_lab_observations(resources, unreadable):
        try:
            outcome = measurement_from(resource, entry, now)
        except READ_ERRORS:
            if unreadable is not None:
                unreadable.append(name_of(resource))
            continue
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


_CODE_REFS: dict[str, CodeRef] = {}  # by LOINC code: one per entry of the code set


def _code_ref(entry: LoincEntry) -> CodeRef:
    # Keyed by the code, not the entry: a frozen dataclass hashes all its fields in Python.
    found = _CODE_REFS.get(entry.code)
    if found is None:
        found = _CODE_REFS[entry.code] = CodeRef(entry.system, entry.code, entry.display)
    return found


def measurement_from(
    resource: dict[str, Any], entry: LoincEntry, now: datetime
) -> Measurement | str:
    """One Observation as a Measurement, or a note saying why its value cannot be used."""
    reference = f"Observation/{ident(resource)}"
    status = str(resource.get("status"))
    effective = first_time(resource, *_EFFECTIVE_PATHS)
    age = None if effective is None else max(0.0, hours_between(effective, now))
    definition = LAB_DEFINITIONS[entry.kind]
    window = definition.freshness_hours
    base: dict[str, Any] = {
        "kind": entry.kind,
        "reference": reference,
        "effective": effective,
        "status": status,
        "code": _code_ref(entry),
        "age_hours": age,
        "stale": age is None or age > window,
    }
    if definition.qualitative:
        result = read_qualitative(resource)
        if status in PENDING_STATUSES and result is not Qualitative.POSITIVE:
            result = Qualitative.PENDING
        if result is None:
            return f"{reference}: result could not be read as positive or negative; not used"
        return Measurement(
            qualitative=result, result_text=text_or_none(_result_text(resource)), **base
        )
    if status not in RESULT_STATUSES:
        return f"{reference}: status {status}, not a final result; not used"
    quantity = resource.get("valueQuantity")
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return f"{reference}: no numeric value; not used"
    unit = quantity.get("code") or quantity.get("unit")
    value = float(quantity["value"])
    converted = to_canonical(entry.kind, value, unit)
    canonical = definition.unit
    if converted is None:
        return f"{reference}: unit '{unit or ''}' cannot be converted to {canonical}; not used"
    shown = unit_display(quantity.get("unit") or unit)
    original = None if converted == value else text_or_none(f"{value:g} {shown}")
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


def _result_text(resource: dict[str, Any]) -> str | None:
    """A qualitative result in its own words: concept text or first display, or valueString."""
    concept = resource.get("valueCodeableConcept")
    if isinstance(concept, dict):
        if isinstance(concept.get("text"), str) and concept["text"].strip():
            return str(concept["text"]).strip()
        for coding in concept.get("coding") or ():
            if isinstance(coding.get("display"), str) and coding["display"].strip():
                return str(coding["display"]).strip()
    value = resource.get("valueString")
    return value.strip() if isinstance(value, str) and value.strip() else None
