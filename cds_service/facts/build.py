"""Building one PatientFacts from the resolved data of one hook call: the facts layer's entry point.

`build_facts` reads the outcomes keyed by prefetch key (`READS`: patient, conditions, observations,
medications, and optionally administrations, procedures, serviceRequests), turns each into
typed facts, and lists in `PatientFacts.unknown` every category whose data could not be obtained,
so a rule can say "conditions could not be retrieved" instead of reading silence as "none". Draft
orders (context.draftOrders) become TherapyFacts flagged `is_draft_order`; resources named in
`selections` ("Type/id", order-select) are flagged `is_selected`. A draft order that also appears in
the history (same reference) is kept only once, as the draft.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cds_service.contracts import PrefetchKey
from cds_service.facts.antivirals import antiviral_facts
from cds_service.facts.conditions import condition_facts
from cds_service.facts.csf import assess_csf
from cds_service.facts.model import PatientFacts, TherapyFact
from cds_service.facts.observations import lab_facts
from cds_service.facts.patient import age_years, first_patient, sex
from cds_service.facts.robust import READ_ERRORS
from cds_service.facts.therapies import therapy_facts
from cds_service.facts.timestamps import as_utc
from cds_service.resolution.resolved import ResolvedData

K = PrefetchKey
# Keys whose absence is always worth saying ("could not be retrieved"), and keys reported only
# when a service asked for them; every key read here must be declared by some service and every
# declared key read here (`cds-service check`).
REQUIRED_KEYS = (K.PATIENT, K.CONDITIONS, K.OBSERVATIONS, K.MEDICATIONS)
OPTIONAL_KEYS = (K.ADMINISTRATIONS, K.PROCEDURES, K.SERVICE_REQUESTS)
THERAPY_KEYS = (K.MEDICATIONS, *OPTIONAL_KEYS)
READS: frozenset[PrefetchKey] = frozenset((*REQUIRED_KEYS, *OPTIONAL_KEYS))


def build_facts(
    resolved: ResolvedData,
    *,
    patient_id: str,
    hook: str,
    now: datetime,
    draft_orders: Sequence[dict[str, Any]],
    selections: Sequence[str],
) -> PatientFacts:
    now = as_utc(now)
    selected = frozenset(selections)
    unknown = {key for key in REQUIRED_KEYS if not resolved.obtained(key)}
    unknown |= {
        key for key in OPTIONAL_KEYS if key in resolved.outcomes and not resolved.obtained(key)
    }

    unreadable: list[str] = []  # malformed resources, skipped one by one (facts.robust)
    labs = lab_facts(resolved.resources(K.OBSERVATIONS), now, unreadable)
    csf = assess_csf(labs)
    drafts = therapy_facts(
        draft_orders, now, draft=True, selections=selected, unreadable=unreadable
    )
    draft_refs = {fact.reference for fact in drafts}
    history: list[TherapyFact] = []
    seen: set[str] = set()
    for key in THERAPY_KEYS:
        for fact in therapy_facts(
            resolved.resources(key), now, selections=selected, unreadable=unreadable
        ):
            if fact.reference not in draft_refs and fact.reference not in seen:
                seen.add(fact.reference)
                history.append(fact)
    history.sort(key=lambda f: f.started.timestamp() if f.started else float("-inf"), reverse=True)
    antivirals = antiviral_facts(draft_orders, now, draft=True) + tuple(
        fact
        for key in (K.MEDICATIONS, K.ADMINISTRATIONS)
        for fact in antiviral_facts(resolved.resources(key), now)
    )

    patient = first_patient(resolved.resources(K.PATIENT))
    try:
        age, gender = age_years(patient, now), sex(patient)
    except READ_ERRORS:
        age, gender = None, None
        unreadable.append("Patient")
    conditions = condition_facts(resolved.resources(K.CONDITIONS), unreadable)
    return PatientFacts(
        patient_id=patient_id,
        now=now,
        age_years=age,
        sex=gender,
        conditions=conditions,
        labs=labs,
        csf_status=csf.status,
        csf_evidence=csf.evidence,
        csf_missing=csf.missing,
        therapy_history=tuple(history),
        draft_orders=drafts,
        antivirals=antivirals,
        unknown=frozenset(unknown),
        unreadable=tuple(unreadable),
        hook=hook,
    )
