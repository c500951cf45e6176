"""What the data-resolution layer hands to the facts layer: one outcome per prefetch key.

The CDS Hooks 2.0 spec (section "Prefetch", checklist section 3) lets a client send a key with a
resource or searchset Bundle, with `null` (no data), with an OperationOutcome (it tried and
failed), or not at all. The resolution layer turns each declared key into a `KeyOutcome` with the
raw resources it obtained (prefetched or fetched from `fhirServer`), already filtered to the
resource types the facts layer reads; the facts layer parses only those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cds_service.frozen import fast_init


class KeyState(StrEnum):
    PROVIDED = "provided"  # a resource, or a searchset Bundle with entries
    EMPTY = "empty"  # null, an empty searchset Bundle, or 404/410 from the server
    FAILED = "failed"  # the client or the server answered with an OperationOutcome
    MISSING = "missing"  # not in prefetch and not (yet) fetched
    UNAVAILABLE = "unavailable"  # could not be obtained: no fhirServer, unreachable, 401/403...


@fast_init
@dataclass(frozen=True)
class KeyOutcome:
    key: str
    state: KeyState
    source: str  # "prefetch" | "fhir-server" | "none"
    resources: tuple[dict[str, Any], ...] = ()  # raw FHIR JSON, entries of interest only
    complete: bool = True  # False when paging stopped early (cap, foreign origin, budget)
    reason: str | None = None  # why not provided, safe to show (never a token or a body)
    operation_outcomes: tuple[dict[str, Any], ...] = ()


@fast_init
@dataclass(frozen=True)
class ResolvedData:
    outcomes: dict[str, KeyOutcome] = field(default_factory=dict)

    def resources(self, key: str) -> tuple[dict[str, Any], ...]:
        outcome = self.outcomes.get(key)
        return outcome.resources if outcome else ()

    def obtained(self, key: str) -> bool:
        outcome = self.outcomes.get(key)
        return outcome is not None and outcome.state in (KeyState.PROVIDED, KeyState.EMPTY)
