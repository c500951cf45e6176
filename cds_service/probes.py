"""Readiness: `GET /readyz` answers 200 when this instance can serve, 503 naming what fails.

`/healthz` (in `api`) says the process is alive and answers without touching anything else, for a
liveness probe that must not restart a healthy process because its database is down. `/readyz` is
for a load balancer or an orchestrator deciding whether to send calls here; it checks

- `database`: the ledger database answers `SELECT 1`, is at this release's schema revision, and the
  ledger's writer is not in an outage (`Ledger.health()`: cards are then only in the local spool);
- `trusted_issuers`: with authentication on, at least one issuer is configured (off: `disabled`);
- `replay_cache`: with authentication on, the shared `jti` store answers (while it does not, tokens
  are checked against this host only, so a token replayed to another instance could pass);
- `hooks`: at least one CDS service is loaded.

Both probes are outside JWT authentication and say nothing about patients, tokens or the URL of
the database; a failing check names itself and the error type only.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from cds_service import extensions, migrate

blueprint = Blueprint("probes", __name__)
READY_PATH = "/readyz"


def _database() -> tuple[bool, str]:
    ledger = current_app.extensions[extensions.LEDGER]
    try:
        with ledger.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = migrate.current(ledger.engine)
    except Exception as exc:  # any failure to reach it means not ready
        return False, f"unreachable ({type(exc).__name__})"
    if revision != migrate.head():
        return False, f"schema revision {revision or '(none)'}, needs {migrate.head()}"
    health: dict[str, Any] = ledger.health()
    if not health.get("database_ok", True):
        spooled = health.get("spooled_calls", 0)
        return False, f"ledger writes failing; {spooled} call(s) kept in the local spool"
    return True, f"ok (schema {revision})"


def _trusted_issuers() -> tuple[bool, str]:
    if not current_app.config["AUTH_ENABLED"]:
        return True, "disabled (authentication off)"
    verifier = current_app.extensions.get(extensions.AUTH)
    count = len(verifier.issuers) if verifier is not None else 0
    return count > 0, f"{count} issuer(s)" if count else "none configured"


def _replay_cache() -> tuple[bool, str]:
    verifier = current_app.extensions.get(extensions.AUTH)
    if verifier is None:
        return True, "disabled (authentication off)"
    health = getattr(verifier.replay_cache, "health", None)
    if health is None:
        return True, f"ok ({type(verifier.replay_cache).__name__})"
    state: dict[str, Any] = health()
    if state.get("shared_ok", True):
        return True, "ok (shared)"
    return False, f"shared store down for {state.get('outage_seconds', 0)} s; host-local only"


def _hooks() -> tuple[bool, str]:
    count = len(extensions.services())
    return count > 0, f"{count} service(s)"


@blueprint.get(READY_PATH)
def readyz() -> Response:
    checks = {
        "database": _database(),
        "trusted_issuers": _trusted_issuers(),
        "replay_cache": _replay_cache(),
        "hooks": _hooks(),
    }
    failing = [name for name, (ok, _) in checks.items() if not ok]
    body = {
        "status": "not ready" if failing else "ready",
        "failing": failing,
        "checks": {name: detail for name, (_, detail) in checks.items()},
    }
    response = jsonify(body)
    response.status_code = 503 if failing else 200
    response.headers["Cache-Control"] = "no-store"
    return response
