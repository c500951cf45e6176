"""The hook request the resolution tests send: one builder, so the body shape lives in one place.

Each resolution test module wraps it with its own defaults (which FHIR server, whether a token).
"""

from __future__ import annotations

from typing import Any

from cds_service.protocol.request import HookRequest


def hook_request(
    prefetch: dict[str, Any] | None = None,
    *,
    fhir_server: str | None = None,
    token: str | None = None,
    context: dict[str, Any] | None = None,
) -> HookRequest:
    """A patient-view request; `prefetch=None` leaves the member out, a token needs a server."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": context or {"userId": "Practitioner/u1", "patientId": "p1"},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir_server:
        body["fhirServer"] = fhir_server
    if token:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        }
    return HookRequest.model_validate(body)
