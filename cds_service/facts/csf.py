"""CSF infection status: is infection excluded, found, pending, or unknown from the CSF studies?

Implements the gate of seed 000 ("CSF analysis excludes infection - this is the key gating factor")
and seed 002 ("rule out infectious causes"). Only CSF results within the CSF freshness window are
read. Any positive culture, Gram stain or pathogen PCR/panel means INFECTION_FOUND, even if a later
repeat is pending (safety first). Otherwise any pending study means PENDING. EXCLUDED needs both a
negative bacterial study (culture, Gram stain or meningitis/encephalitis panel) and a negative HSV
study (HSV PCR or the panel, which includes HSV-1 and HSV-2); with only one of them negative the
status stays UNKNOWN and `missing` says which study is lacking. Cell counts never decide the status:
autoimmune encephalitis raises CSF white cells too.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.facts.model import CsfInfectionStatus, LabFact, LabKind, Measurement, Qualitative
from cds_service.frozen import fast_init

CSF_INFECTION_KINDS = (
    LabKind.CSF_CULTURE,
    LabKind.CSF_GRAM_STAIN,
    LabKind.CSF_HSV_PCR,
    LabKind.CSF_PATHOGEN_PCR,
)
_BACTERIAL = frozenset({LabKind.CSF_CULTURE, LabKind.CSF_GRAM_STAIN, LabKind.CSF_PATHOGEN_PCR})
_HSV = frozenset({LabKind.CSF_HSV_PCR, LabKind.CSF_PATHOGEN_PCR})


@fast_init
@dataclass(frozen=True)
class CsfAssessment:
    status: CsfInfectionStatus
    evidence: tuple[Measurement, ...] = ()  # the results the status rests on
    missing: tuple[str, ...] = ()  # studies lacking for EXCLUDED


def assess_csf(labs: dict[LabKind, LabFact]) -> CsfAssessment:
    current = [
        m for kind in CSF_INFECTION_KINDS if kind in labs for m in labs[kind].history if not m.stale
    ]
    positives = tuple(m for m in current if m.qualitative is Qualitative.POSITIVE)
    if positives:
        return CsfAssessment(CsfInfectionStatus.INFECTION_FOUND, positives)
    newest = _newest_per_test(current)
    pending = tuple(m for m in newest if m.qualitative is Qualitative.PENDING)
    if pending:
        return CsfAssessment(CsfInfectionStatus.PENDING, pending)
    negatives = tuple(m for m in newest if m.qualitative is Qualitative.NEGATIVE)
    negative_kinds = {m.kind for m in negatives}
    missing = tuple(
        name
        for name, kinds in (("bacterial culture or Gram stain", _BACTERIAL), ("HSV PCR", _HSV))
        if not negative_kinds & kinds
    )
    if negatives and not missing:
        return CsfAssessment(CsfInfectionStatus.EXCLUDED, negatives)
    if not newest:
        missing = ("bacterial culture or Gram stain", "HSV PCR")
    return CsfAssessment(CsfInfectionStatus.UNKNOWN, tuple(newest), missing)


def csf_infection_status(labs: dict[LabKind, LabFact]) -> CsfInfectionStatus:
    return assess_csf(labs).status


def _newest_per_test(measurements: list[Measurement]) -> tuple[Measurement, ...]:
    """Newest result per LOINC code: a repeat HSV-1 PCR replaces the earlier one."""
    newest: dict[str, Measurement] = {}
    for m in measurements:  # history is newest first within each kind
        key = m.code.code if m.code else m.kind.value
        newest.setdefault(key, m)
    return tuple(newest.values())
