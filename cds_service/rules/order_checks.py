"""Order checks for first-line immunotherapy: IVIG vs plasma exchange, combinations, IVIG safety.

Clinical source: seed 000 / seed 002 selection criteria (rules.support.factors: IVIG preferred
with agitation, coagulopathy or difficult access; PLEX with profound hyponatraemia,
thromboembolic risk or CNS demyelination; Abboud et al. 2021 via secondary summaries). When
factors pull both ways the card shows the trade-off, does not pick, and offers no replacement.
Steroid ordered together with IVIG or PLEX is the combination therapy seed 000 advises in severe
presentations: it is silent here (no card just to say a correct combination was recognised) and
keeps the IVIG/PLEX choice cards quiet. IVIG with renal failure / low eGFR or IgA deficiency:
caution (seed 004; Keh et al. 2020).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import ORDER_HOOKS, CardGroup
from cds_service.dosing import advise_for, number, regimen_text
from cds_service.facts.model import (
    ConditionCategory,
    ConditionFact,
    LabKind,
    PatientFacts,
    Therapy,
)
from cds_service.findings import Finding, Proposal, ProposeOrder, Urgency
from cds_service.knowledge.citations import (
    ABBOUD_2021_AE,
    FISCHELL_2023_ANE,
    IVIG_SAFETY,
    ORDER_OVERRIDES,
    TOPIC_AE,
    TOPIC_ORDER_SAFETY,
)
from cds_service.knowledge.regimens import PLEX_SESSIONS_RANGE, REGIMENS_BY_ID, Agent
from cds_service.rules import rule
from cds_service.rules.support.evidence import of_condition, of_lab, of_therapy
from cds_service.rules.support.factors import (
    evidence_of,
    favouring_ivig,
    favouring_plex,
    reasons,
    trade_off_text,
)
from cds_service.rules.support.scope import (
    all_drafts,
    ordered,
)

IVIG_CHOICE_ID = "ivig-order-plex-may-be-preferred"
PLEX_CHOICE_ID = "plex-order-ivig-may-be-preferred"
IVIG_SAFETY_ID = "ivig-order-renal-or-iga-caution"

# eGFR below 60 mL/min/1.73 m2 = CKD category G3a or worse (KDIGO 2012 CKD guideline definition).
# A design choice marking "renal impairment" for the IVIG caution.
EGFR_RENAL_IMPAIRMENT_ML_MIN_1_73M2 = 60.0


def _indication(facts: PatientFacts) -> tuple[ConditionFact, ...]:
    return (
        *facts.active(ConditionCategory.AUTOIMMUNE_ENCEPHALITIS),
        *facts.active(ConditionCategory.ACUTE_NECROTIZING_ENCEPHALOPATHY),
    )


def _alternative_first_line(facts: PatientFacts, placed: Therapy) -> Iterator[Finding]:
    """IVIG ordered where PLEX may suit better, or the reverse; a trade-off when both pull."""
    indication = _indication(facts)
    if not indication:  # the factors favouring either are read only for an indication
        return
    orders = ordered(facts, placed)
    if not orders:
        return
    alternative = Therapy.PLEX if placed is Therapy.IVIG else Therapy.IVIG
    for_ivig, for_plex = favouring_ivig(facts), favouring_plex(facts)
    for_alternative, for_placed = (
        (for_plex, for_ivig) if placed is Therapy.IVIG else (for_ivig, for_plex)
    )
    if not for_alternative or all_drafts(facts, alternative):
        return
    rule_id = IVIG_CHOICE_ID if placed is Therapy.IVIG else PLEX_CHOICE_ID
    citation = (
        ABBOUD_2021_AE
        if facts.has_active(ConditionCategory.AUTOIMMUNE_ENCEPHALITIS)
        else FISCHELL_2023_ANE
    )
    evidence = (
        *map(of_condition, indication),
        *map(of_therapy, orders),
        *evidence_of(for_alternative),
        *evidence_of(for_placed),
    )
    condition = indication[0].reference
    change: Proposal | None
    if alternative is Therapy.PLEX:
        change = ProposeOrder(Therapy.PLEX, None, orders[0], condition)
        detail = (
            f"Plasma exchange may be preferred over IVIG here: {reasons(for_plex)}. PLEX "
            f"({PLEX_SESSIONS_RANGE}) is preferred with severe "
            "hyponatraemia, high thromboembolic risk or associated demyelination."
        )
    else:
        daily = advise_for(Agent.IVIG, facts)
        change = ProposeOrder(Therapy.IVIG, daily, orders[0], condition) if daily.computed else None
        standard = regimen_text(REGIMENS_BY_ID["ivig-5-day-adult"])
        detail = (
            f"IVIG may be preferred over plasma exchange here: {reasons(for_ivig)}. IVIG "
            f"({standard}) is chosen when the patient is agitated, "
            "has a bleeding disorder or coagulopathy, or central access is difficult; PLEX "
            "needs a large-bore central line."
        )
        if not daily.computed:
            detail += f" No IVIG order is suggested: {daily.text()}"
    suggestions = (change,) if change else ()
    short, alternative_short = ("IVIG", "PLEX") if placed is Therapy.IVIG else ("PLEX", "IVIG")
    if for_placed:
        yield Finding(
            rule_id,
            Urgency.INFO,
            f"{short} ordered; factors favour both {short} and {alternative_short}: "
            "review the trade-off",
            trade_off_text(for_ivig, for_plex),
            citation,
            evidence,  # the service does not choose, so it offers no replacement either
            topic=TOPIC_AE,
            group=CardGroup.ORDER_CHOICE,
        )
        return
    placed_name, alternative_name = (
        ("IVIG", "plasma exchange") if placed is Therapy.IVIG else ("Plasma exchange", "IVIG")
    )
    yield Finding(
        rule_id,
        Urgency.WARNING,
        f"{placed_name} ordered, but {alternative_name} may be preferred here: review the factors",
        detail,
        citation,
        evidence,
        suggestions=suggestions,
        override_reasons=ORDER_OVERRIDES,
        topic=TOPIC_AE,
        group=CardGroup.ORDER_CHOICE,
    )


@rule(
    IVIG_CHOICE_ID,
    hooks=ORDER_HOOKS,
    seed="000",
    fires=("ae-na-ivig", "ae-na-meq", "ae-tradeoff"),
    silent=("ae-na-stale", "ae-plt-plex", "ae-combo", "none-steroid"),
)
def would_plasma_exchange_suit_better_than_ivig(facts: PatientFacts) -> Iterator[Finding]:
    return _alternative_first_line(facts, Therapy.IVIG)


@rule(
    PLEX_CHOICE_ID,
    hooks=ORDER_HOOKS,
    seed="000",
    fires=("ae-plt-plex",),
    silent=("ae-na-ivig", "ae-tradeoff", "ae-plt-ok-plex", "ae-combo", "none-steroid"),
)
def would_ivig_suit_better_than_plasma_exchange(facts: PatientFacts) -> Iterator[Finding]:
    return _alternative_first_line(facts, Therapy.PLEX)


@rule(
    IVIG_SAFETY_ID,
    hooks=ORDER_HOOKS,
    seed="004",
    fires=("ivig-iga",),
    silent=("none-steroid",),
)
def is_ivig_risky_for_kidneys_or_iga(facts: PatientFacts) -> Iterator[Finding]:
    ivig = ordered(facts, Therapy.IVIG)
    if not ivig:
        return
    renal = facts.active(ConditionCategory.RENAL_FAILURE)
    iga = facts.active(ConditionCategory.IGA_DEFICIENCY)
    egfr = facts.lab(LabKind.EGFR)
    low_egfr = (
        egfr is not None
        and egfr.value is not None
        and not egfr.stale
        and egfr.value < EGFR_RENAL_IMPAIRMENT_ML_MIN_1_73M2
    )
    if not (renal or iga or low_egfr):
        return
    lines = []
    if renal or low_egfr:
        value = f" (eGFR {number(egfr.value or 0, 0)})" if low_egfr and egfr else ""
        lines.append(
            f"**Renal impairment{value}:** IVIG can cause acute kidney injury. Hydrate, "
            "use a slow infusion rate and check creatinine during the course; consider "
            "plasma exchange instead."
        )
    if iga:
        lines.append(
            "**Selective IgA deficiency:** risk of anaphylaxis with anti-IgA "
            "antibodies. Check anti-IgA antibodies and use an IgA-depleted product."
        )
    summary = (
        "IVIG ordered with "
        + " and ".join(
            (["renal impairment"] if renal or low_egfr else [])
            + (["IgA deficiency"] if iga else [])
        )
        + ": check product and infusion plan"
    )
    evidence = (
        *map(of_condition, (*renal, *iga)),
        *of_lab(facts, LabKind.EGFR),
        *of_lab(facts, LabKind.CREATININE),
        *map(of_therapy, ivig),
    )
    yield Finding(
        IVIG_SAFETY_ID,
        Urgency.WARNING,
        summary,
        "\n\n".join(lines),
        IVIG_SAFETY,
        evidence,
        override_reasons=ORDER_OVERRIDES,
        topic=TOPIC_ORDER_SAFETY,
        group=CardGroup.ORDER_SAFETY,
    )
