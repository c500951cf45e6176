"""The feedback report: what clinicians did with each rule's cards, counted by card.

CDS Hooks 2.0 "Feedback" lets a client post any number of items for a card, so counting items
overstates: a retried post counts twice, and a card both accepted and overridden counts once in
each column. Here every card has one outcome, from all its items together:

- `accepted`: only `accepted` items; `overridden`: only `overridden` items;
- `conflicting`: both (counted in neither rate, and flagged);
- `no feedback`: nothing came back (CDS Hooks has no "ignored" outcome, so a card nobody acted on
  stays here).

Rates are per card shown: acceptance = accepted / shown, override = overridden / shown. Cards of
a service in shadow mode (`silent`, see pilot.py) are counted apart as `silent`: the EHR never
saw them, so they are what *would have* fired, and feedback on one is a contradiction.

Contradictions are flagged per card (a card can carry several flags), never silently counted:

- `retried`: more than one item with the same outcome for one card;
- `accepted-and-overridden`: both outcomes for one card;
- `several-accepted-at-most-one`: more than one distinct suggestion accepted on a card whose
  `selectionBehavior` is `at-most-one`;
- `other-service-endpoint`: feedback posted to another service's feedback URL than the service
  that issued the card;
- `unknown-suggestion`: an accepted suggestion id the card never carried;
- `feedback-on-silent-card`: feedback for a card that was recorded in shadow mode, never sent.

Feedback naming a card the ledger never issued is counted apart (`unknown cards`).

Filters: a time window on when the card was issued (`since` inclusive, `until` exclusive; for
unknown-card feedback, when it was received) and a tenant (the JWT `tenant` claim recorded with each
card; unknown-card feedback has no tenant and is left out when a tenant is chosen). The `series`
gives, per rule and per period (day, ISO week starting Monday, or month), the same counts, for the
charts of `feedback-report --html`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, Select, select

from cds_service.schema import card_rules, feedback, issued_cards, issued_suggestions

Period = Literal["day", "week", "month"]
FLAGS = (
    "retried",
    "accepted-and-overridden",
    "several-accepted-at-most-one",
    "other-service-endpoint",
    "unknown-suggestion",
    "feedback-on-silent-card",
)
UNKNOWN_CARD = "(unknown card)"


@dataclass
class RuleReport:
    """One rule's cards in the window, by outcome; `issued` counts cards shown to clinicians."""

    rule_id: str
    issued: int = 0  # cards shown (not silent)
    silent: int = 0  # cards computed in shadow mode, never shown
    accepted: int = 0
    overridden: int = 0
    conflicting: int = 0
    no_feedback: int = 0
    override_reasons: dict[str, int] = field(default_factory=dict)  # per card, not per item
    flags: dict[str, int] = field(default_factory=dict)  # cards carrying each flag
    feedback_items: int = 0  # raw items, for comparison with the card counts
    unmatched_feedback: int = 0  # only on the "(unknown card)" row

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.issued if self.issued else None

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.issued if self.issued else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "issued": self.issued,
            "silent": self.silent,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "conflicting": self.conflicting,
            "no_feedback": self.no_feedback,
            "acceptance_rate": self.acceptance_rate,
            "override_rate": self.override_rate,
            "override_reasons": self.override_reasons,
            "flags": self.flags,
            "feedback_items": self.feedback_items,
            "unmatched_feedback": self.unmatched_feedback,
        }


@dataclass
class SeriesPoint:
    period: date  # first day of the period
    issued: int = 0
    accepted: int = 0
    overridden: int = 0

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.issued if self.issued else None

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.issued if self.issued else None


@dataclass
class FlaggedCard:
    card_uuid: str
    rule_ids: tuple[str, ...]
    flags: tuple[str, ...]


@dataclass
class FeedbackReport:
    since: datetime | None
    until: datetime | None
    tenant: str | None
    period: Period
    rules: list[RuleReport]
    unknown_card_feedback: int
    series: dict[str, list[SeriesPoint]]
    flagged_cards: list[FlaggedCard]

    def rows(self) -> list[RuleReport]:
        """The per-rule rows, then an "(unknown card)" row when such feedback exists."""
        rows = list(self.rules)
        if self.unknown_card_feedback:
            rows.append(RuleReport(UNKNOWN_CARD, unmatched_feedback=self.unknown_card_feedback))
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": {
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
            },
            "tenant": self.tenant,
            "period": self.period,
            "rules": [r.as_dict() for r in self.rules],
            "unknown_card_feedback": self.unknown_card_feedback,
            "flagged_cards": [
                {"card": c.card_uuid, "rules": list(c.rule_ids), "flags": list(c.flags)}
                for c in self.flagged_cards
            ],
            "series": {
                rule_id: [
                    {
                        "period": p.period.isoformat(),
                        "issued": p.issued,
                        "accepted": p.accepted,
                        "overridden": p.overridden,
                        "acceptance_rate": p.acceptance_rate,
                        "override_rate": p.override_rate,
                    }
                    for p in points
                ]
                for rule_id, points in self.series.items()
            },
        }


@dataclass
class _Card:
    uuid: str
    service_id: str
    issued_at: datetime
    silent: bool
    selection_behavior: str | None
    rules: list[str] = field(default_factory=list)
    suggestions: set[str] = field(default_factory=set)
    items: list[dict[str, Any]] = field(default_factory=list)


def period_start(moment: datetime, period: Period) -> date:
    day = _utc(moment).date()
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for what was written as UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _reason(item: dict[str, Any]) -> str:
    return str(
        item["override_display"]
        or item["override_code"]
        or ("comment only" if item["user_comment"] else "no reason given")
    )


def _card_filter(
    query: Select[Any], since: datetime | None, until: datetime | None, tenant: str | None
) -> Select[Any]:
    if since is not None:
        query = query.where(issued_cards.c.issued_at >= since)
    if until is not None:
        query = query.where(issued_cards.c.issued_at < until)
    if tenant is not None:
        query = query.where(issued_cards.c.tenant == tenant)
    return query


def _load_cards(
    engine: Engine, since: datetime | None, until: datetime | None, tenant: str | None
) -> dict[str, _Card]:
    cards: dict[str, _Card] = {}
    with engine.connect() as conn:
        query = select(
            issued_cards.c.card_uuid,
            issued_cards.c.service_id,
            issued_cards.c.issued_at,
            issued_cards.c.silent,
            issued_cards.c.selection_behavior,
        )
        for row in conn.execute(_card_filter(query, since, until, tenant)):
            cards[row.card_uuid] = _Card(
                row.card_uuid, row.service_id, row.issued_at, row.silent, row.selection_behavior
            )
        joins: Iterable[tuple[Any, Any]] = (
            (card_rules, card_rules.c.rule_id),
            (issued_suggestions, issued_suggestions.c.suggestion_uuid),
        )
        for table, value in joins:
            query = select(table.c.card_uuid, value).select_from(table.join(issued_cards))
            for uuid, item in conn.execute(_card_filter(query, since, until, tenant)):
                card = cards.get(uuid)
                if card is None:
                    continue
                if table is card_rules:
                    card.rules.append(item)
                else:
                    card.suggestions.add(item)
        query = select(feedback).select_from(
            feedback.join(issued_cards, feedback.c.card_uuid == issued_cards.c.card_uuid)
        )
        for row in conn.execute(_card_filter(query, since, until, tenant)):
            if row.card_uuid in cards:
                cards[row.card_uuid].items.append(dict(row._mapping))
    return cards


def _unknown_card_feedback(
    engine: Engine, since: datetime | None, until: datetime | None, tenant: str | None
) -> int:
    if tenant is not None:
        return 0  # no card, so no tenant to match
    query = select(feedback.c.id).where(~feedback.c.card_uuid.in_(select(issued_cards.c.card_uuid)))
    if since is not None:
        query = query.where(feedback.c.received_at >= since)
    if until is not None:
        query = query.where(feedback.c.received_at < until)
    with engine.connect() as conn:
        return len(conn.execute(query).all())


def _flags(card: _Card) -> list[str]:
    if not card.items:
        return []
    flags = []
    outcomes = [item["outcome"] for item in card.items]
    if len(outcomes) > len(set(outcomes)):
        flags.append("retried")
    if {"accepted", "overridden"} <= set(outcomes):
        flags.append("accepted-and-overridden")
    accepted_ids = {
        suggestion
        for item in card.items
        if item["accepted_suggestions"]
        for suggestion in json.loads(item["accepted_suggestions"])
    }
    if card.selection_behavior == "at-most-one" and len(accepted_ids) > 1:
        flags.append("several-accepted-at-most-one")
    if any(item["service_id"] != card.service_id for item in card.items):
        flags.append("other-service-endpoint")
    if accepted_ids - card.suggestions:
        flags.append("unknown-suggestion")
    if card.silent:
        flags.append("feedback-on-silent-card")
    return flags


def _outcome(card: _Card) -> str:
    outcomes = {item["outcome"] for item in card.items}
    if outcomes == {"accepted"}:
        return "accepted"
    if outcomes == {"overridden"}:
        return "overridden"
    return "conflicting" if outcomes else "no_feedback"


def build_report(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    tenant: str | None = None,
    period: Period = "week",
) -> FeedbackReport:
    since = _utc(since) if since is not None else None
    until = _utc(until) if until is not None else None
    cards = _load_cards(engine, since, until, tenant)
    rules: dict[str, RuleReport] = {}
    series: dict[str, dict[date, SeriesPoint]] = defaultdict(dict)
    flagged: list[FlaggedCard] = []
    for card in sorted(cards.values(), key=lambda c: (_utc(c.issued_at), c.uuid)):
        flags = _flags(card)
        if flags:
            flagged.append(FlaggedCard(card.uuid, tuple(sorted(card.rules)), tuple(flags)))
        outcome = _outcome(card)
        start = period_start(card.issued_at, period)
        for rule_id in dict.fromkeys(card.rules):
            entry = rules.setdefault(rule_id, RuleReport(rule_id))
            entry.feedback_items += len(card.items)
            for flag in flags:
                entry.flags[flag] = entry.flags.get(flag, 0) + 1
            if card.silent:
                entry.silent += 1
                continue
            entry.issued += 1
            setattr(entry, outcome, getattr(entry, outcome) + 1)
            if outcome == "overridden":
                for reason in dict.fromkeys(_reason(item) for item in card.items):
                    entry.override_reasons[reason] = entry.override_reasons.get(reason, 0) + 1
            point = series[rule_id].setdefault(start, SeriesPoint(start))
            point.issued += 1
            if outcome in ("accepted", "overridden"):
                setattr(point, outcome, getattr(point, outcome) + 1)
    return FeedbackReport(
        since=since,
        until=until,
        tenant=tenant,
        period=period,
        rules=sorted(rules.values(), key=lambda r: r.rule_id),
        unknown_card_feedback=_unknown_card_feedback(engine, since, until, tenant),
        series={
            rule_id: sorted(points.values(), key=lambda p: p.period)
            for rule_id, points in sorted(series.items())
        },
        flagged_cards=flagged,
    )
