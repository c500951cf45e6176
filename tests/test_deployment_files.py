"""docker-compose.yml and the Dockerfile: no Docker engine runs in CI, so their contract is
checked as data: HAPI pinned and health-checked on /fhir/metadata, fixtures loaded by the
service's own command, authentication on with a development issuer, and the image served by
the same `cds-service serve` (gunicorn) as everywhere else."""

from __future__ import annotations

from typing import Any

import yaml
from click.testing import CliRunner

from cds_service.cli import main
from tests.conftest import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_hapi_is_pinned_r4_and_health_checked_on_metadata() -> None:
    hapi = SERVICES["hapi"]
    image, _, tag = hapi["image"].partition(":")
    assert image == "hapiproject/hapi" and tag and tag != "latest"
    assert hapi["environment"]["hapi.fhir.fhir_version"] == "R4"
    assert "/fhir/metadata" in " ".join(hapi["healthcheck"]["test"])


def test_fixtures_are_loaded_by_the_services_own_command_once_hapi_is_healthy() -> None:
    loader = SERVICES["load-fixtures"]
    assert loader["command"][:2] == ["cds-service", "load-fixtures"]
    assert loader["depends_on"]["hapi"]["condition"] == "service_healthy"
    assert "load-fixtures" in main.commands


def test_the_compose_loader_moves_the_fixture_dates_to_now_with_options_the_command_knows() -> None:
    from cds_service.cli.fixtures import load_fixtures

    args = SERVICES["load-fixtures"]["command"][2:]
    args[args.index("--dir") + 1] = str(ROOT / "fhir_fixtures")
    context = load_fixtures.make_context("load-fixtures", args)
    assert context.params["shift_to_now"] is True
    assert context.params["fhir_base"] == "http://localhost:8080/fhir"


def test_the_service_runs_with_authentication_on_and_a_development_issuer() -> None:
    service = SERVICES["cds-service"]
    environment = service["environment"]
    assert environment["CDS_AUTH_ENABLED"] == "true"
    assert environment["CDS_TRUSTED_ISSUERS_FILE"].startswith("/keys/")
    assert service["depends_on"]["dev-keys"]["condition"] == "service_completed_successfully"
    assert "dev-keys" in SERVICES["dev-keys"]["command"][-1]
    assert {"dev-keys", "dev-token"} <= set(main.commands)


def test_every_cds_setting_in_compose_is_a_documented_setting() -> None:
    from cds_service.config import SETTINGS

    known = {s.env for s in SETTINGS}
    for service in SERVICES.values():
        for name in service.get("environment", {}):
            if name.startswith("CDS_"):
                assert name in known, name


def test_the_image_serves_with_cds_service_serve() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["cds-service", "serve", "--host", "0.0.0.0", "--port", "8000"]' in dockerfile
    assert "USER cds" in dockerfile
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "--host" in result.output


def test_the_image_installs_the_postgresql_driver() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install '.[postgres]'" in dockerfile
