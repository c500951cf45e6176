"""The rule engine: pure functions from typed facts to findings, one module per clinical topic.

A rule is registered with `@rule(id, hooks=...)`; `evaluate(facts)` runs every rule registered
for `facts.hook` and returns their findings in registry order. Rules never see Flask, HTTP or raw
JSON (architecture.md), and each one cites its seed document and guideline in its findings.
Topic modules are imported at the bottom so that importing `cds_service.rules` registers them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cds_service.facts.model import PatientFacts
from cds_service.findings import Finding

RuleFunction = Callable[[PatientFacts], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    hooks: frozenset[str]
    function: RuleFunction
    seed: str  # shared/seeds document id the rule implements, e.g. "000"


REGISTRY: dict[str, Rule] = {}


def rule(
    rule_id: str, *, hooks: Iterable[str], seed: str
) -> Callable[[RuleFunction], RuleFunction]:
    """Register a rule function under a stable id (the id keys the feedback report)."""

    def register(function: RuleFunction) -> RuleFunction:
        if rule_id in REGISTRY:
            raise ValueError(f"rule id {rule_id!r} registered twice")
        REGISTRY[rule_id] = Rule(rule_id, frozenset(hooks), function, seed)
        return function

    return register


def rules_for(hook: str) -> list[Rule]:
    return [r for r in REGISTRY.values() if hook in r.hooks]


def evaluate(facts: PatientFacts) -> list[Finding]:
    findings: list[Finding] = []
    for registered in rules_for(facts.hook):
        for finding in registered.function(facts):
            if finding.rule_id != registered.id:
                raise ValueError(f"rule {registered.id} returned a finding for {finding.rule_id}")
            findings.append(finding)
    return findings


# Topic modules register their rules on import (kept last: they import `rule` from this module).
from cds_service.rules import (  # noqa: E402, F401
    ane,
    csf_gate,
    dose_checks,
    escalation,
    first_line,
    guillain_barre,
    order_checks,
    plexopathy,
)
