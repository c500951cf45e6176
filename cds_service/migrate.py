"""Schema migrations (Alembic): `cds-service db upgrade` and `db current`, and the check at start.

The schema has a version: the Alembic revision in the table `alembic_version`. On PostgreSQL the
service never creates or alters a table by itself: at start it only checks that the database is at
the revision this code expects, and otherwise stops with one line telling the operator to run
`cds-service db upgrade`. The embedded default (SQLite) upgrades itself at start, so `serve` still
needs nothing. Concurrent upgrades are safe: on PostgreSQL they take a transaction-scoped advisory
lock first (the second waits, then finds nothing to do); on a SQLite file, an exclusive lock on a
file next to it. A database created before migrations existed (tables made by release 0.1.0's
`create_all`) is recognised and stamped at revision 0001, then upgraded like any other.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from cds_service.database import is_postgresql

SCRIPTS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # the schema release 0.1.0 created without migrations
# pg_advisory_xact_lock key: any fixed 64-bit number, the same in every instance (b"cdsmigr8").
LOCK_KEY = 0x6364736D69677238


class SchemaNotReady(RuntimeError):
    """The database is not at the revision this code expects (PostgreSQL: the operator upgrades)."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def current(engine: Engine) -> str | None:
    """The database's schema revision; None for an empty database (or one made before 0001)."""
    with engine.connect() as conn:
        return _current(conn)


def _current(conn: Connection) -> str | None:
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is None and inspect(conn).has_table("issued_cards"):
        return None  # a pre-migration ledger: `upgrade` adopts it
    return revision


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction, held by one migrating process at a time."""
    lock_file = None
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
        lock_file = Path(f"{database}.migration-lock").open("a")
        fcntl.flock(lock_file, fcntl.LOCK_EX)
    try:
        with engine.begin() as conn:
            if is_postgresql(engine):
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            yield conn
    finally:
        if lock_file is not None:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
            lock_file.close()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to `revision`; returns (revision before, revision after)."""
    with _migration_lock(engine) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        config = _config(conn)
        if before is None and inspect(conn).has_table("issued_cards"):
            command.stamp(config, BASELINE)
        command.upgrade(config, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    """Take the schema back to `revision` (a release rollback); returns (before, after)."""
    with _migration_lock(engine) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        command.downgrade(_config(conn), revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after


def require_current(engine: Engine) -> str:
    """The revision, if it is this code's head; else SchemaNotReady saying what to do."""
    revision = current(engine)
    expected = head()
    if revision == expected:
        return revision
    _refuse_unknown(revision)
    if revision is None:
        state = "has no ledger schema yet"
    else:
        state = f"is at schema revision {revision}, this service needs {expected}"
    raise SchemaNotReady(f"the database {state}: run `cds-service db upgrade`")


def _refuse_unknown(revision: str | None) -> None:
    if revision is not None and revision not in known_revisions():
        raise SchemaNotReady(
            f"the database is at schema revision {revision}, newer than this service knows "
            f"({head()}); run the release that migrated it"
        )


def prepare(engine: Engine) -> str:
    """At start: SQLite upgrades itself; any other database must already be current."""
    if engine.dialect.name == "sqlite":
        _refuse_unknown(current(engine))
        return upgrade(engine)[1] or head()
    return require_current(engine)
