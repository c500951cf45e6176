"""The card renderer as it was before cards were built in wire form: through the pydantic models
of `protocol.response`. Kept only as the test reference that `cards.render_card` must match
(uuids aside) over every fixture; the text helpers (`_detail`) are shared, the construction is
the models'."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from cds_service import suggestions as builders
from cds_service.cards import _detail
from cds_service.findings import Finding, ProposedAction
from cds_service.protocol.response import (
    Action,
    Card,
    Coding,
    Link,
    OverrideReason,
    Source,
    Suggestion,
)


def _action(action: ProposedAction) -> Action:
    return Action(
        type=action.type,
        description=action.description,
        resource=action.resource,
        resourceId=action.resource_id,
    )


def reference_card(
    members: Sequence[Finding],
    patient_id: str,
    protocol_links: Mapping[str, str] | None = None,
    unknown: AbstractSet[str] = frozenset(),
    unreadable: Sequence[str] = (),
) -> Card:
    lead = members[0]
    changes = [builders.build(p, patient_id) for f in members for p in f.suggestions]
    suggestions = [
        Suggestion(
            label=change.label,
            isRecommended=change.is_recommended or None,
            actions=[_action(a) for a in change.actions] or None,
        )
        for change in changes
        if change is not None
    ]
    reasons = list(dict.fromkeys(r for f in members for r in f.override_reasons))
    links = list(
        dict.fromkeys((f.citation.label, f.citation.url) for f in members if f.citation.url)
    )
    topic = lead.topic
    local = (protocol_links or {}).get(topic.code) if topic else None
    if local:
        links.insert(0, ("Local protocol", local))
    return Card(
        summary=lead.summary,
        detail=_detail(members, unknown, unreadable),
        indicator=lead.urgency.value,
        source=Source(
            label=lead.citation.label,
            url=lead.citation.url,
            topic=Coding(system=topic.system, code=topic.code, display=topic.display)
            if topic
            else None,
        ),
        suggestions=suggestions or None,
        selectionBehavior=lead.selection_behavior if suggestions else None,
        overrideReasons=[
            OverrideReason(system=r.system, code=r.code, display=r.display) for r in reasons
        ]
        or None,
        links=[Link(label=label[:140], url=url, type="absolute") for label, url in links] or None,
    )


def without_uuids(value: Any) -> Any:
    """`value` with every `uuid` replaced by a fixed marker (fresh uuids differ by design)."""
    if isinstance(value, dict):
        return {k: ("<uuid>" if k == "uuid" else without_uuids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_uuids(v) for v in value]
    return value
