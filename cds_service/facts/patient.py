"""Patient demographics the rules need: age in years at the time of the call, and sex.

Age comes from Patient.birthDate (a partial date such as "2015" is read as its first day, so the
age may be overstated by up to the missing precision, never understated); it matters because
paediatric dosing differs (seed 002: methylprednisolone 30 mg/kg/day in children). Sex is
Patient.gender as recorded (male | female | other | unknown). A missing Patient gives None for both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds_service.facts.timestamps import as_utc, parse_fhir_datetime

DAYS_PER_YEAR = 365.2425  # mean Gregorian year


def age_years(patient: dict[str, Any] | None, now: datetime) -> float | None:
    if not patient:
        return None
    born = parse_fhir_datetime(patient.get("birthDate"))
    if born is None:
        return None
    days = (as_utc(now) - born).total_seconds() / 86400.0
    return round(days / DAYS_PER_YEAR, 2) if days >= 0 else None


def sex(patient: dict[str, Any] | None) -> str | None:
    if not patient:
        return None
    gender = patient.get("gender")
    return gender if isinstance(gender, str) and gender else None


def first_patient(resources: Any) -> dict[str, Any] | None:
    """The Patient resource among what the 'patient' prefetch key delivered, if any."""
    for resource in resources:
        if resource.get("resourceType") == "Patient":
            return dict(resource)
    return None
