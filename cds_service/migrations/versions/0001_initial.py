"""The ledger as release 0.1.0 created it (cards, rules, suggestions, feedback, jwt replay cache).

Databases created before migrations existed hold exactly these tables; `cds-service db upgrade`
recognises them and records this revision without re-creating anything.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issued_cards",
        sa.Column("card_uuid", sa.String(64), primary_key=True),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("hook_instance", sa.String(128), nullable=False),
        sa.Column("patient_hash", sa.String(64), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(140), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_issued_cards_service_id", "issued_cards", ["service_id"])
    op.create_table(
        "card_rules",
        sa.Column(
            "card_uuid",
            sa.String(64),
            sa.ForeignKey("issued_cards.card_uuid"),
            primary_key=True,
        ),
        sa.Column("rule_id", sa.String(128), primary_key=True),
    )
    op.create_table(
        "issued_suggestions",
        sa.Column("suggestion_uuid", sa.String(64), primary_key=True),
        sa.Column(
            "card_uuid", sa.String(64), sa.ForeignKey("issued_cards.card_uuid"), nullable=False
        ),
        sa.Column("label", sa.Text, nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.Text),
        sa.Column("override_system", sa.Text),
        sa.Column("override_code", sa.Text),
        sa.Column("override_display", sa.Text),
        sa.Column("user_comment", sa.Text),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("card_known", sa.Boolean, nullable=False),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])
    op.create_table(
        "jwt_replay",
        sa.Column("token_key", sa.String(512), primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_jwt_replay_expires_at", "jwt_replay", ["expires_at"])


def downgrade() -> None:
    for table in ("jwt_replay", "feedback", "issued_suggestions", "card_rules", "issued_cards"):
        op.drop_table(table)
