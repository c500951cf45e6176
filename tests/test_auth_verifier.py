"""The token verifier and replay cache on their own, without Flask (CDS Hooks 2.0 "Trusting CDS
Clients", "JWT Signing Algorithm"): edge cases the endpoint tests do not reach."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import get_default_algorithms
from jwt.utils import der_to_raw_signature

from cds_service.auth.issuers import parse_trusted_issuers
from cds_service.auth.jwks import KeySets
from cds_service.auth.replay import InMemoryReplayCache, ReplayCache
from cds_service.auth.verifier import TokenRefused, TokenVerifier
from tests.fake_ehr import (
    GROUP_ISS,
    FakeClock,
    FakeEhr,
    ec_private_key,
    hand_made_token,
    hospital_group,
    public_jwk,
    rsa_private_key,
)

AUD = "https://cds.example.org/cds-services"


def inline_issuer(ehr: FakeEhr, jwk_alg: str | None = None, **extra: Any) -> dict[str, Any]:
    jwk = public_jwk(ehr.private_key, ehr.kid, jwk_alg)
    return {"issuers": {ehr.iss: {"jwks": {"keys": [jwk]}, **extra}}}


def verifier(document: dict[str, Any], clock: FakeClock) -> TokenVerifier:
    return TokenVerifier(
        parse_trusted_issuers(document),
        key_sets=KeySets(clock=clock),
        replay_cache=InMemoryReplayCache(clock),
        clock=clock,
    )


def test_an_ec_token_must_use_the_algorithm_of_the_keys_curve() -> None:
    clock = FakeClock()
    ehr = FakeEhr(GROUP_ISS, "p384", "ES384", ec_private_key("curve-check"))
    check = verifier(inline_issuer(ehr), clock)
    check.verify(ehr.token(AUD, clock.now), [AUD])
    key = ehr.private_key

    def ecdsa_sha256_over_p384(message: bytes) -> bytes:
        return der_to_raw_signature(key.sign(message, ec.ECDSA(hashes.SHA256())), key.curve)

    # ES256 over P-384 is a valid ECDSA signature, but not what ES256 means (RFC 7518 3.4).
    token = hand_made_token(
        {"alg": "ES256", "typ": "JWT", "kid": ehr.kid},
        ehr.claims(AUD, clock.now),
        signer=ecdsa_sha256_over_p384,
    )
    with pytest.raises(TokenRefused, match="does not fit the key's curve"):
        check.verify(token, [AUD])


def test_an_rsa_key_without_alg_verifies_rs384_and_ps256_but_not_es384() -> None:
    clock = FakeClock()
    ehr = FakeEhr(GROUP_ISS, "rsa", "RS384", rsa_private_key("epic"))
    check = verifier(inline_issuer(ehr), clock)
    check.verify(ehr.token(AUD, clock.now), [AUD])
    check.verify(ehr.token(AUD, clock.now, alg="PS256"), [AUD])
    with pytest.raises(TokenRefused, match="does not fit the key's type"):
        check.verify(ehr.token(AUD, clock.now, alg="ES384", key=ec_private_key("x")), [AUD])


def test_a_key_that_names_its_alg_accepts_no_other() -> None:
    clock = FakeClock()
    ehr = FakeEhr(GROUP_ISS, "rsa", "RS384", rsa_private_key("epic"))
    check = verifier(inline_issuer(ehr, jwk_alg="RS384"), clock)
    with pytest.raises(TokenRefused, match="the key is for RS384"):
        check.verify(ehr.token(AUD, clock.now, alg="RS256"), [AUD])


@pytest.mark.parametrize(
    ("header", "claims", "reason"),
    [
        ({"crit": ["exp"]}, {}, "JWS extensions|malformed"),
        ({"b64": False, "crit": ["b64"]}, {}, "JWS extensions|malformed"),
        ({"kid": 7}, {}, "malformed"),
        ({"alg": ["ES384"]}, {}, "not allowed"),
        ({}, {"iss": ["https://ehr.example"]}, "not a trusted issuer"),
        ({}, {"exp": "tomorrow"}, "`exp` is not a number"),
        ({}, {"iat": True}, "`iat` is not a number"),
        ({}, {"aud": {"url": AUD}}, "`aud` is missing or not a string"),
        ({}, {"tenant": ["north-hospital"]}, "`tenant` is not allowed"),
        ({}, {"jti": 12345}, "`jti` is missing|InvalidJTIError"),
    ],
    ids=[
        "crit",
        "unencoded payload",
        "kid not a string",
        "alg list",
        "iss list",
        "exp text",
        "iat boolean",
        "aud object",
        "tenant list",
        "jti number",
    ],
)
def test_odd_header_or_claim_types_are_refused(
    header: dict[str, Any], claims: dict[str, Any], reason: str
) -> None:
    clock = FakeClock()
    ehr = hospital_group()
    check = verifier(inline_issuer(ehr, tenants=["north-hospital"]), clock)
    full_claims = ehr.claims(AUD, clock.now, tenant="north-hospital")
    full_claims.update(claims)
    token = hand_made_token(
        {"alg": "ES256", "typ": "JWT", "kid": ehr.kid, **header},
        full_claims,
        signer=lambda message: get_default_algorithms()["ES256"].sign(message, ehr.private_key),
    )
    with pytest.raises(TokenRefused, match=reason):
        check.verify(token, [AUD])


def test_an_oversized_token_is_refused_before_parsing() -> None:
    clock = FakeClock()
    with pytest.raises(TokenRefused, match="longer than"):
        verifier(inline_issuer(hospital_group()), clock).verify("a" * 9000 + ".b.c", [AUD])


def test_refusal_carries_iss_kid_and_jti_for_the_log() -> None:
    clock = FakeClock()
    ehr = hospital_group()
    token = ehr.token("https://elsewhere.example", clock.now, jti="jti-7")
    with pytest.raises(TokenRefused) as refused:
        verifier(inline_issuer(ehr), clock).verify(token, [AUD])
    assert (refused.value.iss, refused.value.kid, refused.value.jti) == (ehr.iss, ehr.kid, "jti-7")
    assert token not in str(refused.value)


def test_replay_entries_expire_with_the_token() -> None:
    clock = FakeClock()
    cache = InMemoryReplayCache(clock)
    assert isinstance(cache, ReplayCache)
    assert cache.first_use("iss\njti-1", clock.now + 300)
    assert not cache.first_use("iss\njti-1", clock.now + 300)
    assert cache.first_use("iss\njti-2", clock.now + 600)
    clock.advance(301)
    assert len(cache) == 1
    assert cache.first_use("iss\njti-1", clock.now + 300)


def test_of_concurrent_uses_of_one_jti_exactly_one_wins() -> None:
    cache = InMemoryReplayCache()
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def use() -> None:
        barrier.wait()
        results.append(cache.first_use("iss\nsame", 4_000_000_000.0))

    threads = [threading.Thread(target=use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
