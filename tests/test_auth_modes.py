"""Authentication modes and configuration (issue 5 "Modes", "Hygiene"): on by default and refusing
to start without trusted issuers, off only when asked (with warnings), open paths for /healthz and
CORS preflight, security headers on every response, and a strict trusted-issuers file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service import create_app
from cds_service.auth import expected_audiences
from cds_service.auth.headers import SECURITY_HEADERS
from cds_service.auth.issuers import TrustConfigError, load_trusted_issuers
from cds_service.config import load_config
from tests.fake_ehr import SANDBOX_JKU, write_trusted_issuers


@pytest.fixture
def secured_app(tmp_path: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": True,
            "DATABASE_URL": "sqlite://",
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
        }
    )


def test_authentication_is_on_unless_turned_off() -> None:
    assert load_config({})["AUTH_ENABLED"] is True
    assert load_config({"CDS_AUTH_ENABLED": "false"})["AUTH_ENABLED"] is False


def test_the_service_does_not_start_with_auth_on_and_no_trusted_issuers() -> None:
    with pytest.raises(TrustConfigError, match="CDS_TRUSTED_ISSUERS_FILE is not set"):
        create_app({"AUTH_ENABLED": True, "TRUSTED_ISSUERS_FILE": "", "DATABASE_URL": "sqlite://"})


def test_auth_off_warns_at_start_and_on_every_discovery_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app({"TESTING": True, "AUTH_ENABLED": False, "DATABASE_URL": "sqlite://"})
    client = app.test_client()
    client.get("/cds-services")
    client.get("/cds-services")
    warnings = [
        r for r in caplog.records if r.name == "cds_service.auth" and r.levelname == "WARNING"
    ]
    assert len(warnings) == 3
    assert all("authentication is OFF" in r.getMessage() for r in warnings)


def test_healthz_and_cors_preflight_need_no_token(secured_app: Flask) -> None:
    client = secured_app.test_client()
    assert client.get("/healthz").status_code == 200
    preflight = client.options(
        "/cds-services",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert client.get("/cds-services").status_code == 401


@pytest.mark.parametrize("path", ["/admin", "/", "/metrics", "/cds-services/x/y/z"])
def test_an_unknown_path_is_404_with_or_without_a_token(secured_app: Flask, path: str) -> None:
    # Issue 13: with authentication on, / and /metrics answered 401 as if they existed.
    client = secured_app.test_client()
    assert client.get(path).status_code == 404
    bogus = {"Authorization": "Bearer a.b.c"}
    assert client.get(path, headers=bogus).status_code == 404


def test_the_probes_answer_without_a_token(secured_app: Flask) -> None:
    client = secured_app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
    assert client.get("/readyz").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/healthz", "/cds-services", "/nowhere"])
def test_every_response_carries_the_security_headers(secured_app: Flask, path: str) -> None:
    response = secured_app.test_client().get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("public", "root", "path", "expected"),
    [
        (
            "https://cds.example.org",
            "http://10.0.0.5:8080/",
            "/cds-services",
            ["https://cds.example.org/cds-services"],
        ),
        (
            "https://cds.example.org/",
            "http://10.0.0.5/",
            "/cds-services/svc",
            ["https://cds.example.org/cds-services/svc"],
        ),
        (
            "",
            "http://localhost:8080/",
            "/cds-services/svc/feedback",
            [
                "http://localhost:8080/cds-services/svc/feedback",
                "http://localhost:8080/cds-services/svc",
            ],
        ),
        (
            "https://h.example/prefix",
            "http://x/",
            "/cds-services",
            ["https://h.example/prefix/cds-services"],
        ),
    ],
)
def test_aud_is_the_public_url_of_the_endpoint(
    public: str, root: str, path: str, expected: list[str]
) -> None:
    assert expected_audiences(public, root, path) == expected


def _issuers_file(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "issuers.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not json", "not valid JSON"),
        ({"https://ehr.example": {"jku": [SANDBOX_JKU]}}, "expected a JSON object"),
        ({"issuers": {}}, "no issuers"),
        ({"issuers": {"https://ehr.example": {}}}, "give `jwks`, `jwks_url` or `jku`"),
        (
            {"issuers": {"https://ehr.example": {"jwks_uri": "https://ehr.example/k"}}},
            "unknown fields",
        ),
        ({"issuers": {"https://ehr.example": {"jku": ["http://ehr.example/k"]}}}, "must be https"),
        ({"issuers": {"https://ehr.example": {"jku": "https://ehr.example/k"}}}, "list of URLs"),
        ({"issuers": {"https://ehr.example": {"jwks": {"kty": "EC"}}}}, "JWK Set"),
        ({"issuers": {"https://ehr.example": {"jku": [SANDBOX_JKU], "tenants": []}}}, "omit it"),
        ({"issuers": {"https://ehr.example": {"jku": ["https://u:p@ehr.example/k"]}}}, "plain"),
    ],
    ids=[
        "not json",
        "no issuers key",
        "empty",
        "no key source",
        "typo",
        "http jku",
        "jku not a list",
        "jwks not a set",
        "empty tenants",
        "credentials in url",
    ],
)
def test_a_bad_trusted_issuers_file_stops_the_start(
    tmp_path: Path, document: Any, problem: str
) -> None:
    with pytest.raises(TrustConfigError, match=problem):
        load_trusted_issuers(_issuers_file(tmp_path, document))


def test_a_missing_trusted_issuers_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(TrustConfigError, match="cannot read"):
        load_trusted_issuers(tmp_path / "absent.json")


def test_key_set_urls_on_loopback_may_be_http(tmp_path: Path) -> None:
    issuers = load_trusted_issuers(
        _issuers_file(
            tmp_path,
            {
                "issuers": {
                    "dev": {"jwks_url": "http://127.0.0.1:9000/jwks.json", "tenants": ["t1"]}
                }
            },
        )
    )
    assert issuers["dev"].allowed_key_set_urls() == {"http://127.0.0.1:9000/jwks.json"}
    assert issuers["dev"].tenants == frozenset({"t1"})
