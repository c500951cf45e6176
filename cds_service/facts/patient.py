"""Patient demographics the rules need: age in years at the time of the call, and sex.

Age comes from Patient.birthDate as completed years plus the fraction of the current year, never
rounded up across a birthday (17 years 364 days is 17.99, a child). A partial date ("2008",
"2008-05") is read as the latest day it allows, so the age may be understated by up to the missing
precision, never overstated: under 18 years selects the paediatric dose, which is weight-based and
never above the adult maximum, so the error stays on the safe side. Sex is Patient.gender as
recorded (male | female | other | unknown). A missing Patient gives None for both.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import date, datetime
from typing import Any

from cds_service.facts.timestamps import as_utc

DAYS_PER_YEAR = 365.2425  # mean Gregorian year
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T.*)?$")


def _latest_birth_day(value: Any) -> date | None:
    """The latest calendar day a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD) allows, or None."""
    if not isinstance(value, str):
        return None
    match = _DATE.match(value.strip())
    if match is None:
        return None
    year, month, day = match.group(1), match.group(2), match.group(3)
    try:
        if month is None:
            return date(int(year), 12, 31)
        if day is None:
            last = calendar.monthrange(int(year), int(month))[1]
            return date(int(year), int(month), last)
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def age_years(patient: dict[str, Any] | None, now: datetime) -> float | None:
    """Completed years plus the elapsed fraction of the current year, floored to 0.01."""
    if not patient:
        return None
    born = _latest_birth_day(patient.get("birthDate"))
    today = as_utc(now).date()
    if born is None or born > today:
        return None
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    last_birthday = _birthday(born, born.year + years)
    fraction = (today - last_birthday).days / DAYS_PER_YEAR
    return math.floor(round((years + min(fraction, 0.99)) * 100, 6)) / 100


def _birthday(born: date, year: int) -> date:
    """The birthday in `year` (29 February falls on 28 February in common years)."""
    try:
        return born.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


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
