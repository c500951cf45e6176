"""The card ledger and feedback store (CDS Hooks 2.0 "Feedback"), on SQLAlchemy Core.

Every card issued is recorded with its suggestions, rule ids, service id, hookInstance and time,
so that feedback (which names only a card uuid) can be joined back to the rule that spoke. No PHI
beyond what is needed: the patient id is stored only as a keyed hash (HMAC-SHA256 with a secret
kept in the instance folder), enough to count distinct patients, not to identify one. Feedback for
a card the ledger does not know is stored and flagged, never dropped. SQLite by default; any
SQLAlchemy URL (PostgreSQL for several instances) via CDS_DATABASE_URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import Engine, func, insert, select

from cds_service import migrate
from cds_service.cards import IssuedCard
from cds_service.database import open_engine
from cds_service.extensions import LEDGER
from cds_service.ledger_writer import WriteBehind
from cds_service.protocol.feedback import FeedbackItem
from cds_service.schema import card_rules, feedback, issued_cards, issued_suggestions

__all__ = [
    "Ledger",
    "RuleReport",
    "card_rules",
    "feedback",
    "get_ledger",
    "init_app",
    "issued_cards",
    "issued_suggestions",
    "open_ledger",
]


class Ledger:
    def __init__(self, engine: Engine, patient_key: bytes) -> None:
        self.engine = engine
        self._patient_key = patient_key
        self._writer = WriteBehind(engine)

    def flush(self) -> None:
        """Wait until every card recorded by this process is committed."""
        self._writer.flush()

    def patient_hash(self, patient_id: str) -> str:
        return hmac.new(self._patient_key, patient_id.encode(), hashlib.sha256).hexdigest()

    def record_cards(
        self,
        cards: Sequence[IssuedCard],
        *,
        service_id: str,
        hook_instance: str,
        patient_id: str,
        issuer: str | None = None,
        tenant: str | None = None,
        silent: bool = False,
    ) -> None:
        """Queue the cards of one call; `issuer` and `tenant` are the caller's JWT claims."""
        if not cards:
            return
        now = datetime.now(UTC)
        patient = self.patient_hash(patient_id)
        card_rows = [
            {
                "card_uuid": i.card.uuid,
                "service_id": service_id,
                "hook_instance": hook_instance,
                "patient_hash": patient,
                "indicator": i.card.indicator,
                "summary": i.card.summary,
                "issued_at": now,
                "issuer": issuer,
                "tenant": tenant,
                "silent": silent,
                "selection_behavior": i.card.selectionBehavior,
            }
            for i in cards
        ]
        rule_rows = [
            {"card_uuid": i.card.uuid, "rule_id": rule_id}
            for i in cards
            for rule_id in dict.fromkeys(i.rule_ids)
        ]
        suggestion_rows = [
            {"suggestion_uuid": s.uuid, "card_uuid": i.card.uuid, "label": s.label}
            for i in cards
            for s in (i.card.suggestions or ())
        ]
        self._writer.submit(
            [
                (issued_cards, card_rows),
                (card_rules, rule_rows),
                (issued_suggestions, suggestion_rows),
            ]
        )

    def record_feedback(self, service_id: str, items: Iterable[FeedbackItem]) -> list[bool]:
        """Store each item; return, per item, whether the card uuid was known to the ledger."""
        items = list(items)
        now = datetime.now(UTC)
        self.flush()  # cards this process issued a moment ago must count as known
        with self.engine.begin() as conn:
            uuids = {item.card for item in items}
            known = set(
                conn.scalars(
                    select(issued_cards.c.card_uuid).where(issued_cards.c.card_uuid.in_(uuids))
                )
            )
            rows = []
            for item in items:
                override = item.overrideReason
                reason = override.reason if override else None
                rows.append(
                    {
                        "card_uuid": item.card,
                        "service_id": service_id,
                        "outcome": item.outcome,
                        "accepted_suggestions": json.dumps([s.id for s in item.acceptedSuggestions])
                        if item.acceptedSuggestions
                        else None,
                        "override_system": reason.system if reason else None,
                        "override_code": reason.code if reason else None,
                        "override_display": reason.display if reason else None,
                        "user_comment": override.userComment if override else None,
                        "outcome_timestamp": item.timestamp(),
                        "received_at": now,
                        "card_known": item.card in known,
                    }
                )
            conn.execute(insert(feedback), rows)
        return [item.card in known for item in items]

    def report(self) -> list[RuleReport]:
        """Per rule: cards issued, accepted, overridden, and the override reasons given."""
        reports: dict[str, RuleReport] = {}
        self.flush()
        with self.engine.connect() as conn:
            for rule_id, count in conn.execute(
                select(card_rules.c.rule_id, func.count()).group_by(card_rules.c.rule_id)
            ):
                reports[rule_id] = RuleReport(rule_id, issued=count)
            joined = feedback.join(card_rules, feedback.c.card_uuid == card_rules.c.card_uuid)
            for rule_id, outcome, code, display, comment in conn.execute(
                select(
                    card_rules.c.rule_id,
                    feedback.c.outcome,
                    feedback.c.override_code,
                    feedback.c.override_display,
                    feedback.c.user_comment,
                ).select_from(joined)
            ):
                entry = reports.setdefault(rule_id, RuleReport(rule_id))
                if outcome == "accepted":
                    entry.accepted += 1
                else:
                    entry.overridden += 1
                    reason = display or code or ("comment only" if comment else "no reason given")
                    entry.override_reasons[reason] = entry.override_reasons.get(reason, 0) + 1
            # Joined now, not read from `card_known`: a card issued by another worker may have
            # been committed after its feedback arrived.
            unknown = conn.scalar(
                select(func.count())
                .select_from(feedback)
                .where(~feedback.c.card_uuid.in_(select(issued_cards.c.card_uuid)))
            )
        result = sorted(reports.values(), key=lambda r: r.rule_id)
        if unknown:
            result.append(
                RuleReport(
                    "(unknown card)", overridden=0, accepted=0, unmatched_feedback=int(unknown)
                )
            )
        return result


@dataclass
class RuleReport:
    rule_id: str
    issued: int = 0
    accepted: int = 0
    overridden: int = 0
    override_reasons: dict[str, int] = field(default_factory=dict)
    unmatched_feedback: int = 0


def _patient_key(instance_path: Path) -> bytes:
    key_file = instance_path / "ledger-patient-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return bytes.fromhex(key_file.read_text().strip())


def open_ledger(database_url: str, instance_path: Path) -> Ledger:
    """The ledger on CDS_DATABASE_URL, its schema checked (PostgreSQL) or upgraded (SQLite)."""
    engine = open_engine(database_url, instance_path)
    migrate.prepare(engine)
    return Ledger(engine, _patient_key(instance_path))


def init_app(app: Flask) -> None:
    ledger = open_ledger(app.config["DATABASE_URL"], Path(app.instance_path))
    app.extensions[LEDGER] = ledger  # its engine is shared with the JWT replay cache


def get_ledger() -> Ledger:
    ledger: Ledger = current_app.extensions[LEDGER]
    return ledger
