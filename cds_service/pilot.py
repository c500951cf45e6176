"""Pilot controls: shadow (silent) mode per service, and rules switched off per deployment.

A site going live wants to see what the service would have said before any clinician sees it,
and to keep a rule it has not yet agreed on quiet. Two settings do that:

- `CDS_SILENT_SERVICES`: the listed services run in full (data, facts, rules, cards) and record
  their cards in the ledger marked `silent`, but answer the EHR `{"cards": []}`. The feedback
  report then shows, per rule, what would have fired.
- `CDS_DISABLED_RULES`: findings of the listed rule ids are dropped before cards are rendered, so
  no card, no ledger row and no suggestion comes from them. It is a filter on each finding's rule id
  in the pipeline, outside the rules themselves.

Both are checked at start: an id that names no service, or no rule of any configured service, stops
the start (a typo must not leave a rule firing that the site believes is off). Both are shown to
operators at `GET /operator/pilot` and by `cds-service config`, never in the EHR's discovery.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify

from cds_service import extensions
from cds_service.findings import Finding
from cds_service.services import ServiceDefinition

OPERATOR_PATH = "/operator/pilot"

blueprint = Blueprint("pilot", __name__)


class PilotConfigError(ValueError):
    """CDS_SILENT_SERVICES or CDS_DISABLED_RULES names something that does not exist."""


def is_silent(service_id: str, config: Mapping[str, Any]) -> bool:
    return service_id in config["SILENT_SERVICES"]


def enabled_findings(findings: Sequence[Finding], config: Mapping[str, Any]) -> list[Finding]:
    """The findings whose rule is not switched off in this deployment."""
    disabled = set(config["DISABLED_RULES"])
    return [f for f in findings if f.rule_id not in disabled]


def _service_rule_ids(service: ServiceDefinition) -> list[str]:
    return [r.id for r in service.rules]


def check(config: Mapping[str, Any], services: Mapping[str, ServiceDefinition]) -> None:
    """Refuse ids that name no service or no rule; raises PilotConfigError."""
    unknown_services = [s for s in config["SILENT_SERVICES"] if s not in services]
    if unknown_services:
        raise PilotConfigError(
            f"CDS_SILENT_SERVICES names no such service: {', '.join(unknown_services)} "
            f"(services: {', '.join(services)})"
        )
    known_rules = {r for service in services.values() for r in _service_rule_ids(service)}
    unknown_rules = [r for r in config["DISABLED_RULES"] if r not in known_rules]
    if unknown_rules:
        raise PilotConfigError(
            f"CDS_DISABLED_RULES names no rule of any service: {', '.join(unknown_rules)}"
        )


def summary(config: Mapping[str, Any], services: Iterable[ServiceDefinition]) -> dict[str, Any]:
    """What the operator sees: per service, shadow mode and each rule's state."""
    disabled = set(config["DISABLED_RULES"])
    return {
        "services": [
            {
                "id": service.id,
                "hook": service.hook,
                "mode": "silent" if is_silent(service.id, config) else "live",
                "rules": [
                    {"id": rule_id, "enabled": rule_id not in disabled}
                    for rule_id in _service_rule_ids(service)
                ],
            }
            for service in services
        ],
        "silentServices": list(config["SILENT_SERVICES"]),
        "disabledRules": list(config["DISABLED_RULES"]),
    }


@blueprint.get(OPERATOR_PATH)
def operator_pilot() -> Response:
    return jsonify(summary(current_app.config, extensions.services().values()))


def init_app(app: Flask) -> None:
    check(app.config, extensions.services(app))
    app.register_blueprint(blueprint)
