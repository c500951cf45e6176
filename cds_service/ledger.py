"""The card ledger and feedback store (CDS Hooks 2.0 "Feedback"), on SQLAlchemy Core.

Every card issued is recorded with its suggestions, rule ids, service id, hookInstance and time,
so that feedback (which names only a card uuid) can be joined back to the rule that spoke. No PHI
beyond what is needed: the patient id is stored only as a keyed hash (HMAC-SHA256 with a key
every instance shares, see `patient_key`), enough to count distinct patients, not to identify
one. Feedback for a card the ledger does not know is stored and flagged, never dropped. SQLite by
default; PostgreSQL for several instances (CDS_DATABASE_URL, see `database`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from flask import Flask, current_app
from sqlalchemy import Engine, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError

from cds_service import migrate
from cds_service.cards import IssuedCard
from cds_service.config import default
from cds_service.database import open_engine
from cds_service.errors import ServiceUnavailable
from cds_service.extensions import LEDGER
from cds_service.feedback_report import RuleReport, build_report
from cds_service.ledger_writer import SpoolUnavailable, WriteBehind, card_needle
from cds_service.patient_key import patient_hash_key
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

log = logging.getLogger("cds_service.ledger")
FLUSH_TIMEOUT_SECONDS = 30.0


class Ledger:
    def __init__(
        self,
        engine: Engine,
        patient_key: bytes,
        spool_dir: Path,
        *,
        max_spool_bytes: int = int(default("LEDGER_SPOOL_MAX_BYTES")),
    ) -> None:
        self.engine = engine
        self._patient_key = patient_key
        self._writer = WriteBehind(
            engine,
            [issued_cards, card_rules, issued_suggestions],
            spool_dir,
            max_spool_bytes=max_spool_bytes,
        )
        spool_dir.mkdir(parents=True, exist_ok=True)
        self._writer.replay_orphans()

    @property
    def spool_dir(self) -> Path:
        return self._writer.spool_dir

    def flush(self, timeout: float | None = FLUSH_TIMEOUT_SECONDS) -> bool:
        """Wait until every card recorded by this process is committed; False on timeout."""
        return self._writer.flush(timeout)

    def start_writer(self) -> None:
        self._writer.start()

    def health(self) -> dict[str, Any]:
        """The write path's state for a readiness probe (see `WriteBehind.health`)."""
        return self._writer.health()

    def patient_hash(self, patient_id: str) -> str:
        # Not hmac.digest: OpenSSL 3's one-shot HMAC runs fewer instructions but looks the digest
        # up afresh each call, and with the caches cold (as in service) it measured slower here
        # (15.7 against 13.3 us; in process, the GBS call 0.09-0.15 ms slower with two of them).
        return hmac.new(self._patient_key, patient_id.encode(), hashlib.sha256).hexdigest()

    def encounter_hash(self, encounter_id: str) -> str:
        """A keyed hash of an encounter id (same key as patients, its own domain)."""
        return self.patient_hash("encounter\n" + encounter_id)

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
        encounter_id: str | None = None,
        draft_orders: Sequence[str] | None = None,
    ) -> None:
        """Queue the cards of one call; `issuer` and `tenant` are the caller's JWT claims;
        `encounter_id` is stored as a keyed hash, `draft_orders` are order fingerprints
        (repeats.py)."""
        if not cards:
            return
        now = datetime.now(UTC)
        patient = self.patient_hash(patient_id)
        encounter = self.encounter_hash(encounter_id) if encounter_id else None
        orders = orjson.dumps(sorted(draft_orders)).decode() if draft_orders is not None else None
        card_rows = [
            {
                "card_uuid": i.card["uuid"],
                "service_id": service_id,
                "hook_instance": hook_instance,
                "patient_hash": patient,
                "indicator": i.card["indicator"],
                "summary": i.card["summary"],
                "issued_at": now,
                "issuer": issuer,
                "tenant": tenant,
                "silent": silent,
                "selection_behavior": i.card.get("selectionBehavior"),
                "encounter_hash": encounter,
                "draft_orders": orders,
            }
            for i in cards
        ]
        rule_rows = [
            {"card_uuid": i.card["uuid"], "rule_id": rule_id}
            for i in cards
            for rule_id in dict.fromkeys(i.rule_ids)
        ]
        suggestion_rows = [
            {"suggestion_uuid": s["uuid"], "card_uuid": i.card["uuid"], "label": s["label"]}
            for i in cards
            for s in i.card.get("suggestions", ())
        ]
        try:
            self._writer.submit(
                {
                    issued_cards.name: card_rows,
                    card_rules.name: rule_rows,
                    issued_suggestions.name: suggestion_rows,
                }
            )
        except SpoolUnavailable as exc:
            # Neither the spool nor (behind it) the database can take the rows: the cards are
            # not sent, since nobody could audit them .
            log.error("card ledger cannot record; hook answered 503: %s", exc)
            raise ServiceUnavailable(
                "the card ledger cannot record cards right now; retry later"
            ) from None

    def record_feedback(self, service_id: str, items: Iterable[FeedbackItem]) -> list[bool]:
        """Store each item; return, per item, whether the card uuid was known to the ledger."""
        items = list(items)
        now = datetime.now(UTC)
        uuids = {item.card for item in items}
        try:
            known = self._known_cards(uuids)
            with self.engine.begin() as conn:
                rows = [
                    self._feedback_row(service_id, item, now, item.card in known) for item in items
                ]
                conn.execute(insert(feedback), rows)
        except (OperationalError, InterfaceError) as exc:
            log.error("feedback store unavailable (%s); answered 503", type(exc).__name__)
            raise ServiceUnavailable(
                "the feedback store is unavailable right now; retry later"
            ) from None
        return [item.card in known for item in items]

    def _known_cards(self, uuids: set[str]) -> set[str]:
        """Which of `uuids` this service issued: in the ledger, or still in a local spool.

        Database, then the spools of every process on this host (a card another worker issued a
        moment ago may not be committed yet), then the database again (a card committed and
        cleared from its spool between the two looks).
        """
        known = self._in_database(uuids)
        for uuid in uuids - known:
            if self._writer.spooled(card_needle(uuid)):
                known.add(uuid)
        if uuids - known:
            known |= self._in_database(uuids - known)
        return known

    def _in_database(self, uuids: set[str]) -> set[str]:
        with self.engine.connect() as conn:
            return set(
                conn.scalars(
                    select(issued_cards.c.card_uuid).where(issued_cards.c.card_uuid.in_(uuids))
                )
            )

    @staticmethod
    def _feedback_row(
        service_id: str, item: FeedbackItem, now: datetime, card_known: bool
    ) -> dict[str, Any]:
        override = item.overrideReason
        reason = override.reason if override else None
        return {
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
            "card_known": card_known,
        }

    def report(self, **filters: Any) -> list[RuleReport]:
        """Per rule, counted by card: shown, silent, accepted, overridden, conflicting, no
        feedback, override reasons and contradiction flags; then a row for feedback on cards the
        ledger never issued. `filters` are those of `feedback_report.build_report`."""
        self.flush()
        return build_report(self.engine, **filters).rows()


def spool_dir_for(engine: Engine, instance_path: Path, configured: str = "") -> Path:
    """Where a ledger's spool lives: as configured, else beside a SQLite file, else in the
    instance folder, one folder per database (PostgreSQL: per host, like the processes that
    write it)."""
    if configured:
        return Path(configured)
    url = make_url(str(engine.url))
    if url.drivername.startswith("sqlite"):
        if url.database in (None, "", ":memory:"):
            # Nothing outlives an in-memory database; its spool is private to this process.
            return Path(tempfile.mkdtemp(prefix="cds-ledger-spool-"))
        return Path(f"{url.database}-spool")
    # One folder per database, so that a spool is never replayed into another database.
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()
    return instance_path / "ledger-spool" / digest[:16]


def open_ledger(
    database_url: str,
    instance_path: Path,
    *,
    spool_dir: str = "",
    max_spool_bytes: int = int(default("LEDGER_SPOOL_MAX_BYTES")),
    key_settings: Mapping[str, Any] | None = None,
) -> Ledger:
    """The ledger on CDS_DATABASE_URL, its schema checked (PostgreSQL) or upgraded (SQLite), with
    the patient-hash key every instance shares (`key_settings`: the CDS_PATIENT_HASH_KEY(_FILE)
    values; see `cds_service.patient_key`)."""
    engine = open_engine(database_url, instance_path)
    migrate.prepare(engine)
    return Ledger(
        engine,
        patient_hash_key(key_settings or {}, engine, instance_path),
        spool_dir_for(engine, instance_path, spool_dir),
        max_spool_bytes=max_spool_bytes,
    )


def init_app(app: Flask) -> None:
    ledger = open_ledger(
        app.config["DATABASE_URL"],
        Path(app.instance_path),
        spool_dir=app.config["LEDGER_SPOOL_DIR"],
        max_spool_bytes=int(app.config["LEDGER_SPOOL_MAX_BYTES"]),
        key_settings=app.config,
    )
    app.extensions[LEDGER] = ledger  # its engine is shared with the JWT replay cache
    # Any request (a probe included) starts the writer of the process serving it: a pid check.
    app.before_request(ledger.start_writer)


def get_ledger() -> Ledger:
    ledger: Ledger = current_app.extensions[LEDGER]
    return ledger
