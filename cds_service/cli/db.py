"""`cds-service db upgrade` and `db current`: the ledger schema on CDS_DATABASE_URL.

On PostgreSQL the service never changes the schema itself; the operator runs `db upgrade` once per
release (safe while other instances start or run the same command: an advisory lock orders them),
and instances refuse to start until the database is at the revision they expect.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from sqlalchemy import Engine

from cds_service import migrate
from cds_service.config import load_config
from cds_service.database import DatabaseConfigError, open_engine


def _engine() -> Engine:
    instance = Path(Flask("cds_service", instance_relative_config=True).instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    try:
        return open_engine(load_config()["DATABASE_URL"], instance)
    except DatabaseConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


@click.group("db")
def db() -> None:
    """The ledger database's schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def upgrade(revision: str) -> None:
    """Create or migrate the ledger schema to the revision this release needs."""
    engine = _engine()
    before, after = migrate.upgrade(engine, revision)
    if before == after:
        click.echo(f"{_where(engine)}: schema already at revision {after}")
    else:
        click.echo(f"{_where(engine)}: schema upgraded from {before or '(empty)'} to {after}")


@db.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Take the schema back to REVISION (before rolling back to an older release)."""
    engine = _engine()
    before, after = migrate.downgrade(engine, revision)
    click.echo(f"{_where(engine)}: schema downgraded from {before} to {after or '(empty)'}")


@db.command("current")
def current() -> None:
    """Print the schema revision of the database and the one this release needs."""
    engine = _engine()
    revision = migrate.current(engine)
    expected = migrate.head()
    state = "up to date" if revision == expected else "run `cds-service db upgrade`"
    click.echo(
        f"{_where(engine)}: schema revision {revision or '(none)'}; "
        f"this release needs {expected} ({state})"
    )
    if revision != expected:
        raise SystemExit(1)


commands = [db]
