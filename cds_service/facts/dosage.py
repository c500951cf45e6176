"""Dose and timing as ordered: quantity and UCUM unit per administration, and per day if computable.

Reads MedicationRequest.dosageInstruction[0] (doseAndRate.doseQuantity or the low end of doseRange,
timing.repeat frequency/period/periodUnit or a timing code such as BID) and
MedicationAdministration.dosage.dose. A per-day dose is computed only when the dosing interval is a
day or shorter (frequency per hours or days) or the unit is itself per day ("g/kg/d"); weekly or
monthly regimens (rituximab 375 mg/m2 weekly) keep per_day None rather than a misleading average.
Nothing is guessed: a dose without a number or unit gives no Dose at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cds_service.facts.model import Dose
from cds_service.facts.robust import text_or_none
from cds_service.facts.timestamps import parse_fhir_datetime

_HOURS_PER_UNIT = {
    "s": 1 / 3600,
    "min": 1 / 60,
    "h": 1.0,
    "d": 24.0,
    "wk": 168.0,
    "mo": 730.5,
    "a": 8766.0,
}
# HL7 v3 GTSAbbreviation timing codes -> administrations per day.
_TIMING_CODES_PER_DAY = {
    "QD": 1.0,
    "AM": 1.0,
    "PM": 1.0,
    "BID": 2.0,
    "TID": 3.0,
    "QID": 4.0,
    "Q4H": 6.0,
    "Q6H": 4.0,
    "Q8H": 3.0,
    "Q12H": 2.0,
}
_UNIT_SPELLINGS = {
    "mg/m^2": "mg/m2",
    "mg/m²": "mg/m2",
    "gm": "g",
    "gram": "g",
    "grams": "g",
    "milligram": "mg",
    "milligrams": "mg",
}
_PER_DAY_SUFFIXES = ("/d", "/day", "/24h", "/24.h")


def dose_from_request(resource: dict[str, Any]) -> Dose | None:
    instructions = resource.get("dosageInstruction") or ()
    if not instructions:
        return None
    instruction = instructions[0]
    quantity = _first_quantity(instruction.get("doseAndRate") or ())
    if quantity is None:
        return None
    value, unit = quantity
    unit, already_per_day = _split_per_day(unit)
    per_day = value if already_per_day else _per_day(value, instruction.get("timing") or {})
    return Dose(
        quantity=value, unit=unit, per_day=per_day, text=text_or_none(instruction.get("text"))
    )


def dose_from_administration(resource: dict[str, Any]) -> Dose | None:
    dosage = resource.get("dosage") or {}
    found = _read_quantity(dosage.get("dose"))
    if found is None:
        return None
    unit, already_per_day = _split_per_day(found[1])
    return Dose(
        quantity=found[0],
        unit=unit,
        per_day=found[0] if already_per_day else None,
        text=text_or_none(dosage.get("text")),
    )


def course_bounds(
    resource: dict[str, Any], default_start: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """Start and end of a MedicationRequest's course from timing.repeat bounds, where recorded.

    A boundsDuration without a boundsPeriod counts from `default_start` (authoredOn).
    """
    instructions = resource.get("dosageInstruction") or ()
    repeat = ((instructions[0].get("timing") or {}).get("repeat") or {}) if instructions else {}
    period = repeat.get("boundsPeriod") or {}
    start = parse_fhir_datetime(period.get("start")) or default_start
    end = parse_fhir_datetime(period.get("end"))
    duration = repeat.get("boundsDuration") or {}
    hours = _HOURS_PER_UNIT.get(str(duration.get("code") or duration.get("unit")))
    length = duration.get("value")
    if end is None and start is not None and hours and isinstance(length, int | float):
        end = start + timedelta(hours=float(length) * hours)
    return start, end


def _first_quantity(dose_and_rates: Any) -> tuple[float, str] | None:
    for item in dose_and_rates:
        found = _read_quantity(item.get("doseQuantity"))
        if found is None:
            found = _read_quantity((item.get("doseRange") or {}).get("low"))
        if found is not None:
            return found
    return None


def _read_quantity(quantity: Any) -> tuple[float, str] | None:
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip()
    if not unit:
        return None
    return float(quantity["value"]), _UNIT_SPELLINGS.get(unit.lower(), unit)


def _split_per_day(unit: str) -> tuple[str, bool]:
    for suffix in _PER_DAY_SUFFIXES:
        if unit.lower().endswith(suffix):
            return unit[: -len(suffix)], True
    return unit, False


def _per_day(value: float, timing: dict[str, Any]) -> float | None:
    repeat = timing.get("repeat") or {}
    period_hours = _HOURS_PER_UNIT.get(str(repeat.get("periodUnit")))
    if period_hours is not None and isinstance(repeat.get("period"), int | float):
        interval = float(repeat["period"]) * period_hours
        frequency = repeat.get("frequency", 1)
        if interval <= 0 or interval > 24 or not isinstance(frequency, int | float):
            return None
        return value * float(frequency) * 24.0 / interval
    for coding in (timing.get("code") or {}).get("coding") or ():
        per_day = _TIMING_CODES_PER_DAY.get(str(coding.get("code")))
        if per_day is not None:
            return value * per_day
    return None
