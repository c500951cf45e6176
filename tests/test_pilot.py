"""Pilot controls: shadow (silent) mode per service and per-deployment rule switches, recorded in
the ledger, shown to operators, and kept out of the EHR's discovery."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import column, insert, select, table

from cds_service import create_app, extensions, migrate
from cds_service.cli import main
from cds_service.config import load_config
from cds_service.database import open_engine
from cds_service.ledger import card_rules, get_ledger, issued_cards
from cds_service.pilot import PilotConfigError
from cds_service.scenarios import Scenario, load_scenarios
from cds_service.services import load_services
from tests.fake_ehr import write_trusted_issuers

SCENARIOS = load_scenarios()
GBS = SCENARIOS["gbs-mp"]  # order-select: a corticosteroid order in GBS (a critical card)
ANE = SCENARIOS["ane-early"]  # patient-view on another service


def pilot_app(tmp_path: Path, scenario: Scenario, **settings: Any) -> Flask:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return create_app(
        {
            "AUTH_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
            "CLOCK": lambda: scenario.now,
            **settings,
        }
    )


def call(app: Flask, scenario: Scenario) -> dict[str, Any]:
    request = scenario.request(extensions.services(app))
    response = app.test_client().post(f"/cds-services/{scenario.service_id}", json=request)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def ledger_rows(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        get_ledger().flush()
        with get_ledger().engine.connect() as conn:
            joined = issued_cards.join(card_rules)
            query = select(
                issued_cards.c.service_id, issued_cards.c.silent, card_rules.c.rule_id
            ).select_from(joined)
            return [dict(row._mapping) for row in conn.execute(query)]


def test_a_silent_service_answers_no_cards_and_records_them_marked_silent(
    tmp_path: Path,
) -> None:
    live = call(pilot_app(tmp_path / "live", GBS), GBS)
    assert live["cards"], "the scenario must fire for the comparison to mean anything"
    app = pilot_app(tmp_path / "silent", GBS, SILENT_SERVICES=[GBS.service_id])
    assert call(app, GBS) == {"cards": []}
    rows = ledger_rows(app)
    assert {r["rule_id"] for r in rows} >= set(GBS.expected_rules)
    assert rows and all(r["silent"] for r in rows)
    assert len({r["rule_id"] for r in rows}) >= len(live["cards"]) > 0


def test_other_services_stay_live_and_their_cards_are_not_marked(tmp_path: Path) -> None:
    app = pilot_app(tmp_path, ANE, SILENT_SERVICES=[GBS.service_id])
    assert call(app, ANE)["cards"]
    rows = ledger_rows(app)
    assert rows and not any(r["silent"] for r in rows)


def test_a_disabled_rule_gives_no_card_and_no_ledger_row(tmp_path: Path) -> None:
    (rule_id,) = GBS.expected_rules
    app = pilot_app(tmp_path, GBS, DISABLED_RULES=[rule_id])
    body = call(app, GBS)
    assert rule_id not in {r["rule_id"] for r in ledger_rows(app)}
    assert all("corticosteroid" not in c["summary"].lower() for c in body["cards"]), body


def test_a_disabled_rule_only_affects_that_rule(tmp_path: Path) -> None:
    app = pilot_app(tmp_path, ANE, DISABLED_RULES=list(GBS.expected_rules))
    assert call(app, ANE)["cards"]
    assert set(ANE.expected_rules) <= {r["rule_id"] for r in ledger_rows(app)}


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"SILENT_SERVICES": ["immunotherapy-guidnce"]}, "CDS_SILENT_SERVICES names no such"),
        ({"DISABLED_RULES": ["gbs-corticosteroid"]}, "CDS_DISABLED_RULES names no rule"),
    ],
)
def test_an_id_that_names_nothing_stops_the_start(
    tmp_path: Path, settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(PilotConfigError, match=problem):
        pilot_app(tmp_path, GBS, **settings)


def test_the_settings_read_comma_separated_ids_from_the_environment() -> None:
    config = load_config({"CDS_SILENT_SERVICES": "a, b", "CDS_DISABLED_RULES": "r1,,r2 "})
    assert config["SILENT_SERVICES"] == ["a", "b"]
    assert config["DISABLED_RULES"] == ["r1", "r2"]
    assert load_config({})["SILENT_SERVICES"] == []


def test_operators_see_the_controls_and_the_ehr_discovery_does_not(tmp_path: Path) -> None:
    (rule_id,) = GBS.expected_rules
    app = create_app(
        {
            "DATABASE_URL": "sqlite://",
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
            "SILENT_SERVICES": [GBS.service_id],
            "DISABLED_RULES": [rule_id],
        }
    )
    client = app.test_client()
    response = client.get("/operator/pilot")  # no token needed: no PHI, no secret
    assert response.status_code == 200
    summary = response.get_json()
    modes = {s["id"]: s["mode"] for s in summary["services"]}
    assert modes[GBS.service_id] == "silent"
    assert {m for sid, m in modes.items() if sid != GBS.service_id} == {"live"}
    states = {r["id"]: r["enabled"] for s in summary["services"] for r in s["rules"]}
    assert states[rule_id] is False
    assert sum(1 for enabled in states.values() if not enabled) == 1
    assert summary["silentServices"] == [GBS.service_id]
    assert summary["disabledRules"] == [rule_id]
    # Discovery is for the EHR and needs a token; with one it still names no pilot state.
    assert client.get("/cds-services").status_code == 401
    no_auth = pilot_app(tmp_path / "open", GBS, SILENT_SERVICES=[GBS.service_id])
    text = no_auth.test_client().get("/cds-services").get_data(as_text=True)
    assert "silent" not in text and "enabled" not in text


def test_cards_recorded_before_migration_0003_read_as_shown(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}", tmp_path)
    migrate.upgrade(engine, "0002")
    old_card = {
        "card_uuid": "c-1",
        "service_id": "immunotherapy-guidance",
        "hook_instance": "h-1",
        "patient_hash": "0" * 64,
        "indicator": "info",
        "summary": "s",
        "issued_at": datetime(2026, 11, 1, tzinfo=UTC),
    }
    with engine.begin() as conn:
        conn.execute(insert(table("issued_cards", *map(column, old_card))), old_card)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(select(issued_cards.c.silent, issued_cards.c.selection_behavior)).one()
    assert (row.silent, row.selection_behavior) == (False, None)


def test_cds_service_config_shows_the_pilot_state_and_refuses_unknown_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (rule_id,) = GBS.expected_rules
    monkeypatch.setenv("CDS_SILENT_SERVICES", GBS.service_id)
    monkeypatch.setenv("CDS_DISABLED_RULES", rule_id)
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 0, result.output
    pilot_lines = [line for line in result.output.splitlines() if line.startswith("# pilot:")]
    assert len(pilot_lines) == len(load_services_default())
    [line] = [line for line in pilot_lines if f" {GBS.service_id} " in line]
    assert " silent, " in line and f"(off: {rule_id})" in line
    assert all(" live, " in other for other in pilot_lines if other != line)
    as_json = json.loads(CliRunner().invoke(main, ["config", "--json"]).output)
    assert as_json["pilot"]["silentServices"] == [GBS.service_id]
    assert as_json["pilot"]["disabledRules"] == [rule_id]
    monkeypatch.setenv("CDS_DISABLED_RULES", "no-such-rule")
    refused = CliRunner().invoke(main, ["config"])
    assert refused.exit_code == 1
    assert "CDS_DISABLED_RULES names no rule of any service: no-such-rule" in refused.output


def load_services_default() -> dict[str, Any]:
    return dict(load_services(Path(load_config({})["HOOKS_DIR"])))
