"""Guillain-Barre syndrome: IVIG and plasma exchange together, or one straight after the other.

Clinical source: seed 000 (GBS is treated with IVIG or plasma exchange, not both) and the AAN
practice parameter (Hughes et al., Neurology 2003): combining the two treatments is not
beneficial, and sequential plasma exchange followed by IVIG is not recommended. The rule fires on
an order hook when an IVIG or plasma-exchange order is under review and the other is being ordered
with it or is already running or was given in the last four weeks (the treatment window).
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.contracts import ORDER_HOOKS, CardGroup
from cds_service.facts.model import ConditionCategory, PatientFacts, Therapy
from cds_service.findings import Finding, ProposeRemoval, Urgency
from cds_service.knowledge.citations import (
    AAN_2003_GBS,
    OVERRIDE_CLINICAL_JUDGEMENT,
    OVERRIDE_SPECIALIST_PLAN,
    TOPIC_GBS,
)
from cds_service.rules import rule
from cds_service.rules.support.evidence import of_condition, of_therapy
from cds_service.rules.support.scope import all_drafts, days_since, given, ordered

RULE_ID = "gbs-ivig-and-plex-together"
# AAN 2003: IVIG within 2 (possibly 4) weeks of onset, PE within 4 weeks; a course of the other
# treatment within that window is the one the new order would be combined with.
RECENT_COURSE_DAYS = 28
_OTHER = {Therapy.IVIG: Therapy.PLEX, Therapy.PLEX: Therapy.IVIG}
_NAMES = {Therapy.IVIG: "IVIG", Therapy.PLEX: "plasma exchange"}


@rule(
    RULE_ID,
    hooks=ORDER_HOOKS,
    seed="000",
    fires=("gbs-ivig-plex",),
    silent=("gbs-ivig", "gbs-mp", "none-steroid"),
)
def are_ivig_and_plasma_exchange_combined_in_gbs(facts: PatientFacts) -> Iterator[Finding]:
    gbs = facts.active(ConditionCategory.GUILLAIN_BARRE)
    if not gbs:
        return
    for placed in (Therapy.IVIG, Therapy.PLEX):
        orders = ordered(facts, placed)
        if not orders:
            continue
        other = _OTHER[placed]
        together = all_drafts(facts, other)
        recent = tuple(
            t
            for t in given(facts, other)
            if (d := days_since(facts, t.started)) is not None and d <= RECENT_COURSE_DAYS
        )
        if not together and not recent:
            continue
        when = "ordered together" if together else f"{_NAMES[other]} given in the last 4 weeks"
        detail = (
            f"**{_NAMES[placed].capitalize()} with {_NAMES[other]} ({when}).** In GBS the two "
            "treatments are equivalent and combining them is not beneficial; plasma exchange "
            "followed by IVIG is not recommended (AAN 2003). Choose one; a second course is a "
            "specialist decision for treatment-related fluctuation."
        )
        yield Finding(
            RULE_ID,
            Urgency.WARNING,
            "GBS: IVIG and plasma exchange together are not recommended; choose one",
            detail,
            AAN_2003_GBS,
            (*map(of_condition, gbs), *map(of_therapy, (*orders, *together, *recent))),
            suggestions=tuple(ProposeRemoval(o) for o in orders),
            override_reasons=(OVERRIDE_SPECIALIST_PLAN, OVERRIDE_CLINICAL_JUDGEMENT),
            topic=TOPIC_GBS,
            group=CardGroup.GBS_STEROID,
        )
        return
