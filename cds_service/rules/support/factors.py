"""The patient factors that favour IVIG or plasma exchange as first-line immunotherapy.

Clinical source: seed 000 and seed 002, citing Abboud et al. (JNNP 2021) through secondary
summaries: IVIG "should be chosen instead when the patient is agitated, combative, has bleeding
disorders/coagulopathy, or has difficulty with central line placement"; plasma exchange "is
preferred for patients with severe hyponatremia, high thromboembolic risk, or associated
brain/spinal demyelination". One of those summaries says the opposite for
IVIG; the card citation says the criteria are unverified against the paper. Thresholds below have
their own primary sources. Only current (not stale) values count; a stale value is shown as
evidence with its age and the card asks for a repeat instead of acting on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.dosing import number
from cds_service.facts.model import ConditionCategory, LabKind, Measurement, PatientFacts
from cds_service.findings import Evidence
from cds_service.frozen import fast_init
from cds_service.knowledge.labs import unit_display
from cds_service.rules.support.evidence import of_condition, of_measurement

# "Profound" hyponatraemia: serum sodium < 125 mmol/L (Spasovski et al., European clinical
# practice guideline on hyponatraemia, Eur J Endocrinol 2014;170:G1-G47).
# The seeds' "severe hyponatremia" is read as this biochemical category.
SODIUM_PROFOUND_HYPONATREMIA_MMOL_L = 125.0
# Coagulopathy for central-line placement: SIR 2019 consensus (Patel et al., JVIR 2019) high
# bleeding-risk thresholds, INR > 1.5 and platelets < 50 x 10^9/L; fibrinogen < 100 mg/dL (1.0 g/L)
# is a laboratory critical value (BJH, OhioHealth). The composite is a design choice
# (corroborated by the sources above), not a guideline.
INR_COAGULOPATHY = 1.5
PLATELETS_LOW_10E9_PER_L = 50.0
FIBRINOGEN_LOW_G_PER_L = 1.0


@fast_init
@dataclass(frozen=True)
class Factor:
    reason: str  # "profound hyponatraemia (sodium 121 mmol/L)"
    evidence: tuple[Evidence, ...]


def _current(facts: PatientFacts, kind: LabKind) -> Measurement | None:
    m = facts.lab(kind)
    return m if m is not None and m.value is not None and not m.stale else None


def _conditions(facts: PatientFacts, category: ConditionCategory, reason: str) -> list[Factor]:
    found = facts.active(category)
    return [Factor(reason, tuple(of_condition(c) for c in found))] if found else []


def _lab_below_or_above(
    facts: PatientFacts, kind: LabKind, limit: float, above: bool, reason: str
) -> list[Factor]:
    m = _current(facts, kind)
    if m is None or m.value is None or (m.value <= limit if above else m.value >= limit):
        return []
    return [
        Factor(
            f"{reason} ({number(m.value, 2)} {unit_display(m.unit)})".replace(" )", ")"),
            (of_measurement(m),),
        )
    ]


def favouring_ivig(facts: PatientFacts) -> list[Factor]:
    """Agitation/delirium, coagulopathy (coded or by labs), difficult vascular access."""
    factors = _conditions(facts, ConditionCategory.AGITATION, "agitation or delirium")
    factors += _conditions(
        facts, ConditionCategory.COAGULOPATHY, "bleeding disorder, coagulopathy or thrombocytopenia"
    )
    factors += _lab_below_or_above(facts, LabKind.INR, INR_COAGULOPATHY, True, "INR above 1.5")
    factors += _lab_below_or_above(
        facts, LabKind.PLATELETS, PLATELETS_LOW_10E9_PER_L, False, "platelets below 50 x 10^9/L"
    )
    factors += _lab_below_or_above(
        facts, LabKind.FIBRINOGEN, FIBRINOGEN_LOW_G_PER_L, False, "fibrinogen below 1.0 g/L"
    )
    factors += _conditions(
        facts, ConditionCategory.DIFFICULT_VASCULAR_ACCESS, "difficult central venous access"
    )
    return factors


def favouring_plex(facts: PatientFacts) -> list[Factor]:
    """Profound hyponatraemia (by current sodium), thromboembolic risk, CNS demyelination."""
    factors = _lab_below_or_above(
        facts,
        LabKind.SODIUM,
        SODIUM_PROFOUND_HYPONATREMIA_MMOL_L,
        False,
        "profound hyponatraemia, sodium below 125 mmol/L",
    )
    factors += _conditions(
        facts,
        ConditionCategory.THROMBOEMBOLIC_RISK,
        "high thromboembolic risk (VTE history or thrombophilia)",
    )
    factors += _conditions(
        facts, ConditionCategory.CNS_DEMYELINATION, "associated CNS demyelination"
    )
    return factors


def stale_inputs(facts: PatientFacts) -> tuple[Evidence, ...]:
    """Stale values that would have been factors had they been current: shown, not used."""
    lines = []
    for kind in (LabKind.SODIUM, LabKind.INR, LabKind.PLATELETS, LabKind.FIBRINOGEN):
        m = facts.lab(kind)
        if m is not None and m.stale:
            lines.append(of_measurement(m))
    return tuple(lines)


def reasons(factors: list[Factor]) -> str:
    return "; ".join(dict.fromkeys(f.reason for f in factors))


def evidence_of(factors: list[Factor]) -> tuple[Evidence, ...]:
    return tuple(e for f in factors for e in f.evidence)


def trade_off_text(for_ivig: list[Factor], for_plex: list[Factor]) -> str:
    return (
        "**Trade-off: the factors pull both ways.** For IVIG: "
        f"{reasons(for_ivig)}. For plasma exchange: {reasons(for_plex)}. The service does "
        "not choose; weigh bleeding and line risk against the sodium, thrombotic or "
        "demyelination concern with the treating team (and apheresis service)."
    )
