"""Authentication of the calling EHR on every endpoint (CDS Hooks 2.0 "Trusting CDS Clients").

`init_app(app)` installs the security headers and a before-request check: discovery, service
calls and feedback need `Authorization: Bearer <JWT>`, verified by `TokenVerifier` against the
trusted-issuers file, with `aud` = the public URL of the endpoint called (CDS_PUBLIC_BASE_URL plus
the path, or the request's own root when that is empty; for feedback the service URL is accepted
too, checklist 11.5). `/healthz` and CORS preflights pass without a token. Any failure is a 401 with
no detail (`Unauthorized`); the reason is logged with `iss`, `kid` and `jti`, never the token.
Verified claims are put on `flask.g.jwt_claims`. With CDS_AUTH_ENABLED=false every call passes and
the service warns at start and on each discovery call. Tests may pass the seams `AUTH_CLOCK` (a
callable returning epoch seconds) and `AUTH_REPLAY_CACHE` (a `ReplayCache`) to `create_app`.
"""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, current_app, g, request

from cds_service import extensions, metrics
from cds_service.auth import headers
from cds_service.auth.issuers import TrustConfigError, load_trusted_issuers
from cds_service.auth.jwks import KeySets
from cds_service.auth.replay import InMemoryReplayCache, ReplayCache, ReplayCacheUnavailable
from cds_service.auth.replay_layers import HostReplayCache, LayeredReplayCache
from cds_service.auth.replay_sql import SqlReplayCache
from cds_service.auth.verifier import TokenRefused, TokenVerifier
from cds_service.errors import ServiceUnavailable, Unauthorized

__all__ = ["TokenRefused", "TokenVerifier", "TrustConfigError", "expected_audiences", "init_app"]

log = logging.getLogger("cds_service.auth")

# /operator/pilot: shadow mode and rule switches for operators; no PHI, no secrets.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/operator/pilot"})
# Blueprints whose routes serve no patient data and call no service (only registered when
# enabled): the card preview page, whose browser code calls the hook endpoints with a JWT.
OPEN_BLUEPRINTS = frozenset({"preview"})
DISCOVERY_PATH = "/cds-services"
_FEEDBACK_PATH = re.compile(r"^(/cds-services/[^/]+)/feedback$")
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*) *$", re.IGNORECASE)
_AUTH_OFF = "authentication is OFF (CDS_AUTH_ENABLED=false): any caller can use this service"


def expected_audiences(public_base_url: str, root_url: str, path: str) -> list[str]:
    """The `aud` values accepted for a call to `path` (spec: "the URL of the CDS Service endpoint
    being invoked"); for feedback, the feedback URL and the service's own URL."""
    base = (public_base_url or root_url).rstrip("/")
    audiences = [base + path]
    feedback = _FEEDBACK_PATH.match(path)
    if feedback:
        audiences.append(base + feedback.group(1))
    return audiences


def build_verifier(app: Flask) -> TokenVerifier:
    """A verifier from the app's configuration; a bad trusted-issuers file stops the start."""
    config = app.config
    clock = extensions.seam("AUTH_CLOCK", app) or time.time
    replay_cache: ReplayCache | None = extensions.seam("AUTH_REPLAY_CACHE", app)
    if replay_cache is None and config["REPLAY_CACHE"] == "memory":
        replay_cache = InMemoryReplayCache(clock)
    if replay_cache is None:
        # Shared by every gunicorn worker and instance through the ledger's database, with this
        # process's memory in front and a host-local store behind it (replay_layers).
        replay_cache = LayeredReplayCache(
            SqlReplayCache(app.extensions[extensions.LEDGER].engine, clock),
            HostReplayCache(app.extensions[extensions.LEDGER].spool_dir / "replay", clock),
            clock,
        )
    return TokenVerifier(
        load_trusted_issuers(config["TRUSTED_ISSUERS_FILE"]),
        key_sets=KeySets(clock=clock),
        replay_cache=replay_cache,
        clock=clock,
        leeway_seconds=float(config["JWT_LEEWAY_SECONDS"]),
        max_lifetime_seconds=float(config["JWT_MAX_LIFETIME_SECONDS"]),
    )


def _refuse(reason: str, exc: TokenRefused | None = None) -> Unauthorized:
    metrics.jwt_refused(reason)
    ids = (exc.iss, exc.kid, exc.jti) if exc else (None, None, None)
    log.warning("JWT refused: %s (iss=%r kid=%r jti=%r)", reason, *ids)
    log_fields = getattr(g, "log_fields", None)
    if isinstance(log_fields, dict):
        log_fields["auth"] = {"refused": reason, "iss": ids[0], "kid": ids[1], "jti": ids[2]}
    return Unauthorized(reason)


def _require_jwt() -> None:
    if request.method == "OPTIONS" or request.path in PUBLIC_PATHS:
        return
    if request.url_rule is None:
        return  # no such route: 404 (or 405) whether or not a token came, and no token is read
    if request.blueprint is not None and request.blueprint in OPEN_BLUEPRINTS:
        return  # the preview page's own routes; its hook and feedback calls still need a JWT
    header = request.headers.get("Authorization")
    if not header:
        raise _refuse("no Authorization header")
    match = _BEARER.match(header)
    if match is None:
        raise _refuse("Authorization is not `Bearer <JWT>`")
    audiences = expected_audiences(
        current_app.config["PUBLIC_BASE_URL"], request.url_root, request.path
    )
    verifier: TokenVerifier = current_app.extensions[extensions.AUTH]
    try:
        claims = verifier.verify(match.group(1), audiences)
    except TokenRefused as exc:
        raise _refuse(str(exc), exc) from None
    except ReplayCacheUnavailable:
        # Fail closed: the token may be valid, but whether it was used before cannot be told.
        raise ServiceUnavailable(
            "authentication cannot be completed right now (replay cache); retry later"
        ) from None
    g.jwt_claims = claims
    timer = g.get("stage_timer")
    if timer is not None:
        timer.lap("auth")  # since the `request` stage: the hooks before this one and the JWT check
    log_fields = getattr(g, "log_fields", None)
    if isinstance(log_fields, dict):
        log_fields["auth"] = {k: claims[k] for k in ("iss", "tenant", "jti") if k in claims}


def _warn_on_discovery() -> None:
    if request.method == "GET" and request.path == DISCOVERY_PATH:
        log.warning(_AUTH_OFF)


def init_app(app: Flask) -> None:
    headers.init_app(app)
    if not app.config["AUTH_ENABLED"]:
        log.warning("%s; local use only", _AUTH_OFF)
        app.before_request(_warn_on_discovery)
        return
    app.extensions[extensions.AUTH] = build_verifier(app)
    if not app.config["PUBLIC_BASE_URL"]:
        # The Host header is the caller's to choose: a token stolen from another service whose
        # `aud` names that service would pass with `Host:` set to match.
        log.warning(
            "CDS_PUBLIC_BASE_URL is empty: `aud` is checked against the request's Host "
            "header; set it to the public URL in production"
        )
    app.before_request(_require_jwt)
