"""Explain mode: the facts recognised and not recognised, and why each rule fired or stayed silent
(`cds-service invoke --explain`, the preview's Explain panel)."""

from __future__ import annotations

import copy
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cds_service.cli import main
from cds_service.config import load_config
from cds_service.explain import Explanation, explain_call, format_explanation
from cds_service.protocol.request import HookRequest
from cds_service.scenarios import FIXTURES_DIR, load_scenarios
from cds_service.services import load_services

SCENARIOS = load_scenarios()
CONFIG = load_config()
SERVICES = load_services(Path(CONFIG["HOOKS_DIR"]))
WHO_ICD10 = "http://hl7.org/fhir/sid/icd-10"


def _hemi(change: Any = None) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads((FIXTURES_DIR / "ae-hemi-clear.json").read_text())
    if change:
        for entry in bundle["entry"]:
            change(entry["resource"])
    return bundle


def _explain_bundle(
    bundle: dict[str, Any], service_id: str = "immunotherapy-guidance"
) -> Explanation:
    from cds_service.hook_requests import build_request

    service = SERVICES[service_id]
    body = build_request(service, bundle)
    now = SCENARIOS["ae-hemi-clear"].now
    return explain_call(service, HookRequest.model_validate(body), CONFIG, now=now)


def _explain_scenario(name: str) -> Explanation:
    scenario = SCENARIOS[name]
    body = scenario.request(SERVICES)
    return explain_call(
        SERVICES[scenario.service_id], HookRequest.model_validate(body), CONFIG, now=scenario.now
    )


def _notes(explanation: Explanation) -> dict[str, str]:
    return {n.reference: n.reason for n in explanation.facts.not_recognised}


def _rule(explanation: Explanation, rule_id: str) -> Any:
    return next(r for r in explanation.rules if r.rule_id == rule_id)


def _who_coded(resource: dict[str, Any]) -> None:
    if resource["resourceType"] == "Condition":
        for coding in resource["code"]["coding"]:
            coding["system"] = WHO_ICD10


def test_who_icd10_conditions_are_named_as_an_unrecognised_code_system() -> None:
    explanation = _explain_bundle(_hemi(_who_coded))
    assert explanation.facts.conditions == ()
    reason = _notes(explanation)["Condition/ae-hemi-clear-cond-1"]
    assert reason.startswith(
        f"code system not recognised: WHO ICD-10 ({WHO_ICD10}) G04.81; the service reads"
    )
    assert "ICD-10-CM (http://hl7.org/fhir/sid/icd-10-cm)" in reason
    gate = _rule(explanation, "ae-csf-infection-gate")
    assert not gate.fired and gate.stopped_at == "if not (ae or ane)"
    assert "ae = facts.active(ConditionCategory.AUTOIMMUNE_ENCEPHALITIS)" in gate.where


def test_invoke_explain_prints_the_cards_then_why(tmp_path: Path) -> None:
    bundle = tmp_path / "who.json"
    bundle.write_text(json.dumps(_hemi(_who_coded)))
    result = CliRunner().invoke(
        main,
        [
            *("invoke", "--bundle", str(bundle), "--service", "immunotherapy-guidance"),
            *("--as-of", "2026-03-01", "--explain"),
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("No cards: nothing in this record calls for advice.")
    assert f"code system not recognised: WHO ICD-10 ({WHO_ICD10}) G04.81" in out
    assert "ae-first-line-choice: silent at line" in out


def test_a_non_numeric_weight_and_an_unconvertible_sodium_are_said_not_used() -> None:
    def spoil(resource: dict[str, Any]) -> None:
        code = resource.get("code", {}).get("coding", [{}])[0].get("code")
        if code == "29463-7":
            del resource["valueQuantity"]
            resource["valueString"] = "72 kg"
        if code == "2951-2":
            resource["valueQuantity"].update(unit="mg", code="mg")

    notes = _notes(_explain_bundle(_hemi(spoil)))
    assert notes["Observation/ae-hemi-clear-obs-5"] == "Body weight: no numeric value; not used"
    sodium = [r for r in notes.values() if r.startswith("Sodium")]
    assert sodium == ["Sodium: unit 'mg' cannot be converted to mmol/L; not used"]


def test_an_entered_in_error_result_is_listed_as_never_used() -> None:
    notes = _notes(_explain_scenario("ae-hsv-eie"))
    assert any("status entered-in-error: never used" in r for r in notes.values()), notes


def test_a_refuted_diagnosis_is_recognised_but_never_counts() -> None:
    notes = _notes(_explain_scenario("ae-refuted"))
    assert any("verificationStatus refuted: never counts" in r for r in notes.values()), notes


def test_recognised_facts_carry_their_code_value_freshness_and_how_a_therapy_was_found() -> None:
    explanation = _explain_scenario("gbs-mp")
    [condition] = explanation.facts.conditions
    assert condition["category"] == "guillain-barre" and condition["code"].endswith(" G61.0")
    [weight] = [row for row in explanation.facts.labs if row["kind"] == "weight"]
    assert weight["value"] == 80 and weight["unit"] == "kg" and weight["current"] is True
    assert weight["freshnessHours"] == 720
    [steroid] = explanation.facts.therapies
    assert steroid["recognisedBy"] == "code" and steroid["draft"] and steroid["selected"]
    ivig = _explain_scenario("gbs-ivig").facts.therapies
    assert [t["recognisedBy"] for t in ivig if t["therapy"] == "ivig"] == ["name"]


def test_every_rule_of_the_service_is_reported_once_fired_or_with_its_reason() -> None:
    explanation = _explain_scenario("gbs-mp")
    service = SERVICES["immunotherapy-order-select"]
    assert [r.rule_id for r in explanation.rules] == [r.id for r in service.rules]
    fired = [r for r in explanation.rules if r.fired]
    assert [r.rule_id for r in fired] == ["gbs-corticosteroid-not-recommended"]
    assert fired[0].findings[0].startswith("critical: Steroids are not recommended")
    for silent in (r for r in explanation.rules if not r.fired):
        assert silent.stopped_at and silent.line, silent


def test_a_silent_rule_deciding_in_a_helper_is_traced_into_it() -> None:
    trace = _rule(_explain_scenario("gbs-mp"), "ivig-order-plex-may-be-preferred")
    assert trace.stopped_at.startswith("if not indication")
    assert trace.stopped_at.endswith("(in _alternative_first_line)")


def test_a_loop_that_finds_nothing_says_where_each_pass_stopped() -> None:
    trace = _rule(_explain_scenario("gbs-mp"), "immunotherapy-dose-check")
    assert trace.stopped_at.startswith("for order in orders_under_review(facts): each pass stopped")


def test_tracing_leaves_the_tracer_it_found() -> None:
    before = sys.gettrace()
    _explain_scenario("none-pv")
    assert sys.gettrace() is before


def test_the_text_and_json_forms_agree() -> None:
    explanation = _explain_scenario("ae-hemi-clear")
    text = format_explanation(explanation)
    data = explanation.as_dict()
    assert text.splitlines()[0].startswith("Explain: immunotherapy-guidance (patient-view)")
    assert [r["rule"] for r in data["rules"]] == [r.rule_id for r in explanation.rules]
    assert datetime.fromisoformat(data["judgedAt"]) == SCENARIOS["ae-hemi-clear"].now
    for row in data["conditions"]:
        assert row["reference"] in text


def test_invoke_json_explain_holds_the_response_and_the_explanation() -> None:
    result = CliRunner().invoke(main, ["invoke", "--scenario", "gbs-mp", "--json", "--explain"])
    assert result.exit_code == 0, result.output
    both = json.loads(result.stdout)
    assert both["response"]["cards"][0]["indicator"] == "critical"
    assert any(r["fired"] for r in both["explain"]["rules"])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_fixture_explains_the_rules_its_table_row_expects(name: str) -> None:
    """The rules explain says fired are the ones the fixture table expects (and none it forbids)."""
    scenario = SCENARIOS[name]
    fired = {r.rule_id for r in _explain_scenario(name).rules if r.fired}
    assert set(scenario.expected_rules) <= fired
    assert not fired & set(scenario.forbidden_rules)


def test_explain_does_not_change_the_input() -> None:
    bundle = _hemi()
    kept = copy.deepcopy(bundle)
    _explain_bundle(bundle)
    assert bundle == kept
