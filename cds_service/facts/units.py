"""UCUM unit normalisation: a value converted to its lab kind's one canonical unit.

The accepted units and their factors are rows of `cds_service.knowledge.labs`; a value in any
other unit is not converted by guesswork but reported as unusable.
"""

from __future__ import annotations

import re
from functools import lru_cache

from cds_service.facts.model import LabKind as K
from cds_service.knowledge.labs import LAB_DEFINITIONS

_ANNOTATION = re.compile(r"\{[^}]*\}")


@lru_cache(maxsize=1024)  # units are a small vocabulary repeated on every Observation
def unit_key(unit: str | None) -> str:
    """The comparison form of a unit: lower case, no spaces, no annotations, 'u' for micro."""
    if not unit:
        return ""
    text = unit.strip().replace("µ", "u").replace("μ", "u")
    text = text.replace("{1.73_m2}", "1.73m2")
    return _ANNOTATION.sub("", text).replace(" ", "").lower()


def to_canonical(kind: K, value: float, unit: str | None) -> float | None:
    """The value in the kind's canonical unit, or None when the unit is not one the kind accepts."""
    factor = LAB_DEFINITIONS[kind].unit_factors.get(unit_key(unit))
    return None if factor is None else value * factor
