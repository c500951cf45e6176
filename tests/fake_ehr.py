"""Fake EHRs for the authentication tests: signing keys, JWK Sets and JWTs shaped like the ones
real CDS clients send (CDS Hooks 2.0 "Trusting CDS Clients"; checklist section 7).

`sandbox()` signs like the CDS Hooks sandbox (ES384, `jku` + `kid`, five-minute lifetime);
`epic()` like Epic's tutorial (RS384, `jku` under /api/epic/2019/Security/Open/PublicKeys, plus
`nbf` and `sub`; peer-survey pain point 4); `hospital_group()` is a multi-tenant issuer whose keys
are configured inline. Keys are generated once per session. Every token minted here is declared
to the log-hygiene plugin, which fails the suite if one ever shows up in a log record.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.log_hygiene_plugin import remember_secret

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
EPIC_ISS = "https://fhir.example-health.org/interconnect-fhir-oauth"
EPIC_JKU = EPIC_ISS + "/api/epic/2019/Security/Open/PublicKeys/530005/OAuth2"
GROUP_ISS = "https://ehr.hospital-group.example"


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@functools.cache
def ec_private_key(name: str, curve: str = "P-384") -> ec.EllipticCurvePrivateKey:
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
    return ec.generate_private_key(curves[curve])


@functools.cache
def rsa_private_key(name: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_jwk(private_key: Any, kid: str, alg: str | None) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "use": "sig"})
    if alg:
        jwk["alg"] = alg
    return jwk


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hand_made_token(
    header: dict[str, Any],
    claims: dict[str, Any],
    *,
    hmac_secret: bytes | None = None,
    signature: bytes = b"",
    signer: Callable[[bytes], bytes] | None = None,
) -> str:
    """A JWS built without PyJWT, which refuses to make `none`, key-confusion or odd tokens."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    if hmac_secret is not None:
        signature = hmac.new(hmac_secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    if signer is not None:
        signature = signer(signing_input.encode("ascii"))
    return remember_secret(f"{signing_input}.{b64url(signature)}")


@dataclass
class FakeEhr:
    iss: str
    kid: str
    alg: str
    private_key: Any
    jku: str | None = None
    extra_claims: dict[str, Any] = field(default_factory=dict)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.private_key, self.kid, self.alg)]}

    def claims(self, aud: str | list[str], now: float, **overrides: Any) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.iss,
            "aud": aud,
            "iat": int(now),
            "exp": int(now) + 300,
            "jti": str(uuid.uuid4()),
        }
        claims.update({k: (int(now) if v == "now" else v) for k, v in self.extra_claims.items()})
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}  # None: leave the claim out

    def header(self, **overrides: Any) -> dict[str, Any]:
        header: dict[str, Any] = {"typ": "JWT", "kid": self.kid}
        if self.jku:
            header["jku"] = self.jku
        header.update(overrides)
        return {k: v for k, v in header.items() if v is not None}

    def token(
        self,
        aud: str | list[str],
        now: float,
        *,
        header: dict[str, Any] | None = None,
        key: Any = None,
        alg: str | None = None,
        **claim_overrides: Any,
    ) -> str:
        return remember_secret(
            jwt.encode(
                self.claims(aud, now, **claim_overrides),
                key or self.private_key,
                algorithm=alg or self.alg,
                headers=self.header(**(header or {})),
            )
        )


def sandbox() -> FakeEhr:
    return FakeEhr(
        SANDBOX_ISS,
        "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f",
        "ES384",
        ec_private_key("sandbox"),
        jku=SANDBOX_JKU,
    )


def epic() -> FakeEhr:
    return FakeEhr(
        EPIC_ISS,
        "epic-2024-rs384",
        "RS384",
        rsa_private_key("epic"),
        jku=EPIC_JKU,
        extra_claims={"nbf": "now", "sub": "cds-client-id-1234"},
    )


def hospital_group() -> FakeEhr:
    return FakeEhr(GROUP_ISS, "group-es256", "ES256", ec_private_key("group", "P-256"))


def trusted_issuers(group_tenants: tuple[str, ...] = ("north-hospital",)) -> dict[str, Any]:
    """The trusted-issuers document the tests run with: sandbox and Epic by `jku`, the hospital
    group with its JWK Set inline and a tenant list."""
    return {
        "issuers": {
            SANDBOX_ISS: {"jku": [SANDBOX_JKU]},
            EPIC_ISS: {"jku": [EPIC_JKU]},
            GROUP_ISS: {"jwks": hospital_group().jwks(), "tenants": list(group_tenants)},
        }
    }


def write_trusted_issuers(folder: Path, document: dict[str, Any] | None = None) -> Path:
    path = folder / "trusted-issuers.json"
    path.write_text(json.dumps(document or trusted_issuers()), encoding="utf-8")
    return path
