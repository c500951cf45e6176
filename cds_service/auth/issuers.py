"""The trusted-issuers file: which EHRs may call this service, and where their keys are.

CDS Hooks 2.0 "Trusting CDS Clients" says services SHOULD keep an allowlist of `iss` and `jku`
URLs and that, without `jku`, the JWK Set is exchanged out of band; trust is therefore configured,
never discovered. The file named by CDS_TRUSTED_ISSUERS_FILE is a JSON object
`{"issuers": {"<iss>": {...}}}`; each issuer gives at least one key source: `jwks` (an inline JWK
Set), `jwks_url` (a JWK Set URL), or `jku` (the list of `jku` header URLs it may use), and may give
`tenants` (the `tenant` claim values accepted from it) and `audiences` (exact `aud` URLs accepted
from it besides the called endpoint's own URL, for EHRs whose `aud` is configured by the health
system rather than derived from the endpoint). Key-set URLs must be https (loopback excepted) and
are compared exactly; a `jku` not listed here is never fetched. An issuer may give inline keys and
`jku`/`jwks_url` together: a `kid` found inline is used without any fetch (pinned keys for a site
without outbound access), and only a `kid` not inline sends the service to a listed URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cds_service.fhir_allowlist import is_loopback_host
from cds_service.frozen import fast_init

_KNOWN_FIELDS = frozenset({"jwks", "jwks_url", "jku", "tenants", "audiences", "comment"})


class TrustConfigError(ValueError):
    """The trusted-issuers file is missing, unreadable or malformed; the service must not start."""


@fast_init
@dataclass(frozen=True)
class TrustedIssuer:
    iss: str
    jwks: Mapping[str, Any] | None = None  # inline JWK Set, as in the file
    jwks_url: str | None = None
    jku: frozenset[str] = frozenset()
    tenants: frozenset[str] | None = None  # None: the issuer is not multi-tenant here
    audiences: frozenset[str] = frozenset()  # extra exact `aud` values accepted from this issuer

    def allowed_key_set_urls(self) -> frozenset[str]:
        """URLs a token's `jku` may name: the listed ones, and the configured JWKS URL."""
        return self.jku | ({self.jwks_url} if self.jwks_url else set())


def _key_set_url(iss: str, url: Any) -> str:
    if not isinstance(url, str) or not url:
        raise TrustConfigError(f"issuer {iss!r}: key set URLs must be non-empty strings")
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and is_loopback_host(parts.hostname or "")
    if parts.scheme != "https" and not loopback:
        raise TrustConfigError(f"issuer {iss!r}: {url!r} must be https (http only on loopback)")
    if not parts.hostname or parts.username or parts.password:
        raise TrustConfigError(f"issuer {iss!r}: {url!r} is not a plain key set URL")
    return url


def _audience(iss: str, url: Any) -> str:
    # Exact URLs only: no wildcard, pattern, query or fragment, so that a configured audience can
    # never widen into "any URL on this host".
    if not isinstance(url, str) or not url:
        raise TrustConfigError(f"issuer {iss!r}: `audiences` must be non-empty URL strings")
    parts = urlsplit(url)
    if any(c in url for c in "*?#\\ ") or parts.username or parts.password:
        raise TrustConfigError(f"issuer {iss!r}: audience {url!r} must be one exact URL")
    loopback = parts.scheme == "http" and is_loopback_host(parts.hostname or "")
    if (parts.scheme != "https" and not loopback) or not parts.hostname:
        raise TrustConfigError(
            f"issuer {iss!r}: audience {url!r} must be an https URL (http only on loopback)"
        )
    return url


def _issuer(iss: str, entry: Any) -> TrustedIssuer:
    if not iss:
        raise TrustConfigError("an issuer's `iss` must not be empty")
    if not isinstance(entry, dict):
        raise TrustConfigError(f"issuer {iss!r}: expected an object")
    unknown = set(entry) - _KNOWN_FIELDS
    if unknown:  # a typo such as "jwks_uri" must not silently leave an issuer without keys
        raise TrustConfigError(f"issuer {iss!r}: unknown fields {sorted(unknown)}")
    jwks = entry.get("jwks")
    if jwks is not None and not (isinstance(jwks, dict) and isinstance(jwks.get("keys"), list)):
        raise TrustConfigError(f'issuer {iss!r}: `jwks` must be a JWK Set {{"keys": [...]}}')
    jwks_url = entry.get("jwks_url")
    if jwks_url is not None:
        jwks_url = _key_set_url(iss, jwks_url)
    jku_list = entry.get("jku", [])
    if not isinstance(jku_list, list):
        raise TrustConfigError(f"issuer {iss!r}: `jku` must be a list of URLs")
    jku = frozenset(_key_set_url(iss, url) for url in jku_list)
    if jwks is None and jwks_url is None and not jku:
        raise TrustConfigError(f"issuer {iss!r}: give `jwks`, `jwks_url` or `jku`")
    tenants = entry.get("tenants")
    if tenants is not None:
        if not isinstance(tenants, list) or not all(isinstance(t, str) and t for t in tenants):
            raise TrustConfigError(f"issuer {iss!r}: `tenants` must be a list of strings")
        if not tenants:
            raise TrustConfigError(f"issuer {iss!r}: `tenants` is empty; omit it to allow any")
        tenants = frozenset(tenants)
    audience_list = entry.get("audiences", [])
    if not isinstance(audience_list, list):
        raise TrustConfigError(f"issuer {iss!r}: `audiences` must be a list of URLs")
    if "audiences" in entry and not audience_list:
        raise TrustConfigError(f"issuer {iss!r}: `audiences` is empty; omit it")
    audiences = frozenset(_audience(iss, url) for url in audience_list)
    return TrustedIssuer(
        iss=iss,
        jwks=jwks,
        jwks_url=jwks_url,
        jku=jku,
        tenants=tenants,
        audiences=audiences,
    )


def parse_trusted_issuers(document: Any) -> dict[str, TrustedIssuer]:
    """Check a parsed trusted-issuers document; returns issuers by `iss`."""
    if not isinstance(document, dict) or not isinstance(document.get("issuers"), dict):
        raise TrustConfigError('expected a JSON object {"issuers": {"<iss>": {...}}}')
    issuers = {iss: _issuer(iss, entry) for iss, entry in document["issuers"].items()}
    if not issuers:
        raise TrustConfigError("no issuers are trusted; every call would be refused")
    return issuers


def load_trusted_issuers(path: str | Path) -> dict[str, TrustedIssuer]:
    """Read the file named by CDS_TRUSTED_ISSUERS_FILE; any problem is a TrustConfigError."""
    if not str(path):
        raise TrustConfigError(
            "CDS_AUTH_ENABLED is on but CDS_TRUSTED_ISSUERS_FILE is not set; name a trusted-"
            "issuers file (see the README), or set CDS_AUTH_ENABLED=false for local use only"
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TrustConfigError(f"cannot read trusted-issuers file {path}: {exc.strerror}") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise TrustConfigError(f"trusted-issuers file {path} is not valid JSON: {exc}") from None
    try:
        return parse_trusted_issuers(document)
    except TrustConfigError as exc:
        raise TrustConfigError(f"trusted-issuers file {path}: {exc}") from None


def _refuse_constant(name: str) -> float:
    # NaN and Infinity are Python extensions, not JSON.
    raise ValueError(f"{name} is not JSON")
