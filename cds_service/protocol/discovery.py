"""The discovery response (CDS Hooks 2.0 "Discovery", "Response"): `{"services": [...]}`.

Used to check that what `GET /cds-services` publishes follows the spec: `hook`, `description`
and `id` required, `title`, `prefetch` and `usageRequirements` optional, `extension` tolerated.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DiscoveryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_min_length=1)

    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: dict[str, str] | None = Field(default=None, min_length=1)
    usageRequirements: str | None = None
    extension: dict[str, Any] | None = Field(default=None, min_length=1)


class DiscoveryResponse(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    services: list[DiscoveryEntry]
