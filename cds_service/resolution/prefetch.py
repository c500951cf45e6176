"""Classifying one prefetch value (CDS Hooks 2.0 "Prefetch", checklist sections 3.4 and 11.3).

A declared key arrives in one of four shapes: provided (a resource, or a Bundle with entries of
the template's type), known empty (`null`, or a Bundle with none), failed at the client (an
OperationOutcome, or a Bundle holding only OperationOutcomes), or missing (absent). A value the
service cannot use (a bare string such as the spec's own `"user": "123"` example, a JSON object
without `resourceType`, a resource of another type than a read asked for) counts as missing, so
it is re-fetched when a server is available. Over-delivery (an EHR ignoring `_count` or the code
filter, or sending the whole record) is cut here: only entries whose `resourceType` matches the
template are kept, read from raw dicts without parsing them, so the cost is one dict lookup per
entry however much unrelated history comes along.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.frozen import fast_init
from cds_service.resolution.resolved import KeyState

OPERATION_OUTCOME = "OperationOutcome"


@fast_init
@dataclass(frozen=True)
class Classified:
    state: KeyState
    resources: tuple[dict[str, Any], ...] = ()
    operation_outcomes: tuple[dict[str, Any], ...] = ()
    next_url: str | None = None  # a searchset Bundle's `next` link, still to be followed
    reason: str | None = None


def next_link(bundle: dict[str, Any]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def sort_entries(
    bundle: dict[str, Any], resource_type: str | None
) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """One pass over a Bundle's entries (a prefetch Bundle can hold 10,000): how many hold a
    resource, the resources to keep (the template's type only; with no known type, everything
    but OperationOutcomes) and the OperationOutcomes, each in entry order."""
    entries = bundle.get("entry")
    kept: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    count = 0
    for entry in entries if isinstance(entries, list) else ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        count += 1
        kind = resource.get("resourceType")
        if kind == OPERATION_OUTCOME:
            outcomes.append(resource)
        if (kind != OPERATION_OUTCOME) if resource_type is None else (kind == resource_type):
            kept.append(resource)
    return count, kept, outcomes


def classify(present: bool, value: Any, resource_type: str | None) -> Classified:
    """Sort one prefetch value into provided / empty / failed / missing."""
    if not present:
        return Classified(KeyState.MISSING, reason="not in prefetch")
    if value is None:
        return Classified(KeyState.EMPTY)
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return Classified(KeyState.MISSING, reason="prefetch value is not a FHIR resource")
    kind = value["resourceType"]
    if kind == OPERATION_OUTCOME:
        return Classified(
            KeyState.FAILED,
            operation_outcomes=(value,),
            reason="the EHR could not prefetch it (OperationOutcome)",
        )
    if kind != "Bundle" or resource_type == "Bundle":
        if resource_type is not None and kind != resource_type:
            reason = f"prefetch holds a {kind}, the template asks for {resource_type}"
            return Classified(KeyState.MISSING, reason=reason)
        return Classified(KeyState.PROVIDED, resources=(value,))
    return classify_bundle(value, resource_type)


def classify_bundle(bundle: dict[str, Any], resource_type: str | None) -> Classified:
    count, kept, outcomes = sort_entries(bundle, resource_type)
    if count and len(outcomes) == count:
        return Classified(
            KeyState.FAILED,
            operation_outcomes=tuple(outcomes),
            reason="the EHR could not prefetch it (OperationOutcome)",
        )
    state = KeyState.PROVIDED if kept else KeyState.EMPTY
    return Classified(
        state,
        resources=tuple(kept),
        operation_outcomes=tuple(outcomes),
        next_url=next_link(bundle),
    )
