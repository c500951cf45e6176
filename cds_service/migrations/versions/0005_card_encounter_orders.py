"""Remember, per issued card, the encounter (keyed hash of `context.encounterId`) and fingerprints
of the call's draft orders, so order-sign does not repeat a card the clinician already overrode
for the same unchanged orders in the same encounter (cds_service/repeats.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issued_cards") as batch:
        batch.add_column(sa.Column("encounter_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("draft_orders", sa.Text, nullable=True))
        batch.create_index("ix_issued_cards_encounter_hash", ["encounter_hash"])


def downgrade() -> None:
    with op.batch_alter_table("issued_cards") as batch:
        batch.drop_index("ix_issued_cards_encounter_hash")
        batch.drop_column("draft_orders")
        batch.drop_column("encounter_hash")
