"""Reaching a real FHIR server: bearer tokens right and wrong, and servers that never answer.

CDS Hooks 2.0 "Passing the Access Token to the CDS Service" and "HTTP Response" (412): against a
sekmet-fhir configured with `server_auth` bearer tokens, the right token yields the same data as
the open server and the wrong (or no) token is a 412 naming the required key, without the token.
Servers that refuse connections or accept and then never answer must end the call within the time
budget.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from cds_service import create_app
from cds_service.cli.fixtures import load_fixtures
from tests.integration.conftest import FIXTURE_DIRS, PROTECTED_TOKEN, FhirTestServer

pytestmark = pytest.mark.integration
SERVICE = "immunotherapy-guidance"


@pytest.fixture(scope="module")
def app() -> Flask:
    return create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": False,
            "DATABASE_URL": "sqlite://",
            "FHIR_ALLOWLIST": ["http://127.0.0.1"],
            "FHIR_BUDGET_SECONDS": 1.0,
        }
    )


def call(app: Flask, fhir_server: str, token: str | None) -> Any:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "0c3a7f21-55d4-4b7e-8f0e-3d2b1a9c8e77",
        "fhirServer": fhir_server,
        "context": {"userId": "Practitioner/res-u1", "patientId": "res-p1"},
    }
    if token is not None:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        }
    return app.test_client().post(f"/cds-services/{SERVICE}", json=body)


def test_the_right_token_gives_the_same_cards_as_the_open_server(
    app: Flask, fhir_server: FhirTestServer, protected_fhir_server: FhirTestServer
) -> None:
    protected = call(app, protected_fhir_server.base_url, PROTECTED_TOKEN)
    open_server = call(app, fhir_server.base_url, None)
    assert protected.status_code == 200, protected.get_json()
    strip = [
        {k: v for k, v in card.items() if k != "uuid"} for card in protected.get_json()["cards"]
    ]
    assert strip == [
        {k: v for k, v in card.items() if k != "uuid"} for card in open_server.get_json()["cards"]
    ]


@pytest.mark.parametrize("token", ["wrong-token-0000", None])
def test_a_wrong_or_missing_token_is_412_naming_the_required_key(
    app: Flask, protected_fhir_server: FhirTestServer, token: str | None
) -> None:
    response = call(app, protected_fhir_server.base_url, token)
    assert response.status_code == 412
    body = response.get_json()
    assert body["error"] == "precondition-failed"
    assert [d["key"] for d in body["details"]] == ["conditions"]
    assert "401" in body["details"][0]["reason"]
    assert PROTECTED_TOKEN not in response.get_data(as_text=True)
    if token:
        assert token not in response.get_data(as_text=True)


def test_load_fixtures_with_a_wrong_token_fails_loudly(
    protected_fhir_server: FhirTestServer,
) -> None:
    result = CliRunner().invoke(
        load_fixtures,
        [
            "--fhir-base",
            protected_fhir_server.base_url,
            "--dir",
            str(FIXTURE_DIRS[1]),
            "--token",
            "wrong-token-0000",
        ],
    )
    assert result.exit_code != 0
    assert "401" in result.output and "wrong-token-0000" not in result.output


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback socket that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/fhir"
    listener.close()


def test_a_server_that_never_answers_ends_in_412_within_the_budget(
    app: Flask, silent_server: str
) -> None:
    started = time.monotonic()
    response = call(app, silent_server, "some-token-1234")
    elapsed = time.monotonic() - started
    assert response.status_code == 412
    assert elapsed < 1.3, f"budget 1.0 s, took {elapsed:.2f} s"
    assert "conditions" in [d["key"] for d in response.get_json()["details"]]


def test_a_refused_connection_is_412_quickly(app: Flask) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    started = time.monotonic()
    response = call(app, f"http://127.0.0.1:{closed_port}/fhir", None)
    assert response.status_code == 412
    assert time.monotonic() - started < 1.3
    assert "not reachable" in response.get_json()["details"][0]["reason"]


def test_a_fhir_server_off_the_allowlist_is_412_without_contact(
    app: Flask, fhir_server: FhirTestServer
) -> None:
    strict = create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": False,
            "DATABASE_URL": "sqlite://",
            "FHIR_ALLOWLIST": ["https://ehr.example/fhir"],
        }
    )
    response = call(strict, fhir_server.base_url, None)
    assert response.status_code == 412
    assert "allowlist" in response.get_json()["details"][0]["reason"]
