"""Every scenario in fhir_fixtures/scenarios.json, through the real facts layer and the rules.

Each transaction Bundle must parse as FHIR R4 (fhir.resources.R4B) with PUT requests on stable,
scenario-prefixed ids; its resources are handed to `build_facts` as if prefetched, with the draft
orders and selections of the scenario, at the scenario's fixed `now` (freshness windows are
relative to it); the rules must then fire the expected rules at the expected indicator and none of
the forbidden ones. The lead's end-to-end tests run the same table through the HTTP service.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from cds_service.facts.build import build_facts
from cds_service.resolution.resolved import KeyOutcome, KeyState, ResolvedData
from cds_service.rules import REGISTRY, evaluate

FIXTURES = Path(__file__).resolve().parent.parent / "fhir_fixtures"
SCENARIOS: list[dict[str, Any]] = json.loads((FIXTURES / "scenarios.json").read_text())
KEYS = {
    "Patient": "patient",
    "Condition": "conditions",
    "Observation": "observations",
    "MedicationRequest": "medications",
    "ServiceRequest": "serviceRequests",
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


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_fixture_bundle_is_a_valid_r4_transaction_with_stable_prefixed_ids(
    scenario: dict[str, Any],
) -> None:
    raw = json.loads((FIXTURES / scenario["bundle"]).read_text())
    Bundle.model_validate(raw)
    assert raw["type"] == "transaction"
    types = set()
    for entry in raw["entry"]:
        resource = entry["resource"]
        types.add(resource["resourceType"])
        assert resource["id"].startswith(scenario["patientId"]) and not resource["id"].isdigit()
        assert entry["request"] == {
            "method": "PUT",
            "url": f"{resource['resourceType']}/{resource['id']}",
        }
    assert "Patient" in types


def test_fixture_ids_never_collide_across_scenarios() -> None:
    seen: set[str] = set()
    for scenario in SCENARIOS:
        raw = json.loads((FIXTURES / scenario["bundle"]).read_text())
        urls = {e["request"]["url"] for e in raw["entry"]}
        assert not urls & seen
        seen |= urls


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_fixture_scenario_fires_expected_rules_and_no_forbidden_ones(
    scenario: dict[str, Any],
) -> None:
    raw = json.loads((FIXTURES / scenario["bundle"]).read_text())
    drafts = [e["resource"] for e in scenario.get("draftOrders", {}).get("entry", [])]
    facts = build_facts(
        _resolved(raw),
        patient_id=scenario["patientId"],
        hook=scenario["hook"],
        now=datetime.fromisoformat(scenario["now"]),
        draft_orders=drafts,
        selections=scenario.get("selections", []),
    )
    fired: dict[str, set[str]] = {}
    for finding in evaluate(facts):
        fired.setdefault(finding.rule_id, set()).add(finding.urgency.value)
    for rule_id, indicator in scenario["expectedIndicators"].items():
        assert indicator in fired.get(rule_id, set()), (rule_id, fired)
    assert not set(scenario["forbiddenRules"]) & set(fired), fired
    assert set(scenario["expectedRules"]) <= set(REGISTRY)
