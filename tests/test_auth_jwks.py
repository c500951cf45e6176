"""JWK Set caching and rotation (CDS Hooks 2.0 "Trusting CDS Clients": keys found by `kid` in the
client's JWK Set): refreshed on an unknown `kid` at most once per issuer per minute, refetched when
old, fetched only from listed URLs with timeouts, and only asymmetric signing keys kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from flask import Flask

from cds_service import create_app
from cds_service.auth.issuers import TrustedIssuer
from cds_service.auth.jwks import (
    FETCH_TIMEOUT_SECONDS,
    MAX_AGE_SECONDS,
    KeySets,
    UnknownKey,
    parse_key_set,
)
from tests.fake_ehr import (
    EPIC_JKU,
    SANDBOX_JKU,
    FakeClock,
    FakeEhr,
    ec_private_key,
    public_jwk,
    rsa_private_key,
    sandbox,
    write_trusted_issuers,
)

SANDBOX = TrustedIssuer(iss=sandbox().iss, jku=frozenset({SANDBOX_JKU}))
AUD = "https://cds.example.org/cds-services"


def rotated_sandbox() -> FakeEhr:
    ehr = sandbox()
    ehr.kid, ehr.private_key = "sandbox-2025-rotated", ec_private_key("sandbox-rotated")
    return ehr


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def fetched(mock: responses.RequestsMock) -> list[str]:
    return [str(call.request.url) for call in mock.calls]


def test_keys_are_fetched_once_and_then_served_from_the_cache(
    mock: responses.RequestsMock, clock: FakeClock
) -> None:
    mock.get(SANDBOX_JKU, json=sandbox().jwks())
    key_sets = KeySets(clock=clock)
    for _ in range(3):
        assert key_sets.key_for(SANDBOX, SANDBOX_JKU, sandbox().kid).kid == sandbox().kid
        clock.advance(30)
    assert fetched(mock) == [SANDBOX_JKU]


def test_an_unknown_kid_refreshes_at_most_once_per_issuer_per_minute(
    mock: responses.RequestsMock, clock: FakeClock
) -> None:
    mock.get(SANDBOX_JKU, json=sandbox().jwks())
    key_sets = KeySets(clock=clock)
    key_sets.key_for(SANDBOX, SANDBOX_JKU, sandbox().kid)
    for _ in range(5):  # a flood of random kids within the minute fetches nothing
        with pytest.raises(UnknownKey, match="rate-limited"):
            key_sets.key_for(SANDBOX, SANDBOX_JKU, "random-kid")
        clock.advance(10)
    clock.advance(10)
    with pytest.raises(UnknownKey, match="even after a refetch"):
        key_sets.key_for(SANDBOX, SANDBOX_JKU, "random-kid")
    assert fetched(mock) == [SANDBOX_JKU, SANDBOX_JKU]


def test_a_rotated_key_is_found_after_a_refresh(
    mock: responses.RequestsMock, clock: FakeClock
) -> None:
    mock.get(SANDBOX_JKU, json=sandbox().jwks())
    key_sets = KeySets(clock=clock)
    key_sets.key_for(SANDBOX, SANDBOX_JKU, sandbox().kid)
    mock.replace(
        responses.GET,
        SANDBOX_JKU,
        json={"keys": sandbox().jwks()["keys"] + rotated_sandbox().jwks()["keys"]},
    )
    clock.advance(61)
    new_kid = rotated_sandbox().kid
    assert key_sets.key_for(SANDBOX, SANDBOX_JKU, new_kid).kid == new_kid
    assert key_sets.key_for(SANDBOX, SANDBOX_JKU, sandbox().kid).kid == sandbox().kid
    assert len(fetched(mock)) == 2


def test_an_old_key_set_is_refetched_so_removed_keys_stop_working(
    mock: responses.RequestsMock, clock: FakeClock
) -> None:
    mock.get(SANDBOX_JKU, json=sandbox().jwks())
    key_sets = KeySets(clock=clock)
    key_sets.key_for(SANDBOX, SANDBOX_JKU, sandbox().kid)
    mock.replace(responses.GET, SANDBOX_JKU, json=rotated_sandbox().jwks())
    clock.advance(MAX_AGE_SECONDS + 1)
    with pytest.raises(UnknownKey):
        key_sets.key_for(SANDBOX, SANDBOX_JKU, sandbox().kid)


def test_a_failed_refetch_keeps_the_cached_keys(
    mock: responses.RequestsMock, clock: FakeClock
) -> None:
    mock.get(SANDBOX_JKU, json=sandbox().jwks())
    key_sets = KeySets(clock=clock)
    key_sets.key_for(SANDBOX, SANDBOX_JKU, sandbox().kid)
    mock.replace(responses.GET, SANDBOX_JKU, status=503)
    clock.advance(MAX_AGE_SECONDS + 1)
    assert key_sets.key_for(SANDBOX, SANDBOX_JKU, sandbox().kid).kid == sandbox().kid


@pytest.mark.parametrize(
    "reply",
    [
        {"status": 500},
        {"status": 302, "headers": {"Location": "https://evil.example/jwks.json"}},
        {"body": "not json"},
        {"json": ["not", "a", "jwk", "set"]},
        {"body": b"{" + b" " * (300 * 1024) + b"}"},
        {"body": requests.ConnectTimeout("slow")},
    ],
    ids=["server error", "redirect", "not json", "not a set", "too large", "timeout"],
)
def test_a_bad_key_set_reply_gives_no_key(
    mock: responses.RequestsMock, clock: FakeClock, reply: dict[str, Any]
) -> None:
    mock.get(SANDBOX_JKU, **reply)
    mock.get("https://evil.example/jwks.json", json=sandbox().jwks())
    with pytest.raises(UnknownKey):
        KeySets(clock=clock).key_for(SANDBOX, SANDBOX_JKU, sandbox().kid)
    assert fetched(mock) == [SANDBOX_JKU]  # a redirect is not followed


def test_fetches_have_connect_and_read_timeouts(
    mock: responses.RequestsMock, clock: FakeClock
) -> None:
    mock.get(SANDBOX_JKU, json=sandbox().jwks())
    KeySets(clock=clock).key_for(SANDBOX, SANDBOX_JKU, sandbox().kid)
    sent = mock.calls[0].request
    assert sent.req_kwargs["timeout"] == FETCH_TIMEOUT_SECONDS  # type: ignore[attr-defined]


def test_only_asymmetric_public_signing_keys_are_kept() -> None:
    good_ec = public_jwk(ec_private_key("k1"), "ec", "ES384")
    good_rsa = public_jwk(rsa_private_key("k2"), "rsa", None)
    secret = {"kty": "oct", "kid": "oct", "k": "c2VjcmV0"}
    private = {**good_ec, "kid": "private", "d": "AAAA"}
    encryption = {**good_rsa, "kid": "enc", "use": "enc"}
    weak_rsa = public_jwk(rsa_private_key("weak", 1024), "weak", None)
    no_kid = {k: v for k, v in good_ec.items() if k != "kid"}
    keys = parse_key_set(
        {"keys": [good_ec, good_rsa, secret, private, encryption, weak_rsa, no_kid, "junk"]}, "t"
    )
    assert sorted(keys) == ["ec", "rsa"]


def test_a_kid_listed_twice_keeps_the_first_key() -> None:
    first = public_jwk(ec_private_key("first"), "same", "ES384")
    second = public_jwk(ec_private_key("second"), "same", "ES384")
    assert parse_key_set({"keys": [first, second]}, "t")["same"].key.public_numbers() == (
        ec_private_key("first").public_key().public_numbers()
    )


# --- rotation through the app ----------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock, mock: responses.RequestsMock) -> Flask:
    mock.get(SANDBOX_JKU, json=sandbox().jwks())
    mock.get(EPIC_JKU, json={"keys": []})
    return create_app(
        {
            "TESTING": True,
            "AUTH_ENABLED": True,
            "AUTH_CLOCK": clock,
            "TRUSTED_ISSUERS_FILE": str(write_trusted_issuers(tmp_path)),
            "PUBLIC_BASE_URL": "https://cds.example.org",
            "DATABASE_URL": "sqlite://",
        }
    )


def test_the_service_follows_a_key_rotation_within_a_minute(
    app: Flask, clock: FakeClock, mock: responses.RequestsMock
) -> None:
    client = app.test_client()

    def status(ehr: FakeEhr) -> int:
        token = ehr.token(AUD, clock.now)
        return client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code

    assert status(sandbox()) == 200
    mock.replace(responses.GET, SANDBOX_JKU, json=rotated_sandbox().jwks())
    assert status(rotated_sandbox()) == 401  # the refresh right after the first fetch waits
    assert status(sandbox()) == 200  # the cached old key still works until the set is refetched
    clock.advance(60)
    assert status(rotated_sandbox()) == 200
    assert fetched(mock) == [SANDBOX_JKU, SANDBOX_JKU]
