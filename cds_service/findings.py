"""Findings: what a rule concluded, before anyone decides how it looks on the wire.

This is the narrow interface between the clinical rules and the card renderer: rules return
`Finding` objects built only from typed facts; `cards.py` is the only module that turns them into
CDS Hooks card JSON. A finding carries the evidence it used (value, unit, date, resource reference),
the recommendation, its citation and any proposed order changes, so the card can show its working.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from cds_service.frozen import fast_init

if TYPE_CHECKING:  # annotations only: these modules import Citation from here
    from cds_service.contracts import CardGroup
    from cds_service.dosing import DoseAdvice
    from cds_service.facts.model import TherapyFact


class Urgency(StrEnum):
    """How urgently the clinician should look; maps 1:1 onto the CDS Hooks card indicator.

    CRITICAL is reserved for "this may harm now" : an order that should be stopped, or
    immunotherapy with an infection found in CSF.
    """

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@fast_init
@dataclass(frozen=True)
class Citation:
    """Where a rule's advice comes from: the seed document and, where possible, the guideline."""

    label: str  # short, shown as card.source.label, e.g. "Abboud et al. 2021 (JNNP)"
    url: str | None = None  # absolute URL of the guideline (doi.org link preferred)
    seed: str | None = None  # id of the source summary the rule implements, e.g. "000"
    evidence_note: str | None = None  # honest grading with dates, e.g. "case reports only (2019)"


@fast_init
@dataclass(frozen=True)
class Evidence:
    """One fact a finding relied on, shown in the card detail."""

    label: str  # "Serum sodium"
    value: str | None = None  # "121 mmol/L" (already formatted with unit)
    when: datetime | None = None
    reference: str | None = None  # "Observation/na-1"
    note: str | None = None  # "stale: 9 days old", "unit mg/dL converted to g/L"


@fast_init
@dataclass(frozen=True)
class Coding:
    """A coded concept: used for override reasons and the source topic."""

    system: str
    code: str
    display: str


@fast_init
@dataclass(frozen=True)
class ProposedAction:
    """One step of a suggested order change (CDS Hooks Action, spec 2.0 section "Action")."""

    type: str  # "create" | "update" | "delete"
    description: str
    resource: dict[str, Any] | None = None  # FHIR R4 resource JSON (create/update)
    resource_id: str | None = None  # relative reference, e.g. "MedicationRequest/draft-1" (delete)


@fast_init
@dataclass(frozen=True)
class ProposedChange:
    """A suggestion: a labelled set of actions the clinician can accept in one click."""

    label: str
    actions: tuple[ProposedAction, ...]
    is_recommended: bool = False


@fast_init
@dataclass(frozen=True)
class ProposeOrder:
    """A rule's decision to propose an order: IVIG at an advised dose, or plasma exchange.

    The card layer turns it into a suggestion with a FHIR resource (cds_service.suggestions);
    the rule never builds FHIR. `replaces` is the draft order the new one would replace.
    """

    therapy: str  # "ivig" | "plasma-exchange" (facts.model.Therapy values)
    advice: DoseAdvice | None = None  # the IVIG dose, computed by cds_service.dosing
    replaces: TherapyFact | None = None
    condition_reference: str | None = None
    recommended: bool = False


@fast_init
@dataclass(frozen=True)
class ProposeRemoval:
    """A rule's decision to propose removing a draft order."""

    order: TherapyFact


Proposal = ProposeOrder | ProposeRemoval


@fast_init
@dataclass(frozen=True)
class Finding:
    """What one rule found for one patient and hook call.

    `rule_id` is stable (it keys the feedback report); `summary` must say what to do in under 140
    characters; `detail` is markdown for the recommendation itself (doses, trade-offs); the
    renderer appends the evidence and the citation, so rules don't format those themselves.
    """

    rule_id: str
    urgency: Urgency
    summary: str
    detail: str
    citation: Citation
    evidence: tuple[Evidence, ...] = ()
    suggestions: tuple[Proposal, ...] = ()
    selection_behavior: str = "at-most-one"
    override_reasons: tuple[Coding, ...] = ()
    topic: Coding | None = None
    # Groups several findings into one card when they share a key, so a clinician sees at most
    # a few cards per call; None means a card of its own.
    group: CardGroup | None = None
