"""The feedback body (CDS Hooks 2.0 "Feedback", "Suggestion accepted", "Overridden guidance",
"OverrideReason"): `{"feedback": [ ... ]}`, validated before anything is stored.

`acceptedSuggestions` is required for `accepted` outcomes; `outcomeTimestamp` must be an RFC 3339
instant (section 5.6, with a zone). The reason Coding in `overrideReason` needs `code` and `system`
but not `display` (the spec's own example omits it).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Limits: feedback names cards this service issued (36-character uuids) and is sent
# per user action, so real posts are small; these bound what one post can make the store hold.
MAX_ITEMS = 100  # feedback items per post
MAX_BODY_BYTES = 1024 * 1024  # a feedback post's body
MAX_CARD_CHARS = 64  # the ledger's card uuid column
MAX_SUGGESTIONS = 32  # accepted suggestions per item
MAX_ID_CHARS = 64  # a suggestion uuid
MAX_CODE_CHARS = 256
MAX_SYSTEM_CHARS = 1024  # a URI
MAX_DISPLAY_CHARS = 1024
MAX_COMMENT_CHARS = 4000

# RFC 3339 section 5.6 date-time: full-date "T" full-time, time-offset mandatory; each field in
# its range (a day past the month's end is caught by the parse below). Year 0000 and leap second
# 60 are valid RFC 3339 but cannot be stored as a Python datetime, so they are refused too.
RFC3339 = re.compile(
    r"^(?!0000)\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)


class FeedbackModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_min_length=1)


class AcceptedSuggestion(FeedbackModel):
    id: str = Field(max_length=MAX_ID_CHARS)


class ReasonCoding(FeedbackModel):
    code: str = Field(max_length=MAX_CODE_CHARS)
    system: str = Field(max_length=MAX_SYSTEM_CHARS)
    display: str | None = Field(default=None, max_length=MAX_DISPLAY_CHARS)


class OverrideReasonFeedback(FeedbackModel):
    reason: ReasonCoding | None = None
    userComment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)


class FeedbackItem(FeedbackModel):
    # What the validators below enforce, written into the JSON Schema (`/openapi.json`) too.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"outcome": {"const": "accepted"}}, "required": ["outcome"]},
            "then": {"required": ["acceptedSuggestions"]},
        }
    )

    card: str = Field(max_length=MAX_CARD_CHARS)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(
        default=None, min_length=1, max_length=MAX_SUGGESTIONS
    )
    overrideReason: OverrideReasonFeedback | None = None
    outcomeTimestamp: str = Field(max_length=64, json_schema_extra={"pattern": RFC3339.pattern})

    @field_validator("outcomeTimestamp")
    @classmethod
    def _rfc3339_instant(cls, value: str) -> str:
        example = "e.g. 2026-11-21T10:00:00Z"
        if not RFC3339.match(value):
            raise ValueError(f"must be an RFC 3339 date-time with a zone, {example}")
        try:
            datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
        except ValueError:  # a day past the end of its month, e.g. 2026-02-30
            raise ValueError(f"is not a date-time that exists, {example}") from None
        return value

    @model_validator(mode="after")
    def _outcome_fields(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required when outcome is accepted")
        return self

    def timestamp(self) -> datetime:
        return datetime.fromisoformat(self.outcomeTimestamp.upper())


class FeedbackRequest(FeedbackModel):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=MAX_ITEMS)
