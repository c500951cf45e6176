"""The ledger database's tables, in one `MetaData`: what the Alembic migrations in
`cds_service/migrations/versions/` build, revision by revision. A test compares the two on SQLite
and PostgreSQL, so a table changed here without a migration fails the suite.

- `issued_cards`, `card_rules`, `issued_suggestions`: every card issued, the rules that spoke, its
  suggestions; `issuer` and `tenant` are the JWT `iss` and `tenant` of the call (empty with
  authentication off), for per-tenant reports; `silent` marks cards computed in shadow mode
  (recorded, not sent) and `selection_behavior` keeps the card's selectionBehavior.
- `feedback`: every feedback item received, joined to its card by uuid.
- `jwt_replay`: `iss`+`jti` of tokens seen, until they expire (the shared replay cache).
- `service_keys`: secrets every instance must share, made once (the patient-hash key when none
  is configured).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

issued_cards = Table(
    "issued_cards",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(128), nullable=False, index=True),
    Column("hook_instance", String(128), nullable=False),
    Column("patient_hash", String(64), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("summary", String(140), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("issuer", Text),
    Column("tenant", Text),
    # Shadow mode (pilot.py): computed and recorded, not sent to the EHR (migration 0003).
    Column("silent", Boolean, nullable=False, server_default=false()),
    # The card's selectionBehavior (at-most-one, any); NULL when it had no suggestions (0003).
    Column("selection_behavior", String(16)),
    # Duplicate alerts (repeats.py, migration 0005): keyed hash of context.encounterId, and the
    # keyed fingerprints (JSON list) of the call's draft orders.
    Column("encounter_hash", String(64), index=True),
    Column("draft_orders", Text),
)
card_rules = Table(
    "card_rules",
    metadata,
    Column("card_uuid", String(64), ForeignKey("issued_cards.card_uuid"), primary_key=True),
    Column("rule_id", String(128), primary_key=True),
)
issued_suggestions = Table(
    "issued_suggestions",
    metadata,
    Column("suggestion_uuid", String(64), primary_key=True),
    Column("card_uuid", String(64), ForeignKey("issued_cards.card_uuid"), nullable=False),
    Column("label", Text, nullable=False),
)
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_uuid", String(64), nullable=False, index=True),
    Column("service_id", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", Text),  # JSON list of suggestion uuids
    Column("override_system", Text),
    Column("override_code", Text),
    Column("override_display", Text),
    Column("user_comment", Text),
    Column("outcome_timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("card_known", Boolean, nullable=False),
)
jwt_replay = Table(
    "jwt_replay",
    metadata,
    Column("token_key", String(512), primary_key=True),  # issuer + jti, never the token
    Column("expires_at", Float, nullable=False, index=True),
)
service_keys = Table(
    "service_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),  # hex
    Column("created_at", DateTime(timezone=True), nullable=False),
)
