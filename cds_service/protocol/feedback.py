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

# RFC 3339 section 5.6 date-time: full-date "T" full-time, time-offset mandatory.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class FeedbackModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_min_length=1)


class AcceptedSuggestion(FeedbackModel):
    id: str


class ReasonCoding(FeedbackModel):
    code: str
    system: str
    display: str | None = None


class OverrideReasonFeedback(FeedbackModel):
    reason: ReasonCoding | None = None
    userComment: str | None = None


class FeedbackItem(FeedbackModel):
    card: str
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(default=None, min_length=1)
    overrideReason: OverrideReasonFeedback | None = None
    outcomeTimestamp: str

    @field_validator("outcomeTimestamp")
    @classmethod
    def _rfc3339_instant(cls, value: str) -> str:
        if not RFC3339.match(value):
            raise ValueError("must be an RFC 3339 date-time with a zone, e.g. 2026-11-21T10:00:00Z")
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))  # rejects 2026-13-45
        return value

    @model_validator(mode="after")
    def _outcome_fields(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required when outcome is accepted")
        return self

    def timestamp(self) -> datetime:
        return datetime.fromisoformat(self.outcomeTimestamp.upper())


class FeedbackRequest(FeedbackModel):
    feedback: list[FeedbackItem] = Field(min_length=1)
