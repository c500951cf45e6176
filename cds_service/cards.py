"""Rendering findings into CDS Hooks cards: the only module that knows card JSON.

Findings that share a `group` become one card (the most urgent finding leads: its summary,
indicator and source), so a clinician sees a few cards per call, not one per rule. The detail is
GitHub-flavoured markdown (spec "Card Attributes"): the recommendation, then the evidence the
rules used (value, unit, date, resource reference), then the citation with its evidence grading.
Every card and suggestion gets a uuid so feedback can be joined to the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from cds_service import suggestions as builders
from cds_service.findings import Evidence, Finding, ProposedAction, Urgency
from cds_service.protocol.response import (
    Action,
    Card,
    CdsResponse,
    Coding,
    Link,
    OverrideReason,
    Source,
    Suggestion,
)

_URGENCY_ORDER = {Urgency.INFO: 0, Urgency.WARNING: 1, Urgency.CRITICAL: 2}


@dataclass(frozen=True)
class IssuedCard:
    """A rendered card and the rule ids behind it (for the ledger)."""

    card: Card
    rule_ids: tuple[str, ...]


def _group(findings: Sequence[Finding]) -> list[list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    ordered: list[list[Finding]] = []
    for finding in findings:
        if finding.group is None:
            ordered.append([finding])
        elif finding.group in groups:
            groups[finding.group].append(finding)
        else:
            groups[finding.group] = [finding]
            ordered.append(groups[finding.group])
    for members in ordered:
        members.sort(key=lambda f: -_URGENCY_ORDER[f.urgency])  # stable: keeps rule order
    ordered.sort(key=lambda members: -_URGENCY_ORDER[members[0].urgency])
    return ordered


def _evidence_line(item: Evidence) -> str:
    parts = [f"**{item.label}**"]
    if item.value:
        parts.append(item.value)
    if item.when:
        parts.append(f"({item.when.date().isoformat()})")
    line = " ".join(parts)
    if item.reference:
        line += f" — `{item.reference}`"
    if item.note:
        line += f" — {item.note}"
    return f"- {line}"


def grading(note: str) -> str:
    """The evidence grading a card shows: the note's first sentence (the rest is provenance)."""
    first = re.split(r"(?<=[.;])\s", note.strip(), maxsplit=1)[0].rstrip(".;")
    return first if len(first) <= 200 else first[:197].rstrip() + "..."


# What a card says when a prefetch key could not be obtained (facts.unknown): the advice may be
# missing something, and the clinician should know which data were not seen.
NOT_RETRIEVED = {
    "patient": "Patient details (age)",
    "conditions": "Diagnoses",
    "observations": "Lab results",
    "medications": "Medication orders",
    "administrations": "Medication administrations",
    "procedures": "Procedures",
    "serviceRequests": "Service requests (plasma exchange may be recorded here)",
}


def _detail(members: Sequence[Finding], unknown: AbstractSet[str] = frozenset()) -> str:
    sections: list[str] = []
    for finding in members:
        if len(members) > 1:
            sections.append(f"### {finding.summary}")
        sections.append(finding.detail.strip())
    evidence = [e for f in members for e in f.evidence]
    evidence += [
        Evidence(NOT_RETRIEVED[key], None, None, None, "could not be retrieved for this request")
        for key in sorted(unknown)
        if key in NOT_RETRIEVED
    ]
    if evidence:
        unique = list(dict.fromkeys(evidence))
        sections.append("**Evidence used**\n\n" + "\n".join(_evidence_line(e) for e in unique))
    citations = list(dict.fromkeys(f.citation for f in members))
    lines = []
    for citation in citations:
        line = f"- {citation.label}"
        if citation.url:
            line = f"- [{citation.label}]({citation.url})"
        if citation.evidence_note:
            line += f". Evidence: {grading(citation.evidence_note)}"
        lines.append(line)
    sections.append("**Source**\n\n" + "\n".join(lines))
    return "\n\n".join(sections)


def _action(action: ProposedAction) -> Action:
    return Action(
        type=action.type,
        description=action.description,
        resource=action.resource,
        resourceId=action.resource_id,
    )


def render_card(
    members: Sequence[Finding],
    patient_id: str,
    protocol_links: Mapping[str, str] | None = None,
    unknown: AbstractSet[str] = frozenset(),
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
    # The guideline behind each finding, for the clinician who wants to read it.
    links = list(
        dict.fromkeys((f.citation.label, f.citation.url) for f in members if f.citation.url)
    )
    topic = lead.topic
    local = (protocol_links or {}).get(topic.code) if topic else None
    if local:  # the operator's own protocol for this topic (CDS_PROTOCOL_LINKS), first
        links.insert(0, ("Local protocol", local))
    return Card(
        summary=lead.summary,
        detail=_detail(members, unknown),
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


def render(
    findings: Sequence[Finding],
    patient_id: str,
    protocol_links: Mapping[str, str] | None = None,
    unknown: AbstractSet[str] = frozenset(),
) -> tuple[CdsResponse, list[IssuedCard]]:
    """Cards for a hook response, most urgent first, and what the ledger must record; `unknown`
    names the prefetch keys that could not be obtained (each card says so)."""
    issued = [
        IssuedCard(
            render_card(members, patient_id, protocol_links, unknown),
            tuple(f.rule_id for f in members),
        )
        for members in _group(findings)
    ]
    return CdsResponse(cards=[i.card for i in issued]), issued
