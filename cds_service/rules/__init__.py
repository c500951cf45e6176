"""The rule engine: pure functions from typed facts to findings, one module per clinical topic.

A rule is registered with `@rule(id, hooks=..., seed=..., fires=..., silent=...)`. Each service
definition in `hooks/` names the rule ids it runs, and `evaluate(facts, rule_ids)` runs exactly
those, in the order given, so a second service on the same hook can run its own set. Rule modules
are discovered: every module directly in this package is imported by `load_rules()`, and each must
register at least one rule (`cds_service.rules.support` holds what rules share and registers
none). Every rule carries its examples: fixture scenarios (`fhir_fixtures/scenarios.json`) where
it must fire and twins where it must stay silent, run by `tests/test_rule_examples.py`.
Rules never see Flask, HTTP or raw JSON, and each one cites its source in its findings.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from cds_service.contracts import Hook
from cds_service.facts.model import PatientFacts
from cds_service.findings import Finding
from cds_service.frozen import fast_init

RuleFunction = Callable[[PatientFacts], Iterable[Finding]]


@fast_init
@dataclass(frozen=True)
class Rule:
    id: str
    hooks: frozenset[Hook]
    function: RuleFunction
    seed: str  # the source document the rule implements (provenance, not shown to clinicians)
    module: str = ""
    fires: tuple[str, ...] = ()  # fixture scenarios where the rule must fire
    silent: tuple[str, ...] = ()  # twins where it must stay silent


_REGISTRY: dict[str, Rule] = {}


def rule(
    rule_id: str,
    *,
    hooks: Iterable[Hook],
    seed: str,
    fires: Sequence[str],
    silent: Sequence[str],
) -> Callable[[RuleFunction], RuleFunction]:
    """Register a rule function under a stable id (the id keys the feedback report)."""

    def register(function: RuleFunction) -> RuleFunction:
        if rule_id in _REGISTRY:
            raise ValueError(f"rule id {rule_id!r} registered twice")
        if not fires or not silent:
            raise ValueError(
                f"rule {rule_id!r} needs examples that fire and twins that stay silent"
            )
        _REGISTRY[rule_id] = Rule(
            rule_id,
            frozenset(Hook(h) for h in hooks),
            function,
            seed,
            function.__module__,
            tuple(fires),
            tuple(silent),
        )
        return function

    return register


def rule_modules() -> list[str]:
    """The names of the rule modules in this package (subpackages are support, not rules)."""
    return sorted(
        f"{__name__}.{info.name}"
        for info in pkgutil.iter_modules(__path__)
        if not info.ispkg and not info.name.startswith("_")
    )


def load_rules() -> MappingProxyType[str, Rule]:
    """Import every rule module (once) and return the registry, keyed by rule id."""
    for name in rule_modules():
        importlib.import_module(name)
    return MappingProxyType(_REGISTRY)


def rules_for(hook: str) -> list[Rule]:
    return [r for r in load_rules().values() if hook in r.hooks]


def resolve_rules(rule_ids: Iterable[str], hook: str) -> tuple[Rule, ...]:
    """The rules a service names, checked: each id exists and serves the service's hook."""
    registry = load_rules()
    chosen = []
    for rule_id in rule_ids:
        found = registry.get(rule_id)
        if found is None:
            raise LookupError(f"no rule {rule_id!r}")
        if hook not in found.hooks:
            raise LookupError(f"rule {rule_id!r} does not serve hook {hook}")
        chosen.append(found)
    return tuple(chosen)


def evaluate(facts: PatientFacts, rules: Iterable[Rule]) -> list[Finding]:
    findings: list[Finding] = []
    for registered in rules:
        for finding in registered.function(facts):
            if finding.rule_id != registered.id:
                raise ValueError(f"rule {registered.id} returned a finding for {finding.rule_id}")
            findings.append(finding)
    return findings
