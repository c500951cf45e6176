"""Which orders and which treatment history a hook call is about, as the rules need to see them.

CDS Hooks 2.0: order-select asks about the orders the clinician has just selected (context
`selections`, TherapyFact.is_selected); order-sign about every draft order being signed;
patient-view has no orders under review. Treatment history is what the record already holds (orders,
administrations, procedures); a cancelled or entered-in-error order never counts as therapy given.
"""

from __future__ import annotations

from datetime import datetime

from cds_service.facts.model import (
    FIRST_LINE_THERAPIES,
    PatientFacts,
    Therapy,
    TherapyFact,
)

# Statuses of a course still running (MedicationRequest active/on-hold, administration
# in-progress): what "currently receiving" means in the pitfall rules.
RUNNING_STATUSES = frozenset({"active", "in-progress", "on-hold"})
_NOT_GIVEN = frozenset({"cancelled", "entered-in-error", "revoked", "not-done", "stopped-before"})
SYSTEMIC_ROUTES_EXCLUDED = frozenset(
    {"topical", "inhaled", "ophthalmic", "otic", "nasal", "intra-articular", "cutaneous", "rectal"}
)


def orders_under_review(facts: PatientFacts) -> tuple[TherapyFact, ...]:
    """Order-select: the selected draft orders; order-sign: every one; patient-view: none."""
    return facts.orders_under_review()


def ordered(facts: PatientFacts, *therapies: Therapy) -> tuple[TherapyFact, ...]:
    return tuple(o for o in orders_under_review(facts) if o.therapy in therapies)


def all_drafts(facts: PatientFacts, *therapies: Therapy) -> tuple[TherapyFact, ...]:
    """Every draft order of these therapies, selected or not (to recognise combinations)."""
    return tuple(o for o in facts.draft_orders if o.therapy in therapies)


def given(facts: PatientFacts, *therapies: Therapy) -> tuple[TherapyFact, ...]:
    """History entries of these therapies that were not cancelled or entered in error."""
    return tuple(
        t
        for t in facts.therapy_history
        if t.therapy in therapies and (t.status or "") not in _NOT_GIVEN
    )


def first_line_given(facts: PatientFacts) -> tuple[TherapyFact, ...]:
    return given(facts, *FIRST_LINE_THERAPIES)


def earliest_start(therapies: tuple[TherapyFact, ...]) -> datetime | None:
    starts = [t.started for t in therapies if t.started is not None]
    return min(starts) if starts else None


def days_since(facts: PatientFacts, when: datetime | None) -> float | None:
    return None if when is None else (facts.now - when).total_seconds() / 86400.0


def is_systemic_steroid(t: TherapyFact) -> bool:
    """A corticosteroid by a systemic route (or a route not recorded: assume systemic)."""
    return t.therapy is Therapy.CORTICOSTEROID and (t.route or "") not in SYSTEMIC_ROUTES_EXCLUDED


def is_immunotherapy(t: TherapyFact) -> bool:
    return t.therapy is not Therapy.CORTICOSTEROID or is_systemic_steroid(t)
