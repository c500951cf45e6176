"""One hook call, end to end: resolve data, build facts, run rules, render cards, record them.

This is the whole of what a hook handler does; each stage
is timed for the request log. Data flows one way: the resolution layer never sees facts, the
rules never see HTTP or JSON, and only `cards` knows card JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cds_service import cards, metrics, pilot, rules
from cds_service.contracts import Hook
from cds_service.facts.build import build_facts
from cds_service.fhir_allowlist import fhir_server_allowed
from cds_service.ledger import Ledger
from cds_service.protocol.request import (
    HookRequest,
    OrderSelectContext,
    OrderSignContext,
    PatientViewContext,
)
from cds_service.repeats import already_overridden, order_fingerprints
from cds_service.resolution import resolve
from cds_service.services import ServiceDefinition
from cds_service.stages import StageTimer


@dataclass
class HookResult:
    response: dict[str, Any]
    card_count: int
    silent: bool = False  # shadow mode: cards recorded, `{"cards": []}` sent (pilot.py)
    repeats_left_out: int = 0  # order-sign cards already overridden for these orders (repeats.py)
    rule_ids: tuple[str, ...] = ()  # of the cards issued, for the request log


def run_hook(
    service: ServiceDefinition,
    request: HookRequest,
    context: PatientViewContext,
    config: Mapping[str, Any],
    ledger: Ledger,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    caller: Mapping[str, str] | None = None,
    timer: StageTimer,
) -> HookResult:
    """`caller`: the verified JWT's `iss` and `tenant` (recorded with the cards), if any;
    `timer`: the request's StageTimer (`stages`; the API times `parse` before and `respond`
    after these stages, and logs them all)."""
    caller = caller or {}
    allowlist = config["FHIR_ALLOWLIST"]
    resolved = resolve(
        service, request, config, is_allowed=lambda url: fhir_server_allowed(url, allowlist)
    )
    timer.lap("resolve")
    for key, outcome in resolved.outcomes.items():
        metrics.prefetch_key(service.id, key, outcome.source, str(outcome.state))
    # Not getattr(context, "draftOrders", None): a field a pydantic model lacks costs it two
    # exceptions to say so.
    draft_orders = context.draftOrders if isinstance(context, OrderSignContext) else None
    selections = context.selections if isinstance(context, OrderSelectContext) else ()
    facts = build_facts(
        resolved,
        patient_id=context.patientId,
        hook=service.hook,
        now=now(),
        draft_orders=draft_orders.resources() if draft_orders else (),
        selections=selections,
    )
    timer.lap("facts")
    findings = pilot.enabled_findings(rules.evaluate(facts, service.rules), config)
    timer.lap("rules")
    wire, issued = cards.render(
        findings,
        facts.patient_id,
        config.get("PROTOCOL_LINKS") or None,
        facts.unknown,
        facts.unreadable,
    )
    timer.lap("render")
    # Order fingerprints are only needed to record the cards or to find repeats among them.
    orders = (
        order_fingerprints(ledger, draft_orders.resources()) if draft_orders and issued else None
    )
    repeated: set[str] = set()
    if service.hook == Hook.ORDER_SIGN and orders is not None:
        repeated = already_overridden(
            ledger,
            issued,
            patient_id=context.patientId,
            encounter_id=context.encounterId,
            orders=orders,
        )
        issued = [i for i in issued if i.card["uuid"] not in repeated]
        wire = {**wire, "cards": [c for c in wire["cards"] if c["uuid"] not in repeated]}
    silent = pilot.is_silent(service.id, config)
    ledger.record_cards(
        issued,
        service_id=service.id,
        hook_instance=request.hookInstance,
        patient_id=context.patientId,
        issuer=caller.get("iss"),
        tenant=caller.get("tenant"),
        silent=silent,
        encounter_id=context.encounterId,
        draft_orders=orders,
    )
    timer.lap("ledger")
    metrics.cards_issued((i.rule_ids, i.card["indicator"]) for i in issued)
    response_body = {"cards": []} if silent else wire
    rule_ids = tuple(sorted({rule_id for i in issued for rule_id in i.rule_ids}))
    return HookResult(response_body, len(issued), silent, len(repeated), rule_ids)
