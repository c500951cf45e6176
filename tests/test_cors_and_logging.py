"""CORS for browser-based clients (the CDS Hooks sandbox) and the one JSON log line per request."""

from __future__ import annotations

import json
import logging

import pytest
from flask.testing import FlaskClient

from cds_service.cors import origin_patterns
from tests.conftest import patient_view_request

GUIDANCE = "/cds-services/immunotherapy-guidance"


def preflight(client: FlaskClient, origin: str) -> dict[str, str]:
    response = client.options(
        GUIDANCE,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    return dict(response.headers)


@pytest.mark.parametrize(
    "origin",
    [
        "https://sandbox.cds-hooks.org",
        "http://localhost:3000",
        "http://localhost",
        "http://127.0.0.1:8080",
    ],
)
def test_preflight_from_an_allowed_origin_is_answered(client: FlaskClient, origin: str) -> None:
    headers = preflight(client, origin)
    assert headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in headers["Access-Control-Allow-Methods"]
    allowed = headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "Access-Control-Allow-Credentials" not in headers


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://localhost.evil.example",
        "http://localhost:3000.evil.example",
        "https://sandbox.cds-hooks.org.evil",
    ],
)
def test_other_origins_get_no_cors_grant(client: FlaskClient, origin: str) -> None:
    assert "Access-Control-Allow-Origin" not in preflight(client, origin)


def test_a_wildcard_origin_is_refused_in_configuration() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        origin_patterns(["*"])


def test_each_request_writes_one_json_line_without_body_or_tokens(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = patient_view_request(
        fhirServer="https://not-allowed.example/fhir",
        fhirAuthorization={
            "access_token": "secret-access-token-abc",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read",
            "subject": "cds",
        },
    )
    with caplog.at_level(logging.INFO, logger="cds_service"):
        client.post(GUIDANCE, json=body, headers={"Authorization": "Bearer jwt-xyz"})
    lines = [r for r in caplog.records if r.name == "cds_service.request"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["service"] == "immunotherapy-guidance"
    assert fields["hook"] == "patient-view"
    assert fields["hookInstance"] == body["hookInstance"]
    assert fields["status"] == 200
    assert fields["cards"] == 0
    assert set(fields["stages_ms"]) >= {"resolve", "facts", "rules", "render"}
    everything = caplog.text + json.dumps(
        [getattr(r, "fields", None) for r in caplog.records], default=str
    )
    assert "secret-access-token-abc" not in everything
    assert "jwt-xyz" not in everything
    assert "pat-1" not in everything  # no PHI: the patient id never reaches the request log
