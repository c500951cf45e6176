"""Reading FHIR date, dateTime and instant values into timezone-aware datetimes.

FHIR allows partial dates ("2024", "2024-05", "2024-05-01") and dateTimes with an offset; a time
without an offset is not valid FHIR but EHRs send it, so it is read as UTC. Partial dates are read
as the start of the period they name, which makes ages and "days since onset" slightly long rather
than short. Unreadable values give None, never an exception: a bad date makes a fact undated,
not fatal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_fhir_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    try:
        if len(text) == 4:
            parsed = datetime(int(text), 1, 1)
        elif len(text) == 7:
            parsed = datetime(int(text[:4]), int(text[5:7]), 1)
        else:
            parsed = datetime.fromisoformat(text)  # Python 3.11 reads "Z" and offsets itself
    except ValueError:
        return None
    return as_utc(parsed)


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_STEPS: dict[str, tuple[str, ...]] = {}  # paths are literals of this package, never data


def first_time(resource: dict[str, Any], *paths: str) -> datetime | None:
    """The first readable time among fields like 'effectiveDateTime' or 'effectivePeriod.start'."""
    for path in paths:
        steps = _STEPS.get(path)
        if steps is None:
            steps = _STEPS[path] = tuple(path.split("."))
        node: Any = resource
        for part in steps:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:  # the usual absent field: nothing to parse
            continue
        found = parse_fhir_datetime(node)
        if found is not None:
            return found
    return None


def hours_between(earlier: datetime, later: datetime) -> float:
    return (as_utc(later) - as_utc(earlier)).total_seconds() / 3600.0
