"""The service's own answers outside the CDS Hooks card response: the error envelope, the
feedback receipt and the health check (CDS Hooks 2.0 "Feedback" names
no response body, so ours says what was stored).

These models are what the endpoints emit (`to_wire()`) and what `/openapi.json` describes, so
the document cannot drift from the bodies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class EnvelopeModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class ErrorResponse(EnvelopeModel):
    """Every error: a stable code, a sentence, and for 400/412 the fields or keys at fault."""

    error: str = Field(min_length=1, description="Stable error code, e.g. bad-request")
    message: str = Field(min_length=1, description="What went wrong, for a person")
    details: list[dict[str, Any]] | None = Field(
        default=None,
        min_length=1,
        description="400: one {field, problem} per field path; 412: one {key, state, reason} "
        "per prefetch key that could not be obtained",
    )


class FeedbackResponse(EnvelopeModel):
    stored: int = Field(ge=1, description="Feedback items stored")
    unknownCards: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Cards the ledger never issued: stored and flagged, not dropped",
    )


class HealthResponse(EnvelopeModel):
    status: Literal["ok"]
    services: int = Field(ge=0, description="CDS services loaded from hooks/")
