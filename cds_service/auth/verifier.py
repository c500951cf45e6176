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

import hashlib
import math
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from cds_service.auth.issuers import TrustedIssuer
from cds_service.auth.jwks import KeySets, UnknownKey, VerifyingKey
from cds_service.auth.replay import ReplayCache

# spec "JWT Signing Algorithm": ES384 and RS384 RECOMMENDED; none and symmetric algorithms banned.
ALLOWED_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
_EC_CURVE_FOR_ALG = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
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
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"malformed token ({type(exc).__name__})") from None
        ids = {"iss": unverified.get("iss"), "kid": header.get("kid"), "jti": unverified.get("jti")}
        try:
            key = self._key(header, unverified)
            claims = self._verified_claims(token, header["alg"], key)
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

    def _verified_claims(self, token: str, alg: str, key: VerifyingKey) -> dict[str, Any]:
        # Time, audience and issuer are checked below with the injected clock; PyJWT checks the
        # signature with exactly one algorithm, the one already matched to the key.
        options = {
            "verify_signature": True,
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
            "verify_aud": False,
            "verify_iss": False,
        }
        try:
            return jwt.decode(token, key=key.key, algorithms=[alg], options=options)  # type: ignore[arg-type]
        except jwt.InvalidSignatureError:
            raise TokenRefused("bad signature") from None
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"token rejected ({type(exc).__name__})") from None

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
