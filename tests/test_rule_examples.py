"""Every rule carries its examples: fixture scenarios where it must fire, twins where it must not.

One parametrised test runs each rule's own examples (declared in its `@rule(...)`), so adding a
rule is its module, its code rows and its fixtures. Also here: the rule modules are discovered
and each registers something, and every id a service lists exists and serves its hook.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from cds_service import rules
from cds_service.facts.build import build_facts
from cds_service.scenarios import Scenario, load_scenarios
from cds_service.services import load_services
from tests.test_rules_fixtures import _resolved

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = rules.load_rules()
SCENARIOS = load_scenarios()
SERVICES = load_services(ROOT / "hooks")

CASES = [
    pytest.param(rule, name, fires, id=f"{rule.id}-{'fires' if fires else 'silent'}-{name}")
    for rule in REGISTRY.values()
    for fires, names in ((True, rule.fires), (False, rule.silent))
    for name in names
]


def _fired(rule: rules.Rule, scenario: Scenario) -> bool:
    facts = build_facts(
        _resolved(scenario.bundle),
        patient_id=scenario.patient_id,
        hook=scenario.hook,
        now=scenario.now,
        draft_orders=scenario.draft_orders,
        selections=scenario.selections,
    )
    return any(f.rule_id == rule.id for f in rules.evaluate(facts, (rule,)))


@pytest.mark.parametrize(("rule", "name", "fires"), CASES)
def test_each_rule_fires_on_its_examples_and_stays_silent_on_its_twins(
    rule: rules.Rule, name: str, fires: bool
) -> None:
    scenario = SCENARIOS[name]
    assert scenario.hook in rule.hooks, f"{name} runs on {scenario.hook}, which {rule.id} ignores"
    assert _fired(rule, scenario) is fires


def test_every_rule_has_examples_both_ways_and_agrees_with_the_scenario_table() -> None:
    for rule in REGISTRY.values():
        assert rule.fires and rule.silent, rule.id
        for name in rule.fires:
            assert rule.id in SCENARIOS[name].expected_rules, (rule.id, name)
        for name in rule.silent:
            assert rule.id not in SCENARIOS[name].expected_rules, (rule.id, name)


def test_every_rule_module_is_discovered_and_registers_at_least_one_rule() -> None:
    modules = rules.rule_modules()
    assert modules, "no rule modules found"
    for name in modules:
        importlib.import_module(name)
        assert any(r.module == name for r in REGISTRY.values()), f"{name} registers no rule"


def test_every_registered_rule_is_run_by_some_service() -> None:
    listed = {r.id for service in SERVICES.values() for r in service.rules}
    assert set(REGISTRY) == listed


def test_a_service_naming_an_unknown_rule_or_one_of_another_hook_is_refused() -> None:
    with pytest.raises(LookupError, match="no rule 'no-such-rule'"):
        rules.resolve_rules(["no-such-rule"], "patient-view")
    with pytest.raises(LookupError, match="does not serve hook patient-view"):
        rules.resolve_rules(["immunotherapy-dose-check"], "patient-view")


def test_the_rules_command_lists_every_rule_with_its_provenance() -> None:
    import json as _json

    from click.testing import CliRunner

    from cds_service.cli import main

    result = CliRunner().invoke(main, ["rules", "--json", "--hooks-dir", str(ROOT / "hooks")])
    assert result.exit_code == 0, result.output
    # the CLI may print a log line (the authentication warning) before the JSON
    listed = _json.loads(result.output[result.output.index("[") :])
    rows = {row["id"]: row for row in listed}
    assert set(rows) == set(REGISTRY)
    assert rows["gbs-corticosteroid-not-recommended"]["seed"] == "000"
    assert rows["gbs-corticosteroid-not-recommended"]["services"]
