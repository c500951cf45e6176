"""The command line: check, invoke (in-process), feedback-report, serve (real gunicorn), and the
README's configuration table generated from the settings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from cds_service import create_app
from cds_service.cli import main
from cds_service.cli.check import find_problems
from cds_service.config import load_config, markdown_table
from cds_service.ledger import get_ledger
from tests.conftest import ROOT, patient_seen_rule, patient_view_request, service_running
from tests.processes import free_port, serve_command

EXAMPLES = sorted((ROOT / "hooks" / "examples").glob("*.json"))


def test_check_passes_on_the_shipped_definitions() -> None:
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "OK: 3 services" in result.output


def test_check_reports_a_service_whose_examples_disagree(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    shutil.copytree(ROOT / "hooks", hooks)
    example = next((hooks / "examples").glob("immunotherapy-guidance--*.json"))
    body = json.loads(example.read_text())
    body["hook"] = "order-sign"
    body["prefetch"]["undeclared"] = None
    example.write_text(json.dumps(body))
    (hooks / "examples" / "stray.json").write_text("{}")
    definition = hooks / "immunotherapy-order-sign.json"
    service = json.loads(definition.read_text())
    service["prefetch"]["observations"] = service["prefetch"]["observations"].replace(
        "http://loinc.org|2951-2,", ""
    )
    definition.write_text(json.dumps(service))
    problems = "\n".join(find_problems(hooks))
    assert "is for hook order-sign" in problems
    assert "undeclared keys" in problems
    assert "stray.json is listed by no service" in problems
    assert "missing ['2951-2']" in problems
    result = CliRunner().invoke(main, ["check", "--hooks-dir", str(hooks)])
    assert result.exit_code == 1


def test_check_refuses_a_prefetch_token_outside_the_spec(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    shutil.copytree(ROOT / "hooks", hooks)
    definition = hooks / "immunotherapy-guidance.json"
    service = json.loads(definition.read_text())
    service["prefetch"]["medications"] = "MedicationRequest?_id={{context.draftOrders.id}}"
    definition.write_text(json.dumps(service))
    assert "not a first-level context field" in "\n".join(find_problems(hooks))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_invoke_runs_every_example_in_process(example: Path) -> None:
    result = CliRunner().invoke(main, ["invoke", str(example), "--json"])
    assert result.exit_code == 0, result.output
    assert "cards" in json.loads(result.output)


def test_invoke_builds_a_request_from_a_bundle_and_prints_cards(tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "cli-1"}},
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": "o-1",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "1-8"}]},
                }
            },
        ],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    result = CliRunner().invoke(
        main, ["invoke", "--bundle", str(path), "--service", "immunotherapy-guidance"]
    )
    assert result.exit_code == 0, result.output
    assert "No cards" in result.output


def test_invoke_shows_the_error_envelope_and_fails() -> None:
    result = CliRunner().invoke(main, ["invoke", str(EXAMPLES[0]), "--service", "nope"])
    assert result.exit_code == 1
    assert "HTTP 404" in result.output


def test_feedback_report_prints_a_table(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["feedback-report"])
    assert result.exit_code == 0, result.output
    assert "issued" in result.output and "(no cards issued yet)" in result.output

    app = create_app({"AUTH_ENABLED": False, "DATABASE_URL": database_url})
    client = app.test_client()
    service = "/cds-services/immunotherapy-guidance"
    with service_running(app, "immunotherapy-guidance", patient_seen_rule()):
        [card] = client.post(service, json=patient_view_request()).get_json()["cards"]
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-21T10:05:31Z",
        "overrideReason": {"userComment": "Patient declined"},
    }
    feedback = client.post(service + "/feedback", json={"feedback": [item]})
    assert feedback.status_code == 200
    with app.app_context():  # the card may still be in this process's write-behind queue
        get_ledger().flush()
    result = CliRunner().invoke(main, ["feedback-report", "--json"])
    assert result.exit_code == 0, result.output
    [row] = [r for r in json.loads(result.output)["rules"] if r["rule_id"] == "test-patient-seen"]
    assert (row["issued"], row["accepted"], row["overridden"]) == (1, 0, 1)
    assert row["override_reasons"] == {"comment only": 1}


def test_serve_starts_gunicorn_and_answers_discovery(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}"}
    process = subprocess.Popen(
        serve_command(port, workers=1),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/cds-services", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    process.kill()
                    pytest.fail("serve did not start: " + process.communicate()[0].decode())
                time.sleep(0.1)
        assert answer.status_code == 200
        assert len(answer.json()["services"]) == 3
        assert answer.headers["Server"].startswith("gunicorn")
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert "authentication is OFF" in output


def test_readme_configuration_table_matches_the_settings() -> None:
    assert markdown_table() in (ROOT / "README.md").read_text()


def test_a_bad_setting_names_its_variable() -> None:
    with pytest.raises(ValueError, match="CDS_AUTH_ENABLED"):
        load_config({"CDS_AUTH_ENABLED": "maybe"})
