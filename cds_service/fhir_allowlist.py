"""The FHIR server allowlist: may this service contact the `fhirServer` an EHR sent?

CDS Hooks 2.0 "Calling a CDS Service" lets the client name any `fhirServer`, whose scheme "MUST be
https when production data is exchanged"; a service that followed every URL it was given could be
steered at internal hosts (server-side request forgery). Operators therefore list FHIR base URLs
(CDS_FHIR_ALLOWLIST). A URL is allowed when it equals an entry or lies under it by whole path
segments, on the same scheme, host and port; https is required except on loopback (127.0.0.0/8,
`localhost`, `[::1]`). A loopback entry without a port (`http://127.0.0.1`) matches any port, for
development servers on changing ports; an entry with an explicit port (`http://127.0.0.1:5000/fhir`)
means that port only, so listing one local FHIR server does not open every other local service.
Decisions use the URL text only: no DNS
lookup, no connection. Anything odd (credentials, query, fragment, dot segments, encoded slashes)
is refused rather than interpreted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from cds_service.frozen import fast_init

__all__ = ["fhir_server_allowed", "is_loopback_host", "is_usable_entry"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Percent-encoded "/", "\" and "." let a path look like it is under an entry and then escape it.
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c|2e)", re.IGNORECASE)


def is_loopback_host(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1, from the text alone (never resolves names)."""
    host = host.lower().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@fast_init
@dataclass(frozen=True)
class _Base:
    scheme: str
    host: str
    port: int | None  # None: any port (loopback entries written without a port)
    path: str  # without a trailing slash; "" is the host's root


def _parse(url: str, *, any_port_on_loopback: bool) -> _Base | None:
    """The parts of an acceptable base URL, or None if the URL is refused outright."""
    if not isinstance(url, str) or url != url.strip() or any(c in url for c in "\\\r\n\t "):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed host or port
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None:
        return None
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return None
    if _ENCODED_SEPARATOR.search(parts.path):
        return None
    if any(segment in {".", ".."} for segment in unquote(parts.path).split("/")):
        return None
    loopback = is_loopback_host(host)
    if scheme != "https" and not loopback:
        return None
    if loopback and any_port_on_loopback and port is None:
        effective_port = None
    else:
        effective_port = port if port is not None else _DEFAULT_PORTS[scheme]
    return _Base(scheme, host, effective_port, parts.path.rstrip("/"))


def _lies_under(candidate: _Base, entry: _Base) -> bool:
    if (candidate.scheme, candidate.host) != (entry.scheme, entry.host):
        return False
    if entry.port is not None and candidate.port != entry.port:
        return False
    return candidate.path == entry.path or candidate.path.startswith(entry.path + "/")


def is_usable_entry(entry: str) -> bool:
    """False for an allowlist entry that could never match (checked at start, not ignored)."""
    return _parse(entry, any_port_on_loopback=True) is not None


def fhir_server_allowed(url: str, allowlist: Sequence[str]) -> bool:
    """May the service send requests to the FHIR base URL `url`, given the operator's list?"""
    candidate = _parse(url, any_port_on_loopback=False)
    if candidate is None:
        return False
    for raw_entry in allowlist:
        entry = _parse(raw_entry, any_port_on_loopback=True)
        if entry is not None and _lies_under(candidate, entry):
            return True
    return False
