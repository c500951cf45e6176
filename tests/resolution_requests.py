"""The hook request the resolution tests send, through the library's one request builder.

Each resolution test module wraps it with its own defaults (which FHIR server, whether a token).
"""

from __future__ import annotations

from typing import Any

from cds_service.hook_requests import hook_request as lib_hook_request
from cds_service.protocol.request import HookRequest


def hook_request(
    prefetch: dict[str, Any] | None = None,
    *,
    fhir_server: str | None = None,
    token: str | None = None,
    context: dict[str, Any] | None = None,
) -> HookRequest:
    """A patient-view request; `prefetch=None` leaves the member out, a token needs a server."""
    body = lib_hook_request(
        "patient-view",
        "p1",
        user_id="Practitioner/u1",
        hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        prefetch=prefetch,
        fhir_server=fhir_server or None,
        fhir_authorization=(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "cds-service",
            }
            if token
            else None
        ),
    )
    if context is not None:
        body["context"] = context
    return HookRequest.model_validate(body)
