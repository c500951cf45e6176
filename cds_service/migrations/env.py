"""Alembic environment: migrations run only through `cds_service.migrate`, on the connection it
opens (with the migration lock held), never from an alembic.ini of their own."""

from __future__ import annotations

from alembic import context

from cds_service.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `cds-service db upgrade`")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
