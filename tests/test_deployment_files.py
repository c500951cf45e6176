"""docker-compose.yml and the Dockerfile: no Docker engine runs in CI, so their contract is
checked as data: HAPI pinned and health-checked on /fhir/metadata, fixtures loaded by the
service's own command, authentication on with a development issuer, and the image served by
the same `cds-service serve` (gunicorn) as everywhere else."""

from __future__ import annotations

import re
from typing import Any

import yaml
from click.testing import CliRunner
from packaging.requirements import Requirement

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
    assert 'CMD ["cds-service", "serve"]' in dockerfile  # address and port from CDS_HOST/PORT
    assert re.search(r"CDS_HOST=0\.0\.0\.0", dockerfile) and re.search(r"CDS_PORT=8000", dockerfile)
    assert "USER cds" in dockerfile
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "--host" in result.output


def test_the_image_installs_the_postgresql_driver() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install .*'\.\[postgres\]'", dockerfile)


DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_the_base_image_is_pinned_to_an_exact_tag_or_digest() -> None:
    [base] = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[name.lower().replace("_", "-").replace(".", "-")] = version
    return pins


def test_the_image_installs_exactly_the_constraints_file_and_it_fits_pyproject() -> None:
    import tomllib

    assert "COPY pyproject.toml README.md constraints.txt ./" in DOCKERFILE
    assert "pip install -c constraints.txt '.[postgres]'" in DOCKERFILE
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    for raw in [*project["dependencies"], *project["optional-dependencies"]["postgres"]]:
        requirement = Requirement(raw)
        name = requirement.name.lower().replace("_", "-").replace(".", "-")
        assert name in pins, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {raw}"
    assert pins["gunicorn"] and pins["psycopg-binary"]


def test_the_instance_folder_is_a_volume_and_the_health_check_uses_the_configured_port() -> None:
    assert 'VOLUME ["/usr/local/var/cds_service-instance"]' in DOCKERFILE
    [check] = re.findall(r"HEALTHCHECK.*?CMD (\[.*?\])\n", DOCKERFILE, flags=re.DOTALL)
    assert "CDS_PORT" in check and "/healthz" in check and ":8000/" not in check


def test_compose_runs_the_service_on_postgresql_with_volumes() -> None:
    postgres = SERVICES["postgres"]
    image, _, tag = postgres["image"].partition(":")
    assert image == "postgres" and re.fullmatch(r"15\.\d+(-\w+)?", tag)
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in postgres["healthcheck"]["test"]
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["cds-service", "db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    service = SERVICES["cds-service"]
    url = service["environment"]["CDS_DATABASE_URL"]
    assert url.startswith("postgresql://") and url == migrate["environment"]["CDS_DATABASE_URL"]
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert any(v.endswith(":/usr/local/var/cds_service-instance") for v in service["volumes"])
    named = set(COMPOSE["volumes"])
    for volume in [*postgres["volumes"], *service["volumes"]]:
        assert volume.split(":", 1)[0] in named
    assert {"db"} <= set(main.commands)


def test_compose_settings_pass_the_services_own_validation() -> None:
    from cds_service.config import load_config

    for name in ("cds-service", "migrate"):
        environment = {k: str(v) for k, v in SERVICES[name]["environment"].items()}
        environment.pop("CDS_TRUSTED_ISSUERS_FILE", None)  # a file inside the container
        config = load_config(environment)
        assert config["DATABASE_URL"].startswith("postgresql://")
