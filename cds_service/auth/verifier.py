"""Verification of the EHR's bearer JWT, without Flask (CDS Hooks 2.0 "Trusting CDS Clients",
"JWT Signing Algorithm", and the non-normative best practices on verifying client JWTs).

Header: `alg` one of the asymmetric algorithms below (never `none`, never HMAC: the allowlist is
checked before any key is touched, so a token "signed" with an issuer's public key as an HMAC secret
is refused without reading a key), `typ` = JWT, `kid` required, `jku` optional and only honoured
when the issuer lists it, no `crit`. The key: the issuer's inline (pinned) key for `kid` if it has
one, with no fetch; otherwise from the `jku` or the issuer's JWKS URL. Claims: `iss` trusted, `aud`
one of the expected endpoint URLs or of the issuer's configured `audiences`,
`exp` in the future, `iat` not in the future, `nbf` (if present) passed, all with a small leeway,
a lifetime no longer than configured, `jti` unseen, `tenant` allowed when the issuer lists tenants.
Every failure raises `TokenRefused` whose message is a reason for the log and never contains the
token; `iss`, `kid` and `jti` ride along (as sent, shortened) so the log can say who was refused.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from cds_service.auth.issuers import TrustedIssuer
from cds_service.auth.jwks import KeySets, UnknownKey, VerifyingKey
from cds_service.auth.replay import ReplayCache

# spec "JWT Signing Algorithm": ES384 and RS384 RECOMMENDED; none and symmetric algorithms banned.
ALLOWED_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
_EC_CURVE_FOR_ALG = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
# PyJWT's algorithm objects (public API), made once: each checks one signature over the bytes.
_ALGORITHMS = {name: jwt.get_algorithm_by_name(name) for name in ALLOWED_ALGORITHMS}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*\Z")
MAX_TOKEN_CHARS = 8192  # far above a real CDS Hooks JWT; bounds the work done on garbage
_LOGGED_CHARS = 120


# A jti is a nonce (uuids are 36 characters); the bound keeps hashing and logs small.
MAX_JTI_CHARS = 1024
MAX_TENANT_CHARS = 256  # recorded with each card issued


def replay_key(issuer: str, jti: str) -> str:
    """The replay cache's key for a token: fixed length whatever `iss` and `jti` are."""
    return hashlib.sha256(f"{issuer}\n{jti}".encode()).hexdigest()


class TokenRefused(Exception):
    """The token is not accepted; `str(exc)` is the reason, for the log only."""

    def __init__(self, reason: str, *, iss: Any = None, kid: Any = None, jti: Any = None) -> None:
        super().__init__(reason)
        self.iss, self.kid, self.jti = _short(iss), _short(kid), _short(jti)


def _short(value: Any) -> str | None:
    # Values come from an unverified token: bounded, and later logged with %r so that control
    # characters are escaped.
    return None if value is None else str(value)[:_LOGGED_CHARS]


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"`{name}` is not a number")
    return float(value)


def _normalised(url: str) -> str:
    return url.rstrip("/")


def _base64url(segment: str) -> bytes:
    if not _BASE64URL.match(segment):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decode_once(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """The token's header, claims, signing input and signature, decoded once (RFC 7515 compact
    serialisation: three base64url segments, header and payload JSON objects)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRefused("malformed token (not three segments)")
    try:
        header = orjson.loads(_base64url(parts[0]))
        claims = orjson.loads(_base64url(parts[1]))
        signature = _base64url(parts[2])
    except ValueError:  # base64 (binascii.Error) and JSON (orjson.JSONDecodeError) errors
        raise TokenRefused("malformed token (DecodeError)") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenRefused("malformed token (header or payload is not a JSON object)")
    if "kid" in header and not isinstance(header["kid"], str):
        raise TokenRefused("malformed token (`kid` is not a string)")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


class TokenVerifier:
    def __init__(
        self,
        issuers: Mapping[str, TrustedIssuer],
        *,
        key_sets: KeySets,
        replay_cache: ReplayCache,
        clock: Callable[[], float] = time.time,
        leeway_seconds: float = 30,
        max_lifetime_seconds: float = 3600,
    ) -> None:
        self.issuers = dict(issuers)
        self.key_sets = key_sets
        self.replay_cache = replay_cache
        self.clock = clock
        self.leeway = leeway_seconds
        self.max_lifetime = max_lifetime_seconds

    def verify(self, token: str, audiences: Collection[str]) -> dict[str, Any]:
        """The token's claims if it is acceptable for a call whose `aud` is one of `audiences`."""
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRefused(f"token longer than {MAX_TOKEN_CHARS} characters")
        header, claims, signing_input, signature = decode_once(token)
        ids = {"iss": claims.get("iss"), "kid": header.get("kid"), "jti": claims.get("jti")}
        try:
            key = self._key(header, claims)
            self._check_signature(signing_input, signature, header["alg"], key)
            self._check_claims(claims, audiences)
        except TokenRefused as exc:
            raise TokenRefused(str(exc), **ids) from None
        return claims

    def _key(self, header: Mapping[str, Any], unverified: Mapping[str, Any]) -> VerifyingKey:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise TokenRefused(f"algorithm {str(alg)[:20]!r} is not allowed")
        if not isinstance(header.get("typ"), str) or header["typ"].upper() != "JWT":
            raise TokenRefused("header `typ` is not JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("header `kid` is missing")
        if "crit" in header or "b64" in header:
            raise TokenRefused("header uses JWS extensions (`crit`/`b64`)")
        iss = unverified.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise TokenRefused("`iss` is not a trusted issuer")
        jku = header.get("jku")
        listed = issuer.allowed_key_set_urls()
        if jku is not None and (not isinstance(jku, str) or jku not in listed):
            raise TokenRefused("`jku` is not on the issuer's list; not fetched")
        source: str | None = jku if jku is not None else issuer.jwks_url
        if source is None and issuer.jwks is None:
            raise TokenRefused("no `jku` and the issuer has no out-of-band key set")
        key = self._pinned_key(issuer, kid)
        if key is None:
            if source is None:
                raise TokenRefused("no key: kid not in the issuer's inline key set")
            try:
                key = self.key_sets.key_for(issuer, source, kid)
            except UnknownKey as exc:
                raise TokenRefused(f"no key: {exc}") from None
        if key.alg is not None and key.alg != alg:
            raise TokenRefused(f"the key is for {key.alg}, the token says {alg}")
        if alg.startswith(("RS", "PS")) != isinstance(key.key, RSAPublicKey):
            raise TokenRefused(f"{alg} does not fit the key's type")
        if alg.startswith("ES") and getattr(key.key, "curve").name != _EC_CURVE_FOR_ALG[alg]:  # noqa: B009
            raise TokenRefused(f"{alg} does not fit the key's curve")
        return key

    def _pinned_key(self, issuer: TrustedIssuer, kid: str) -> VerifyingKey | None:
        """The issuer's inline key for `kid`, used before (and instead of) any fetch."""
        if issuer.jwks is None:
            return None
        try:
            return self.key_sets.key_for(issuer, None, kid)
        except UnknownKey:
            return None

    @staticmethod
    def _check_signature(
        signing_input: bytes, signature: bytes, alg: str, key: VerifyingKey
    ) -> None:
        # Exactly one algorithm, the one already matched to the key's type and curve; time,
        # audience and issuer are checked after, with the injected clock.
        try:
            valid = _ALGORITHMS[alg].verify(signing_input, key.key, signature)
        except Exception as exc:  # a key or signature the library cannot use
            raise TokenRefused(f"token rejected ({type(exc).__name__})") from None
        if not valid:
            raise TokenRefused("bad signature")

    def _check_claims(self, claims: Mapping[str, Any], audiences: Collection[str]) -> None:
        now = self.clock()
        try:
            exp, iat, nbf = (_number(claims, name) for name in ("exp", "iat", "nbf"))
        except ValueError as exc:
            raise TokenRefused(str(exc)) from None
        if exp is None or iat is None:
            raise TokenRefused("`exp` or `iat` is missing")
        if now > exp + self.leeway:
            raise TokenRefused("token expired")
        if iat > now + self.leeway:
            raise TokenRefused("`iat` is in the future")
        if nbf is not None and nbf > now + self.leeway:
            raise TokenRefused("token not valid yet (`nbf`)")
        if exp - iat > self.max_lifetime:
            raise TokenRefused(f"lifetime exceeds {self.max_lifetime:g} s")
        aud = claims.get("aud")
        token_auds = [aud] if isinstance(aud, str) else aud
        if not isinstance(token_auds, list) or not all(isinstance(a, str) for a in token_auds):
            raise TokenRefused("`aud` is missing or not a string")
        issuer = self.issuers[claims["iss"]]
        expected = {_normalised(a) for a in (*audiences, *issuer.audiences)}
        if not expected & {_normalised(a) for a in token_auds}:
            raise TokenRefused("`aud` is not this endpoint's URL nor a configured audience")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise TokenRefused("`jti` is missing")
        if len(jti) > MAX_JTI_CHARS:
            raise TokenRefused(f"`jti` is longer than {MAX_JTI_CHARS} characters")
        tenant = claims.get("tenant")
        allowed = issuer.tenants
        if allowed is not None and not (isinstance(tenant, str) and tenant in allowed):
            raise TokenRefused("`tenant` is not allowed for this issuer")
        if tenant is not None and not (isinstance(tenant, str) and len(tenant) <= MAX_TENANT_CHARS):
            raise TokenRefused(f"`tenant` is not a string of at most {MAX_TENANT_CHARS} characters")
        # Last, so that a token refused for another reason does not burn its jti.
        if not self.replay_cache.first_use(replay_key(claims["iss"], jti), exp + self.leeway):
            raise TokenRefused("`jti` already used (replay)")
