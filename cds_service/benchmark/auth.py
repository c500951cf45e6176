"""Issuers for the authentication runs: an ES384, an ES256 and an RS256 key made for this run,
a trusted-issuers file naming their public keys inline, and tokens signed in advance.

Every request of an authentication run carries a token of its own (a fresh `jti`, as EHRs send),
so the replay cache inserts one row per call; tokens are signed before the run, so the cost
measured is the service's (decode, signature check, claims, replay insert), not the signing.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm, get_default_algorithms

from cds_service.auth.verifier import decode_once
from cds_service.frozen import fast_init

ALGORITHMS = ("ES384", "ES256", "RS256")
TOKEN_LIFETIME_SECONDS = 600


@fast_init
@dataclass(frozen=True)
class Issuer:
    alg: str
    iss: str
    kid: str
    private_key: Any

    def public_jwk(self) -> dict[str, Any]:
        codec = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        jwk: dict[str, Any] = json.loads(codec.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def tokens(self, audience: str, count: int) -> list[str]:
        now = int(time.time())
        return [
            jwt.encode(
                {
                    "iss": self.iss,
                    "aud": audience,
                    "iat": now,
                    "exp": now + TOKEN_LIFETIME_SECONDS,
                    "jti": str(uuid.uuid4()),
                },
                self.private_key,
                algorithm=self.alg,
                headers={"kid": self.kid, "typ": "JWT"},
            )
            for _ in range(count)
        ]


def signature_check_cpu_ms(issuer: Issuer, audience: str, count: int = 200) -> float:
    """CPU ms one token's signature check costs, as the service checks it (PyJWT's algorithm
    over OpenSSL, the token's own signing input and signature), in this process on one thread:
    the floor under the authentication runs' extra CPU, measured beside them (a curve's cost
    moves with the host's load as much as the calls do). Median of 5 rounds of `count` tokens."""
    algorithm = get_default_algorithms()[issuer.alg]
    key = algorithm.prepare_key(issuer.private_key.public_key())
    # The signing input and signature as the verifier itself decodes them.
    checks = [decode_once(token)[2:] for token in issuer.tokens(audience, count)]
    rounds = []
    for _ in range(5):
        started = time.thread_time()
        for signing_input, raw in checks:
            if not algorithm.verify(signing_input, key, raw):
                raise RuntimeError(f"a {issuer.alg} token made here failed its own check")
        rounds.append((time.thread_time() - started) * 1000 / len(checks))
    return statistics.median(rounds)


def make_issuers() -> dict[str, Issuer]:
    keys = {
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }
    return {
        alg: Issuer(alg, f"https://bench-{alg.lower()}.example.org", f"bench-{alg.lower()}", key)
        for alg, key in keys.items()
    }


def write_trusted_issuers(path: Path, issuers: dict[str, Issuer]) -> Path:
    document = {"issuers": {i.iss: {"jwks": {"keys": [i.public_jwk()]}} for i in issuers.values()}}
    path.write_text(json.dumps(document))
    return path
