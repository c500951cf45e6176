"""The EHR's JWT through the whole app (CDS Hooks 2.0 "Trusting CDS Clients"): accepted as the
sandbox and Epic sign it on discovery, a service and feedback; refused with a bare 401 otherwise,
each refusal for the reason the test intends (read back from the log)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from flask import Flask, g
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cds_service import create_app, extensions
from tests.conftest import patient_view_request
from tests.fake_ehr import (
    EPIC_JKU,
    SANDBOX_JKU,
    FakeClock,
    FakeEhr,
    ec_private_key,
    epic,
    hand_made_token,
    hospital_group,
    sandbox,
    write_trusted_issuers,
)

BASE = "https://cds.example.org"  # CDS_PUBLIC_BASE_URL: what the EHR sees, behind the proxy
FEEDBACK_BODY = {
    "feedback": [
        {
            "card": "9d6d6b3e-3b1c-4a59-9a50-5f0e0a2c8f11",
            "outcome": "overridden",
            "outcomeTimestamp": "2024-05-01T10:00:00Z",
        }
    ]
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jwks_server() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(SANDBOX_JKU, json=sandbox().jwks())
        mock.get(EPIC_JKU, json=epic().jwks())
        yield mock


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock, jwks_server: responses.RequestsMock) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": True,
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
            "AUTH_CLOCK": clock,
            "PUBLIC_BASE_URL": BASE,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        }
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _service_path(app: Flask) -> str:
    service_id = next(s.id for s in extensions.services(app).values() if s.hook == "patient-view")
    return f"/cds-services/{service_id}"


Endpoint = tuple[str, str, Any]


def endpoints(app: Flask) -> dict[str, Endpoint]:
    service = _service_path(app)
    return {
        "discovery": ("GET", "/cds-services", None),
        "service": ("POST", service, patient_view_request()),
        "feedback": ("POST", f"{service}/feedback", FEEDBACK_BODY),
    }


def call(
    client: FlaskClient,
    endpoint: Endpoint,
    token: str | None = None,
    authorization: str | None = None,
) -> TestResponse:
    method, path, body = endpoint
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        headers["Authorization"] = authorization
    return client.open(path, method=method, json=body, headers=headers)


def assert_refused(response: TestResponse, caplog: pytest.LogCaptureFixture, reason: str) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json() == {"error": "unauthorized", "message": "authentication required"}
    refusals = [r.getMessage() for r in caplog.records if r.name == "cds_service.auth"]
    assert any(reason in message for message in refusals), refusals


def discover(client: FlaskClient, token: str) -> int:
    return client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code


# --- accepted -------------------------------------------------------------------------------


@pytest.mark.parametrize("ehr", [sandbox, epic], ids=["sandbox-es384-jku", "epic-rs384"])
@pytest.mark.parametrize("name", ["discovery", "service", "feedback"])
def test_sandbox_and_epic_tokens_are_accepted_on_every_endpoint(
    app: Flask, client: FlaskClient, clock: FakeClock, ehr: Callable[[], FakeEhr], name: str
) -> None:
    endpoint = endpoints(app)[name]
    token = ehr().token(BASE + endpoint[1], clock.now)
    response = call(client, endpoint, token)
    assert response.status_code == 200, response.get_json()


def test_feedback_also_accepts_the_service_url_as_aud(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    endpoint = endpoints(app)["feedback"]
    token = sandbox().token(BASE + _service_path(app), clock.now)
    assert call(client, endpoint, token).status_code == 200


def test_aud_as_a_one_element_array_is_accepted(client: FlaskClient, clock: FakeClock) -> None:
    token = sandbox().token([BASE + "/cds-services"], clock.now)
    assert discover(client, token) == 200


def test_verified_claims_are_on_flask_g(client: FlaskClient, clock: FakeClock) -> None:
    token = epic().token(BASE + "/cds-services", clock.now)
    with client:
        client.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
        assert g.jwt_claims["iss"] == epic().iss
        assert g.jwt_claims["sub"] == "cds-client-id-1234"


def test_allowed_tenant_and_inline_jwks_are_accepted(client: FlaskClient, clock: FakeClock) -> None:
    token = hospital_group().token(BASE + "/cds-services", clock.now, tenant="north-hospital")
    assert discover(client, token) == 200


def test_aud_comes_from_the_request_when_no_public_base_url_is_set(
    tmp_path: Path, clock: FakeClock, jwks_server: responses.RequestsMock
) -> None:
    app = create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": True,
            "AUTH_CLOCK": clock,
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
            "PUBLIC_BASE_URL": "",
            "DATABASE_URL": "sqlite://",
        }
    )
    client = app.test_client()
    local = sandbox().token("http://localhost/cds-services", clock.now)
    public = sandbox().token(BASE + "/cds-services", clock.now)
    assert discover(client, local) == 200
    assert discover(client, public) == 401


def test_claims_inside_the_leeway_are_accepted(client: FlaskClient, clock: FakeClock) -> None:
    now = clock.now
    token = sandbox().token(BASE + "/cds-services", now, exp=int(now) - 20, iat=int(now) - 200)
    assert discover(client, token) == 200
    token = epic().token(BASE + "/cds-services", now, iat=int(now) + 20, nbf=int(now) + 20)
    assert discover(client, token) == 200


# --- refused --------------------------------------------------------------------------------

DISCOVERY_AUD = BASE + "/cds-services"


def _tampered_signature(now: float) -> str:
    header, payload, signature = sandbox().token(DISCOVERY_AUD, now).split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"


def _public_key_pem_as_hmac_secret(now: float) -> str:
    ehr = hospital_group()  # its public key is in the trusted-issuers file, as an attacker knows
    pem = ehr.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hand_made_token(
        {"alg": "HS256", "typ": "JWT", "kid": ehr.kid},
        ehr.claims(DISCOVERY_AUD, now, tenant="north-hospital"),
        hmac_secret=pem,
    )


REFUSALS: dict[str, tuple[Callable[[float], str], str]] = {
    "malformed token": (lambda now: "eyJhbGciOi.bm90IGpzb24.c2ln", "malformed token"),
    "bad signature": (_tampered_signature, "bad signature"),
    "signed by an impostor key under the right kid": (
        lambda now: sandbox().token(DISCOVERY_AUD, now, key=ec_private_key("impostor")),
        "bad signature",
    ),
    "key from another issuer under this issuer's jku": (
        lambda now: epic().token(
            DISCOVERY_AUD, now, iss=sandbox().iss, header={"jku": SANDBOX_JKU}
        ),
        "kid not in the key set",
    ),
    "key from another issuer with that issuer's jku": (
        lambda now: epic().token(DISCOVERY_AUD, now, iss=sandbox().iss),
        "`jku` is not on the issuer's list",
    ),
    "unknown iss": (
        lambda now: sandbox().token(DISCOVERY_AUD, now, iss="https://evil.example"),
        "not a trusted issuer",
    ),
    "alg none": (
        lambda now: hand_made_token(
            {"alg": "none", "typ": "JWT", "kid": sandbox().kid},
            sandbox().claims(DISCOVERY_AUD, now),
        ),
        "algorithm 'none' is not allowed",
    ),
    "hs256 with a shared secret": (
        lambda now: hand_made_token(
            {"alg": "HS256", "typ": "JWT", "kid": sandbox().kid},
            sandbox().claims(DISCOVERY_AUD, now),
            hmac_secret=b"a-shared-secret-nobody-agreed-on",
        ),
        "algorithm 'HS256' is not allowed",
    ),
    "hs256 signed with the issuer's public key pem": (
        _public_key_pem_as_hmac_secret,
        "algorithm 'HS256' is not allowed",
    ),
    "wrong aud": (
        lambda now: sandbox().token("https://other.example.org/cds-services", now),
        "`aud` is not this endpoint's URL",
    ),
    "aud of another endpoint": (
        lambda now: sandbox().token(BASE + "/cds-services/some-service", now),
        "`aud` is not this endpoint's URL",
    ),
    "aud missing": (lambda now: sandbox().token(None, now), "`aud` is missing"),  # type: ignore[arg-type]
    "expired": (
        lambda now: sandbox().token(DISCOVERY_AUD, now, iat=int(now) - 400, exp=int(now) - 31),
        "token expired",
    ),
    "iat in the future": (
        lambda now: sandbox().token(DISCOVERY_AUD, now, iat=int(now) + 120, exp=int(now) + 400),
        "`iat` is in the future",
    ),
    "nbf in the future": (
        lambda now: epic().token(DISCOVERY_AUD, now, nbf=int(now) + 120),
        "not valid yet",
    ),
    "exp missing": (lambda now: sandbox().token(DISCOVERY_AUD, now, exp=None), "`exp`"),
    "jti missing": (lambda now: sandbox().token(DISCOVERY_AUD, now, jti=None), "`jti` is missing"),
    "lifetime longer than an hour": (
        lambda now: sandbox().token(DISCOVERY_AUD, now, exp=int(now) + 7200),
        "lifetime",
    ),
    "typ missing": (  # PyJWT drops an empty typ
        lambda now: sandbox().token(DISCOVERY_AUD, now, header={"typ": ""}),
        "`typ` is not JWT",
    ),
    "typ of another kind of token": (
        lambda now: sandbox().token(DISCOVERY_AUD, now, header={"typ": "at+jwt"}),
        "`typ` is not JWT",
    ),
    "kid missing": (
        lambda now: sandbox().token(DISCOVERY_AUD, now, header={"kid": None}),
        "`kid` is missing",
    ),
    "tenant not allowed": (
        lambda now: hospital_group().token(DISCOVERY_AUD, now, tenant="south-hospital"),
        "`tenant` is not allowed",
    ),
    "tenant missing where the issuer lists tenants": (
        lambda now: hospital_group().token(DISCOVERY_AUD, now),
        "`tenant` is not allowed",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_token_is_401_with_no_detail(
    client: FlaskClient, clock: FakeClock, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    make_token, reason = REFUSALS[case]
    response = client.get(
        "/cds-services", headers={"Authorization": f"Bearer {make_token(clock.now)}"}
    )
    assert_refused(response, caplog, reason)


@pytest.mark.parametrize("name", ["discovery", "service", "feedback"])
def test_missing_authorization_header_is_401_on_every_endpoint(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    assert_refused(call(client, endpoints(app)[name]), caplog, "no Authorization header")


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer abc", "bearer a.b.c d"])
def test_authorization_that_is_not_a_bearer_jwt_is_401(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    response = client.get("/cds-services", headers={"Authorization": value})
    assert_refused(response, caplog, "not `Bearer <JWT>`")


def test_jku_not_on_the_list_is_401_and_never_fetched(
    client: FlaskClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    jwks_server: responses.RequestsMock,
) -> None:
    evil_jku = "https://evil.example/jwks.json"
    jwks_server.get(evil_jku, json=sandbox().jwks())  # would verify, if it were ever fetched
    token = sandbox().token(DISCOVERY_AUD, clock.now, header={"jku": evil_jku})
    response = client.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
    assert_refused(response, caplog, "`jku` is not on the issuer's list")
    assert [c.request.url for c in jwks_server.calls] == []


def test_unknown_kid_is_401_after_one_refresh(
    client: FlaskClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    jwks_server: responses.RequestsMock,
) -> None:
    token = sandbox().token(DISCOVERY_AUD, clock.now, header={"kid": "kid-nobody-published"})
    response = client.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
    assert_refused(response, caplog, "kid not in the key set")
    assert [c.request.url for c in jwks_server.calls] == [SANDBOX_JKU]


def test_replayed_jti_is_401(
    client: FlaskClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    token = sandbox().token(DISCOVERY_AUD, clock.now)
    assert discover(client, token) == 200
    again = client.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
    assert_refused(again, caplog, "`jti` already used")


def test_a_refused_token_does_not_use_up_its_jti(client: FlaskClient, clock: FakeClock) -> None:
    early = sandbox().token(
        DISCOVERY_AUD,
        clock.now,
        iat=int(clock.now) + 100,
        exp=int(clock.now) + 400,
        jti="jti-tried-too-early",
    )
    assert discover(client, early) == 401
    clock.advance(100)
    assert discover(client, early) == 200


def test_the_refusal_log_names_iss_kid_and_jti_but_never_the_token(
    client: FlaskClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    token = sandbox().token("https://other.example.org/cds-services", clock.now, jti="jti-42")
    client.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
    (line,) = [r.getMessage() for r in caplog.records if r.name == "cds_service.auth"]
    assert sandbox().iss in line and sandbox().kid in line and "jti-42" in line
    assert token not in caplog.text and token.split(".")[2] not in caplog.text
