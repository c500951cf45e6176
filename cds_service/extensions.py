"""What the app holds besides its settings: objects live in `app.extensions`, never `app.config`.

`app.config` holds only configuration values (what `CDS_*` variables and test overrides set);
everything built from them (the service definitions, the ledger, the token verifier) and the test
seams (clocks, a replay cache) are kept in `app.extensions` under the names below, read through
these accessors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

if TYPE_CHECKING:
    from cds_service.services import ServiceDefinition

SERVICES = "cds_services"
LEDGER = "cds_ledger"
AUTH = "cds_auth"
SEAMS = "cds_test_seams"

# Test seams, accepted in `create_app(test_config)` and never from the environment:
#   CLOCK              callable returning the `datetime` a hook call treats as now
#   AUTH_CLOCK         callable returning epoch seconds for JWT checks
#   AUTH_REPLAY_CACHE  a `ReplayCache` used instead of the configured one
TEST_SEAMS = frozenset({"CLOCK", "AUTH_CLOCK", "AUTH_REPLAY_CACHE"})


def split_test_config(
    test_config: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(settings, seams) from a test override mapping."""
    settings: dict[str, Any] = {}
    seams: dict[str, Any] = {}
    for key, value in (test_config or {}).items():
        (seams if key in TEST_SEAMS else settings)[key] = value
    return settings, seams


def _app(app: Flask | None) -> Flask:
    return app if app is not None else current_app


def services(app: Flask | None = None) -> dict[str, ServiceDefinition]:
    found: dict[str, ServiceDefinition] = _app(app).extensions[SERVICES]
    return found


def seam(name: str, app: Flask | None = None) -> Any:
    """A test seam's value, or None in service."""
    assert name in TEST_SEAMS, name
    return _app(app).extensions.get(SEAMS, {}).get(name)
