"""The hook request (CDS Hooks 2.0 "Calling a CDS Service", "HTTP Request") and its contexts.

Unknown fields and `extension` objects are ignored, never rejected (checklist section 11.8).
The per-hook contexts follow the CDS Hooks Library STU1 1.0.1 definitions of `patient-view`,
`order-select` and `order-sign` (checklist section 4). `draftOrders` may carry any R4 request
resource; the ones the rules do not read are ignored later, not refused here.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

NonEmpty = Field(min_length=1)
MAX_HOOK_INSTANCE_CHARS = 128


class WireModel(BaseModel):
    # extra="ignore": unknown fields and extensions are tolerated (spec "Extensions").
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)


class FhirAuthorization(WireModel):
    """spec "Passing the Access Token to the CDS Service", read as the OAuth 2.0 token response
    (RFC 6749 section 5.1) it is copied from, since real clients copy it verbatim:

    - `token_type` is compared case-insensitively (RFC 6749 section 5.1: "The value is case
      insensitive"), so `bearer` is accepted and kept as `Bearer`; any other type is refused.
    - `expires_in` may be missing (OAuth: RECOMMENDED; the CDS Hooks sandbox copies it from a token
      response that may lack it) or null. When present it must be a whole, non-negative number of
      seconds: OAuth's grammar is `expires-in = 1*DIGIT` (RFC 6749 appendix A.14) and the spec
      says integer, so `300.0` (a JSON number with a zero fraction) is accepted, while `299.5`,
      `-1`, `"300"` and `true` are refused.
    - `access_token`, `scope` and `subject` stay REQUIRED.
    """

    access_token: str = Field(min_length=1, repr=False)
    token_type: str
    expires_in: int | None = Field(default=None, ge=0)
    scope: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    patient: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("must be 'Bearer' (compared case-insensitively, RFC 6749 5.1)")
        return "Bearer"

    @field_validator("expires_in", mode="before")
    @classmethod
    def _whole_seconds(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a JSON number of seconds")
        if isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                raise ValueError("must be a whole number of seconds (RFC 6749 A.14: 1*DIGIT)")
            return int(value)
        return value

    def __repr__(self) -> str:  # never let the token reach a log through repr()
        return f"FhirAuthorization(subject={self.subject!r}, scope={self.scope!r})"

    __str__ = __repr__


def _check_user_id(value: str) -> str:
    # LIB: "Must be in the format [ResourceType]/[id]".
    resource_type, _, rid = value.partition("/")
    if not resource_type or not rid or "/" in rid:
        raise ValueError("must be a relative reference '[ResourceType]/[id]'")
    return value


# Documentation of what the validators below enforce, for the JSON Schema (`/openapi.json`).
USER_ID_PATTERN = r"^[^/]+/[^/]+$"
FHIR_SERVER_PATTERN = r"^https?://"
_DRAFT_ENTRY: dict[str, JsonValue] = {
    "type": "object",
    "required": ["resource"],
    "properties": {
        "resource": {
            "type": "object",
            "required": ["resourceType"],
            "properties": {"resourceType": {"type": "string"}},
        }
    },
}


class PatientViewContext(WireModel):
    userId: str = Field(min_length=1, json_schema_extra={"pattern": USER_ID_PATTERN})
    patientId: str = Field(min_length=1)
    encounterId: str | None = Field(default=None, min_length=1)

    @field_validator("userId")
    @classmethod
    def _user_reference(cls, value: str) -> str:
        return _check_user_id(value)


class DraftOrdersBundle(WireModel):
    """A Bundle of request resources; `Bundle.type` is not fixed by the hooks (checklist 4.4)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    resourceType: Literal["Bundle"]
    entry: list[dict[str, Any]] = Field(
        default_factory=list, json_schema_extra={"items": _DRAFT_ENTRY}
    )

    @field_validator("entry")
    @classmethod
    def _entries_hold_resources(cls, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                raise ValueError(f"entry[{i}].resource must be a FHIR resource with resourceType")
        return entries

    def resources(self) -> list[dict[str, Any]]:
        return [entry["resource"] for entry in self.entry]

    def references(self) -> set[str]:
        resources = self.resources()
        return {f"{r['resourceType']}/{r['id']}" for r in resources if isinstance(r.get("id"), str)}


class OrderSignContext(PatientViewContext):
    draftOrders: DraftOrdersBundle


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _selections_name_draft_orders(self) -> OrderSelectContext:
        known = self.draftOrders.references()
        unknown = [s for s in self.selections if s not in known]
        if unknown:
            raise ValueError(
                "selections must name resources in draftOrders; not found: " + ", ".join(unknown)
            )
        return self


CONTEXT_MODELS: dict[str, type[PatientViewContext]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}


class HookRequest(WireModel):
    """spec "HTTP Request": hook, hookInstance and context REQUIRED; fhirServer CONDITIONAL."""

    hook: str = Field(min_length=1)
    # A UUID by the spec (36 characters); at most 128, the ledger's column.
    hookInstance: str = Field(min_length=1, max_length=MAX_HOOK_INSTANCE_CHARS)
    fhirServer: str | None = Field(
        default=None, min_length=1, json_schema_extra={"pattern": FHIR_SERVER_PATTERN}
    )
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _fhir_server_with_authorization(self) -> HookRequest:
        # cds-r-1: fhirAuthorization.exists() implies fhirServer.exists()
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirServer is required when fhirAuthorization is present")
        if self.fhirServer is not None and not self.fhirServer.startswith(("https://", "http://")):
            raise ValueError("fhirServer must be an absolute http(s) URL")
        return self

    # Prefetch values are not checked here: the resolution layer classifies each declared key
    # (resource, searchset Bundle, null, OperationOutcome, or unusable such as the spec's own
    # `"user": "123"` example) and re-fetches what it cannot use.


def parse_context(hook: str, context: dict[str, Any]) -> PatientViewContext:
    """Validate `context` against the hook's own model; raises pydantic.ValidationError."""
    return CONTEXT_MODELS[hook].model_validate(context)
