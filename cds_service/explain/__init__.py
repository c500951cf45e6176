"""Explain mode: why a hook call gave the cards it gave, or none.

`explain_call` runs the first two stages of a hook call as the service does (resolve the data,
build the facts; `pipeline.run_hook`) and then, instead of recording cards, reports what the facts
layer recognised and what it could not use (`facts_report`) and, for each rule the service names,
whether it fired and, if not, the first condition that kept it silent (`rule_trace`). Nothing is
written to the ledger. Used by `cds-service invoke --explain` and the preview page's Explain panel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cds_service.explain.facts_report import FactsReport, facts_report
from cds_service.explain.rule_trace import RuleTrace, trace_rules
from cds_service.facts.build import build_facts
from cds_service.frozen import fast_init
from cds_service.protocol.request import HookRequest, OrderSelectContext, parse_context
from cds_service.resolution import resolve
from cds_service.services import ServiceDefinition

__all__ = ["Explanation", "explain_call", "format_explanation"]


@fast_init
@dataclass(frozen=True)
class Explanation:
    service_id: str
    hook: str
    now: datetime
    facts: FactsReport
    rules: tuple[RuleTrace, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service_id,
            "hook": self.hook,
            "judgedAt": self.now.isoformat(),
            **self.facts.as_dict(),
            "rules": [r.as_dict() for r in self.rules],
        }


def explain_call(
    service: ServiceDefinition,
    request: HookRequest,
    config: Mapping[str, Any],
    *,
    now: datetime | None = None,
    is_allowed: Callable[[str], bool] | None = None,
) -> Explanation:
    """Resolve and build facts as a hook call would; raises what the hook call would raise
    (pydantic's ValidationError for a bad context, DataUnavailable for 412)."""
    context = parse_context(service.hook, request.context)
    resolved = resolve(service, request, config, is_allowed=is_allowed)
    drafts_bundle = getattr(context, "draftOrders", None)
    drafts = drafts_bundle.resources() if drafts_bundle else []
    at = now or datetime.now(UTC)
    facts = build_facts(
        resolved,
        patient_id=context.patientId,
        hook=service.hook,
        now=at,
        draft_orders=drafts,
        selections=context.selections if isinstance(context, OrderSelectContext) else (),
    )
    resources = {key: resolved.resources(key) for key in resolved.outcomes}
    return Explanation(
        service.id,
        service.hook,
        at,
        facts_report(facts, resources, drafts),
        tuple(trace_rules(service.rules, facts)),
    )


def _lab_line(row: dict[str, Any]) -> str:
    if "reference" not in row:
        return f"  - {row['label']}: no usable value"
    value = row.get("result") or f"{row.get('value'):g} {row.get('unit') or ''}".strip()
    recorded = f" (recorded as {row['asRecorded']})" if row.get("asRecorded") else ""
    age = f"{row['ageHours']:g} h old" if row.get("ageHours") is not None else "undated"
    fresh = (
        "current, used"
        if row["current"]
        else f"stale (window {row['freshnessHours']:g} h), not used as current"
    )
    return f"  - {row['label']}: {value}{recorded}, {age}, {fresh} ({row['reference']})"


def format_explanation(explanation: Explanation) -> str:
    """The explanation as text for a terminal."""
    report = explanation.facts
    judged = explanation.now.isoformat(timespec="seconds")
    out = [f"Explain: {explanation.service_id} ({explanation.hook}), judged at {judged}"]
    out.append("Conditions recognised:")
    out += [
        f"  - {c['category']}: {c['code']} {c['display'] or ''} ({c['reference']}; "
        f"{'active' if c['active'] else 'not active'})".replace("  (", " (")
        for c in report.conditions
    ] or ["  (none)"]
    out.append("Labs:")
    out += [_lab_line(row) for row in report.labs] or ["  (none the rules read)"]
    out.append(f"CSF infection status: {report.csf['status']}")
    out.append("Therapies:")
    out += [
        f"  - {t['therapy']}: {t['display'] or ''} ({t['reference']}, status {t['status']}, "
        f"recognised by {t['recognisedBy']}{', draft order' if t['draft'] else ''}"
        f"{', selected' if t['selected'] else ''})"
        for t in report.therapies
    ] or ["  (none)"]
    out.append("Present but not recognised or not used:")
    out += [f"  - {n.reference}: {n.reason}" for n in report.not_recognised] or ["  (nothing)"]
    if report.unavailable:
        out.append(f"Could not be obtained: {', '.join(report.unavailable)}")
    out.append("Rules:")
    for trace in explanation.rules:
        if trace.fired:
            out.append(f"  - {trace.rule_id}: fired")
            out += [f"      {f}" for f in trace.findings]
        else:
            out.append(f"  - {trace.rule_id}: silent at line {trace.line}: {trace.stopped_at}")
            out += [f"      where {w}" for w in trace.where]
    return "\n".join(out)
