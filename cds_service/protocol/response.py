"""The service response (CDS Hooks 2.0 "CDS Service Response", "Card Attributes", "Source",
"Suggestion", "Action", "Link", "System Action", "Coding"): valid by construction.

The models refuse what the spec forbids rather than repair it: a summary of 140 characters or
more, suggestions without `selectionBehavior`, an override reason without `display`, a delete
without `resourceId`, `appContext` on an absolute link. `to_wire()` drops every `None`, so no
`null`, empty string, list or object ever leaves (spec "Use of JSON"); `cards: []` is the one
empty list the spec allows.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cds_service.uuids import uuid7

MAX_SUMMARY_CHARS = 139  # spec: "<140-character summary"; CRD test kit fails >= 140


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_min_length=1)


def _absolute_url(value: str) -> str:
    # Kept as the exact string (pydantic's AnyUrl would normalise it, e.g. add a slash).
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


AbsoluteUrl = Annotated[str, AfterValidator(_absolute_url)]


def new_uuid() -> str:
    return uuid7()  # time-ordered, as the service's cards (cds_service.uuids)


class Coding(StrictModel):
    """spec "Coding": code and system REQUIRED; display required for override reasons."""

    system: str
    code: str
    display: str | None = None


class OverrideReason(Coding):
    display: str


class Source(StrictModel):
    label: str
    url: AbsoluteUrl | None = None
    icon: AbsoluteUrl | None = None
    topic: Coding | None = None


class Action(StrictModel):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = Field(default=None, min_length=1)
    resourceId: str | None = Field(default=None, pattern=r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")

    @model_validator(mode="after")
    def _payload_matches_type(self) -> Action:
        if self.type == "delete":
            if self.resourceId is None or self.resource is not None:
                raise ValueError("a delete action carries resourceId and no resource")
        elif self.resource is None or "resourceType" not in self.resource:
            raise ValueError(f"a {self.type} action carries a FHIR resource")
        return self


class SystemAction(Action):
    """spec "System Action": an Action the client may auto-apply. The spec's own example omits
    `description` although the Action table makes it REQUIRED (checklist 5.5): accepted here so
    the spec's example parses; the renderer always sends one."""

    description: str | None = None  # type: ignore[assignment]


class Suggestion(StrictModel):
    label: str
    uuid: str = Field(default_factory=new_uuid)
    isRecommended: bool | None = None
    actions: list[Action] | None = Field(default=None, min_length=1)


class Link(StrictModel):
    label: str
    url: AbsoluteUrl
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context_only_on_smart(self) -> Link:
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is only valid on smart links")
        return self


class Card(StrictModel):
    uuid: str = Field(default_factory=new_uuid)
    summary: str = Field(max_length=MAX_SUMMARY_CHARS)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = Field(default=None, min_length=1)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[OverrideReason] | None = Field(default=None, min_length=1)
    links: list[Link] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _selection_behavior_with_suggestions(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when suggestions are present")
        if not self.suggestions and self.selectionBehavior is not None:
            raise ValueError("selectionBehavior without suggestions")
        if self.selectionBehavior == "at-most-one" and self.suggestions:
            if sum(1 for s in self.suggestions if s.isRecommended) > 1:
                raise ValueError("at most one suggestion may be recommended with at-most-one")
        return self


class CdsResponse(StrictModel):
    cards: list[Card]
    systemActions: list[SystemAction] | None = Field(default=None, min_length=1)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
