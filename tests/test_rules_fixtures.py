"""Every scenario in fhir_fixtures/scenarios.json, through the real facts layer and the rules.

Each transaction Bundle must parse as FHIR R4 (fhir.resources.R4B) with PUT requests on stable,
scenario-prefixed ids; its resources are handed to `build_facts` as if prefetched, with the draft
orders and selections of the scenario, at the scenario's fixed `now` (freshness windows are
relative to it); the rules must then fire the expected rules at the expected indicator and none of
the forbidden ones. The lead's end-to-end tests run the same table through the HTTP service.
"""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from cds_service.facts.build import build_facts
from cds_service.resolution.resolved import KeyOutcome, KeyState, ResolvedData
from cds_service.rules import evaluate, load_rules, rules_for
from cds_service.scenarios import Scenario, load_scenarios

REGISTRY = load_rules()

SCENARIOS = list(load_scenarios().values())
KEYS = {
    "Patient": "patient",
    "Condition": "conditions",
    "Observation": "observations",
    "MedicationRequest": "medications",
    "ServiceRequest": "serviceRequests",
    "Procedure": "procedures",
    "MedicationAdministration": "administrations",
}


def _resolved(bundle: dict[str, Any]) -> ResolvedData:
    by_key: dict[str, list[dict[str, Any]]] = {key: [] for key in KEYS.values()}
    for entry in bundle["entry"]:
        by_key[KEYS[entry["resource"]["resourceType"]]].append(entry["resource"])
    return ResolvedData(
        {
            key: KeyOutcome(
                key, KeyState.PROVIDED if found else KeyState.EMPTY, "prefetch", tuple(found)
            )
            for key, found in by_key.items()
        }
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fixture_bundle_is_a_valid_r4_transaction_with_stable_prefixed_ids(
    scenario: Scenario,
) -> None:
    raw = scenario.bundle
    Bundle.model_validate(raw)
    assert raw["type"] == "transaction"
    types = set()
    for entry in raw["entry"]:
        resource = entry["resource"]
        types.add(resource["resourceType"])
        assert resource["id"].startswith(scenario.patient_id) and not resource["id"].isdigit()
        assert entry["request"] == {
            "method": "PUT",
            "url": f"{resource['resourceType']}/{resource['id']}",
        }
    assert "Patient" in types


def test_fixture_ids_never_collide_across_scenarios() -> None:
    seen: set[str] = set()
    for scenario in SCENARIOS:
        urls = {e["request"]["url"] for e in scenario.bundle["entry"]}
        assert not urls & seen
        seen |= urls


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fixture_scenario_fires_expected_rules_and_no_forbidden_ones(
    scenario: Scenario,
) -> None:
    facts = build_facts(
        _resolved(scenario.bundle),
        patient_id=scenario.patient_id,
        hook=scenario.hook,
        now=scenario.now,
        draft_orders=list(scenario.draft_orders),
        selections=list(scenario.selections),
    )
    fired: dict[str, set[str]] = {}
    for finding in evaluate(facts, rules_for(facts.hook)):
        fired.setdefault(finding.rule_id, set()).add(finding.urgency.value)
    for rule_id, indicator in scenario.expected_indicators.items():
        assert indicator in fired.get(rule_id, set()), (rule_id, fired)
    assert not set(scenario.forbidden_rules) & set(fired), fired
    assert set(scenario.expected_rules) <= set(REGISTRY)
