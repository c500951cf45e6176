"""Every fixture scenario through the HTTP API, as an over-delivering EHR would send it: the
expected rules speak with the expected indicator, the forbidden ones stay silent, the response
is valid CDS Hooks, and a record with none of the conditions gets `{"cards": []}`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from cds_service import create_app, extensions
from cds_service.ledger import card_rules, get_ledger
from cds_service.protocol.response import CdsResponse
from cds_service.scenarios import Scenario, load_scenarios

SCENARIOS = load_scenarios()


def assert_expected_cards(scenario: Scenario, app: Flask, request: dict[str, Any]) -> None:
    """POST `request` to the scenario's service and check the cards against its table row (the
    ledger says which rule issued each card)."""
    response = app.test_client().post(f"/cds-services/{scenario.service_id}", json=request)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    CdsResponse.model_validate(body)
    with app.app_context():
        get_ledger().flush()
        with get_ledger().engine.connect() as conn:
            rows = [(row.card_uuid, row.rule_id) for row in conn.execute(select(card_rules))]
    # A grouped card records every rule behind it; the first (lead) sets its indicator.
    lead: dict[str, str] = {}
    for card_uuid, rule_id in rows:
        lead.setdefault(card_uuid, rule_id)
    indicators = {
        lead[card["uuid"]]: card["indicator"] for card in body["cards"] if card["uuid"] in lead
    }
    rules = {rule_id for _, rule_id in rows}
    assert set(scenario.expected_rules) <= rules, f"{scenario.title}: fired {sorted(rules)}"
    assert not rules & set(scenario.forbidden_rules), f"{scenario.title}: fired {sorted(rules)}"
    for rule_id, indicator in scenario.expected_indicators.items():
        if rule_id in indicators:  # the lead rule of a grouped card sets its indicator
            assert indicators[rule_id] == indicator
    if not scenario.expected_rules:
        assert body == {"cards": []}
    assert len(body["cards"]) <= 3, "a clinician should see at most a few cards per call"


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=lambda s: s.name)
def test_scenario_gives_its_expected_cards(scenario: Scenario, tmp_path: Path) -> None:
    app = create_app(
        {
            "AUTH_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
            "CLOCK": lambda: scenario.now,
        }
    )
    assert_expected_cards(scenario, app, scenario.request(extensions.services(app)))
