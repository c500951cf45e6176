"""The README's walkthrough against a local FHIR server: `load-fixtures --shift-to-now` into
sekmet-fhir, then each scenario called with no prefetch (the service reads the server), judged
at the wall clock. Every row of the fixture table must give its documented cards; without the
shift the same server answers with stale-data cards (issue 14: "No CSF infection studies found"
for `ae-hemi-clear`, whose CSF results are months old)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from cds_service import create_app, extensions
from cds_service.cli import main
from cds_service.cli.fixtures import load_fixtures
from cds_service.scenarios import Scenario, load_scenarios
from tests.integration.conftest import ROOT, FhirTestServer, start_sekmet
from tests.test_scenarios_end_to_end import assert_expected_cards

pytestmark = pytest.mark.integration
SCENARIOS = load_scenarios()


@pytest.fixture(scope="module")
def shifted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirTestServer]:
    """A server first seeded as written (old dates), then re-loaded with --shift-to-now."""
    for server in start_sekmet(tmp_path_factory.mktemp("sekmet-shifted"), token=None):
        result = CliRunner().invoke(
            load_fixtures,
            [
                "--fhir-base",
                server.base_url,
                "--dir",
                str(ROOT / "fhir_fixtures"),
                "--shift-to-now",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "ae-hemi-clear.json: 8 entries loaded (dates moved by" in result.output
        yield server


def _no_prefetch(
    scenario: Scenario, fhir_base: str, tmp_path: Path
) -> tuple[Flask, dict[str, Any]]:
    app = create_app(
        {
            "AUTH_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
            "FHIR_ALLOWLIST": ["http://127.0.0.1"],
        }
    )
    body = scenario.shifted(datetime.now(UTC)).request(extensions.services(app))
    del body["prefetch"]
    body["fhirServer"] = fhir_base
    return app, body


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=lambda s: s.name)
def test_every_fixture_row_gives_its_cards_from_a_server_loaded_with_shift_to_now(
    shifted_server: FhirTestServer, scenario: Scenario, tmp_path: Path
) -> None:
    app, body = _no_prefetch(scenario, shifted_server.base_url, tmp_path)
    assert_expected_cards(scenario, app, body)


def test_the_readme_invoke_command_prints_the_first_line_card(
    shifted_server: FhirTestServer,
) -> None:
    result = CliRunner().invoke(
        main, ["invoke", "--scenario", "ae-hemi-clear", "--fhir-server", shifted_server.base_url]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "[1] INFO     AE, CSF clear of infection: start IV methylprednisolone"
    ), result.output


def test_without_the_shift_the_loaded_fixtures_are_stale(fhir_server: FhirTestServer) -> None:
    """The session server holds the fixtures as written (2026-03-01): months old by now."""
    result = CliRunner().invoke(
        main, ["invoke", "--scenario", "ae-hemi-clear", "--fhir-server", fhir_server.base_url]
    )
    assert "No CSF infection studies found" in result.output, result.output
