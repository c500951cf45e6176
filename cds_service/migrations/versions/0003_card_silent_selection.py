"""Mark cards computed in shadow mode (`silent`: recorded, not sent to the EHR) and keep each
card's `selectionBehavior`, so the feedback report can flag two accepted suggestions on an
at-most-one card.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issued_cards") as batch:
        batch.add_column(sa.Column("silent", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("selection_behavior", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issued_cards") as batch:
        batch.drop_column("selection_behavior")
        batch.drop_column("silent")
