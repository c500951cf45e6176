"""Rendering findings into CDS Hooks cards: the only module that knows card JSON.

Findings that share a `group` become one card (the most urgent finding leads: its summary,
indicator and source), so a clinician sees a few cards per call, not one per rule. The detail is
GitHub-flavoured markdown (spec "Card Attributes"): the recommendation, then the evidence the
rules used (value, unit, date, resource reference), then the citation with its evidence grading.
Every card and suggestion gets a uuid so feedback can be joined to the ledger.

Cards are built directly in wire form (plain dicts, in the field order and with the omissions of
`protocol.response`'s models) with the spec's invariants checked cheaply here: summary length,
selectionBehavior exactly when there are suggestions, uuids, override-reason displays, action
payloads, absolute URLs. Building them through pydantic cost more per call than the clinical
work; the models remain the reference the test suite holds every card of every fixture to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from cds_service import suggestions as builders
from cds_service.findings import Evidence, Finding, ProposedAction, ProposedChange, Urgency
from cds_service.frozen import fast_init
from cds_service.protocol.response import MAX_SUMMARY_CHARS
from cds_service.uuids import uuid7 as new_uuid

_URGENCY_ORDER = {Urgency.INFO: 0, Urgency.WARNING: 1, Urgency.CRITICAL: 2}
_INDICATORS = frozenset({"info", "warning", "critical"})
_SELECTION_BEHAVIORS = frozenset({"at-most-one", "any"})
_RESOURCE_ID = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}\Z")  # as protocol.response.Action


@fast_init
@dataclass(frozen=True)
class IssuedCard:
    """A rendered card (wire form) and the rule ids behind it (for the ledger)."""

    card: dict[str, Any]
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


@lru_cache(maxsize=256)  # the notes are the citations' own constants, a few dozen in all
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


def _unreadable_lines(unreadable: Sequence[str]) -> list[Evidence]:
    """'2 Observations could not be read': skipped resources, counted by type."""
    counts: dict[str, int] = {}
    for name in unreadable:
        kind = name.partition("/")[0]
        counts[kind] = counts.get(kind, 0) + 1
    return [
        Evidence(
            f"{n} {kind}{'s' if n > 1 else ''}",
            None,
            None,
            None,
            "could not be read (malformed data) and were not used"
            if n > 1
            else "could not be read (malformed data) and was not used",
        )
        for kind, n in sorted(counts.items())
    ]


def _detail(
    members: Sequence[Finding],
    unknown: AbstractSet[str] = frozenset(),
    unreadable: Sequence[str] = (),
) -> str:
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
    evidence += _unreadable_lines(unreadable)
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


class CardInvariantError(ValueError):
    """A rendered card breaks a rule of the spec that the models in `protocol.response` enforce."""


def _text(value: str | None, what: str) -> str:
    if not value:
        raise CardInvariantError(f"{what} is empty")
    return value


def _url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CardInvariantError(f"{what} is not an absolute http(s) URL: {value!r}")
    return value


def _coding(system: str, code: str, display: str | None, what: str) -> dict[str, str]:
    coding = {"system": _text(system, f"{what} system"), "code": _text(code, f"{what} code")}
    if display is not None:
        coding["display"] = _text(display, f"{what} display")
    return coding


def _action(action: ProposedAction) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "type": action.type,
        "description": _text(action.description, "action description"),
    }
    if action.type == "delete":
        if action.resource is not None or action.resource_id is None:
            raise CardInvariantError("a delete action carries resourceId and no resource")
        if not _RESOURCE_ID.match(action.resource_id):
            raise CardInvariantError(f"resourceId {action.resource_id!r} is not Type/id")
        wire["resourceId"] = action.resource_id
        return wire
    if action.type not in ("create", "update"):
        raise CardInvariantError(f"unknown action type {action.type!r}")
    if not action.resource or "resourceType" not in action.resource:
        raise CardInvariantError(f"a {action.type} action carries a FHIR resource")
    wire["resource"] = action.resource
    if action.resource_id is not None:
        if not _RESOURCE_ID.match(action.resource_id):
            raise CardInvariantError(f"resourceId {action.resource_id!r} is not Type/id")
        wire["resourceId"] = action.resource_id
    return wire


def _suggestion(change: ProposedChange) -> dict[str, Any]:
    wire: dict[str, Any] = {"label": _text(change.label, "suggestion label"), "uuid": new_uuid()}
    if change.is_recommended:
        wire["isRecommended"] = True
    if change.actions:
        wire["actions"] = [_action(a) for a in change.actions]
    return wire


def render_card(
    members: Sequence[Finding],
    patient_id: str,
    protocol_links: Mapping[str, str] | None = None,
    unknown: AbstractSet[str] = frozenset(),
    unreadable: Sequence[str] = (),
) -> dict[str, Any]:
    """One card in wire form (what `Card.to_wire` would give), its invariants checked here.

    The pydantic models of `protocol.response` stay the reference: the test suite validates every
    card of every fixture with them and compares this rendering with theirs.
    """
    lead = members[0]
    changes = [builders.build(p, patient_id) for f in members for p in f.suggestions]
    suggestions = [_suggestion(change) for change in changes if change is not None]
    reasons = list(dict.fromkeys(r for f in members for r in f.override_reasons))
    # The guideline behind each finding, for the clinician who wants to read it.
    links = list(
        dict.fromkeys((f.citation.label, f.citation.url) for f in members if f.citation.url)
    )
    summary = _text(lead.summary, "card summary")
    if len(summary) > MAX_SUMMARY_CHARS:
        raise CardInvariantError(f"card summary has {len(summary)} characters (most 139)")
    indicator = lead.urgency.value
    if indicator not in _INDICATORS:
        raise CardInvariantError(f"unknown indicator {indicator!r}")
    source: dict[str, Any] = {"label": _text(lead.citation.label, "source label")}
    if lead.citation.url is not None:
        source["url"] = _url(lead.citation.url, "source url")
    topic = lead.topic
    local = (protocol_links or {}).get(topic.code) if topic else None
    if local:  # the operator's own protocol for this topic (CDS_PROTOCOL_LINKS), first
        links.insert(0, ("Local protocol", local))
    if topic:
        source["topic"] = _coding(topic.system, topic.code, topic.display, "source topic")
    card: dict[str, Any] = {
        "uuid": new_uuid(),
        "summary": summary,
        "detail": _text(_detail(members, unknown, unreadable), "card detail"),
        "indicator": indicator,
        "source": source,
    }
    if suggestions:
        behavior = lead.selection_behavior
        if behavior not in _SELECTION_BEHAVIORS:
            raise CardInvariantError("selectionBehavior is required when suggestions are present")
        if behavior == "at-most-one" and sum(1 for s in suggestions if "isRecommended" in s) > 1:
            raise CardInvariantError("at most one suggestion may be recommended with at-most-one")
        card["suggestions"] = suggestions
        card["selectionBehavior"] = behavior
    if reasons:
        card["overrideReasons"] = [
            _coding(r.system, r.code, _text(r.display, "override reason display"), "reason")
            for r in reasons
        ]
    if links:
        card["links"] = [
            {
                "label": _text(label[:140], "link label"),
                "url": _url(url, "link url"),
                "type": "absolute",
            }
            for label, url in links
        ]
    return card


def render(
    findings: Sequence[Finding],
    patient_id: str,
    protocol_links: Mapping[str, str] | None = None,
    unknown: AbstractSet[str] = frozenset(),
    unreadable: Sequence[str] = (),
) -> tuple[dict[str, Any], list[IssuedCard]]:
    """The hook response in wire form (cards most urgent first) and what the ledger must record;
    `unknown` names the prefetch keys that could not be obtained (each card says so)."""
    issued = [
        IssuedCard(
            render_card(members, patient_id, protocol_links, unknown, unreadable),
            tuple(f.rule_id for f in members),
        )
        for members in _group(findings)
    ]
    return {"cards": [i.card for i in issued]}, issued
