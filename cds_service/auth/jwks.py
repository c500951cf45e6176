"""JWK Sets of the trusted issuers: parsed, cached, and refreshed on key rotation, sparingly.

CDS Hooks 2.0 "Trusting CDS Clients": the client publishes its public keys as a JWK Set (RFC 7517),
inline (out of band) or at a URL (`jku`); the token's `kid` picks the key. Keys rotate, so a `kid`
not in the cached set triggers a refetch, but at most one fetch per issuer per minute (an
attacker sending random `kid`s must not turn the service into a traffic generator against the
EHR), and a cached set older than an hour is refetched so removed keys stop working. Only URLs
the trusted-issuers file lists ever reach this module. Fetches use `requests` with connect/read
timeouts, no redirects, a size cap and a total deadline (`FETCH_DEADLINE_SECONDS`: the sockets
are shut down when it passes, so a server trickling bytes cannot hold a worker). A fetch never
holds up a call whose key is already cached: the issuer's lock only guards the cache, a call
needing the same set waits for the fetch in flight (at most its deadline), and a call whose key
is cached but stale is answered from the stale set while one call refreshes it.

Only RSA (at least 2048 bits) and EC P-256/P-384/P-521 signing keys are kept; symmetric (`oct`)
keys and entries carrying private material are dropped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.auth.issuers import TrustedIssuer
from cds_service.fhir_client import Abort, tracked_session
from cds_service.frozen import fast_init

log = logging.getLogger("cds_service.auth")

REFRESH_INTERVAL_SECONDS = 60.0  # at most one refresh per issuer per minute
MAX_AGE_SECONDS = 3600.0  # a fetched set is refetched after this, so removed keys stop working
FETCH_TIMEOUT_SECONDS = (2.0, 3.0)  # connect, read: a slow EHR must not hold a worker for long
FETCH_DEADLINE_SECONDS = 3.0  # the whole fetch, headers and body, trickled or not
MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048
_EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

PublicKey = RSAPublicKey | EllipticCurvePublicKey


@fast_init
@dataclass(frozen=True)
class VerifyingKey:
    kid: str
    key: PublicKey
    alg: str | None  # the JWK's own `alg`, if it names one; the token must then use it


class UnknownKey(Exception):
    """No usable key for this `kid`; the message is a reason for the log."""


def _verifying_key(jwk: Any) -> VerifyingKey | None:
    if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or not jwk["kid"]:
        return None
    if jwk.get("use", "sig") != "sig" or _PRIVATE_MEMBERS & set(jwk):
        return None
    alg = jwk.get("alg")
    if alg is not None and not isinstance(alg, str):
        return None
    try:
        if jwk.get("kty") == "RSA":
            rsa_key = RSAAlgorithm.from_jwk(jwk)
            if not isinstance(rsa_key, RSAPublicKey) or rsa_key.key_size < MIN_RSA_BITS:
                return None
            return VerifyingKey(jwk["kid"], rsa_key, alg)
        if jwk.get("kty") == "EC":
            ec_key = ECAlgorithm.from_jwk(jwk)
            if not isinstance(ec_key, EllipticCurvePublicKey):
                return None
            if ec_key.curve.name not in _EC_CURVES:
                return None
            return VerifyingKey(jwk["kid"], ec_key, alg)
    except Exception:  # any malformed JWK is skipped, never fatal
        return None
    return None


def parse_key_set(document: Any, source: str) -> dict[str, VerifyingKey]:
    """The usable signing keys of a JWK Set, by `kid`; unusable entries are skipped and logged."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise UnknownKey(f"key set from {source} is not a JWK Set")
    keys: dict[str, VerifyingKey] = {}
    for jwk in document["keys"]:
        parsed = _verifying_key(jwk)
        if parsed is None:
            kid = jwk.get("kid") if isinstance(jwk, dict) else None
            log.warning("skipped an unusable JWK (kid=%r) in the key set from %s", kid, source)
        elif parsed.kid in keys:
            log.warning(
                "duplicate kid %r in the key set from %s; the first is used", parsed.kid, source
            )
        else:
            keys[parsed.kid] = parsed
    return keys


@dataclass
class _CachedSet:
    keys: dict[str, VerifyingKey]
    fetched_at: float


@dataclass
class _IssuerState:
    lock: threading.Lock = field(default_factory=threading.Lock)  # never held during a fetch
    last_fetch: float | None = None  # time of the last fetch attempt for any of its URLs
    sets: dict[str, _CachedSet] = field(default_factory=dict)  # by URL
    attempted: set[str] = field(default_factory=set)  # URLs fetched at least once
    in_flight: dict[str, threading.Event] = field(default_factory=dict)  # set when done


class KeySets:
    """Finds the key for (`iss`, key-set URL or the inline set, `kid`), fetching when allowed."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, session: requests.Session | None = None
    ) -> None:
        self._clock = clock
        self._session = session or tracked_session()
        self._state: dict[str, _IssuerState] = {}
        self._guard = threading.Lock()
        self._inline: dict[str, dict[str, VerifyingKey]] = {}

    def key_for(self, issuer: TrustedIssuer, url: str | None, kid: str) -> VerifyingKey:
        """The key for `kid` from `url`, or from the issuer's inline set when `url` is None."""
        if url is None:
            return self._inline_key(issuer, kid)
        with self._guard:
            state = self._state.setdefault(issuer.iss, _IssuerState())
        fetching = False
        with state.lock:
            cached = state.sets.get(url)
            now = self._clock()
            fresh = cached is not None and now - cached.fetched_at < MAX_AGE_SECONDS
            if cached is not None and fresh and kid in cached.keys:
                return cached.keys[kid]
            in_flight = state.in_flight.get(url)
            if in_flight is not None and cached is not None and kid in cached.keys:
                return cached.keys[kid]  # stale, being refreshed by another call: use it now
            may_fetch = in_flight is None and (
                url not in state.attempted
                or state.last_fetch is None
                or now - state.last_fetch >= REFRESH_INTERVAL_SECONDS
            )
            if may_fetch:
                state.last_fetch = now
                state.attempted.add(url)
                in_flight = state.in_flight[url] = threading.Event()
                fetching = True
        if fetching:
            assert in_flight is not None
            try:
                fetched = _CachedSet(self._fetch(url), now)
                with state.lock:
                    state.sets[url] = fetched
            except UnknownKey as exc:  # keep serving a stale set rather than none
                log.warning("JWKS fetch for issuer %r failed: %s", issuer.iss, exc)
            finally:
                with state.lock:
                    state.in_flight.pop(url, None)
                in_flight.set()
        elif in_flight is not None:
            in_flight.wait(FETCH_DEADLINE_SECONDS + 1.0)
        with state.lock:
            cached = state.sets.get(url)
        if cached is not None and kid in cached.keys:
            return cached.keys[kid]
        if not may_fetch and in_flight is None:
            raise UnknownKey(f"kid not in the key set from {url}; refetch rate-limited")
        raise UnknownKey(f"kid not in the key set from {url}, even after a refetch")

    def _inline_key(self, issuer: TrustedIssuer, kid: str) -> VerifyingKey:
        with self._guard:
            keys = self._inline.get(issuer.iss)
            if keys is None:
                keys = parse_key_set(issuer.jwks, f"the inline jwks of {issuer.iss!r}")
                self._inline[issuer.iss] = keys
        if kid not in keys:
            raise UnknownKey("kid not in the issuer's inline key set")
        return keys[kid]

    def _fetch(self, url: str) -> dict[str, VerifyingKey]:
        abort = Abort()
        timer = threading.Timer(FETCH_DEADLINE_SECONDS, abort.abort)
        timer.daemon = True
        timer.start()
        deadline = time.monotonic() + FETCH_DEADLINE_SECONDS
        try:
            with abort.bound():
                return self._fetch_bounded(url, deadline)
        finally:
            timer.cancel()

    def _fetch_bounded(self, url: str, deadline: float) -> dict[str, VerifyingKey]:
        try:
            with self._session.get(
                url,
                timeout=FETCH_TIMEOUT_SECONDS,
                allow_redirects=False,
                stream=True,
                headers={"Accept": "application/json", "Accept-Encoding": "identity"},
            ) as reply:
                if reply.status_code != 200:
                    raise UnknownKey(f"{url} answered HTTP {reply.status_code}")
                body = bytearray()
                while chunk := reply.raw.read1(16384, decode_content=False):
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise UnknownKey(f"{url} sent more than {MAX_JWKS_BYTES} bytes")
                    if time.monotonic() >= deadline:
                        raise UnknownKey(f"{url} took longer than {FETCH_DEADLINE_SECONDS:g} s")
                document = _json(bytes(body), url)
        except requests.RequestException as exc:
            raise UnknownKey(f"{url} could not be fetched ({type(exc).__name__})") from None
        except Exception as exc:  # urllib3's read errors after the deadline shut the socket
            if type(exc).__module__.startswith("urllib3") or isinstance(exc, OSError):
                raise UnknownKey(f"{url} could not be fetched ({type(exc).__name__})") from None
            raise
        return parse_key_set(document, url)


def _json(body: bytes, url: str) -> Mapping[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise UnknownKey(f"{url} did not send JSON") from None
    if not isinstance(document, dict):
        raise UnknownKey(f"{url} did not send a JWK Set")
    return document
