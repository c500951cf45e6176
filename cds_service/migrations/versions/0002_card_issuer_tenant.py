"""Record the JWT `iss` and `tenant` of the call with each issued card (multi-tenant reports).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issued_cards") as batch:
        batch.add_column(sa.Column("issuer", sa.Text, nullable=True))
        batch.add_column(sa.Column("tenant", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issued_cards") as batch:
        batch.drop_column("tenant")
        batch.drop_column("issuer")
