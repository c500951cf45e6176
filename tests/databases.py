"""The databases the ledger tests run against: SQLite always, PostgreSQL when
`CDS_TEST_DATABASE_URL` names a server (CI sets it; without it the PostgreSQL cases are skipped
with that reason). Same tests, both backends: ledger, feedback, replay cache, feedback report.

Engineers and CI runs share one PostgreSQL server, so nothing here touches the database the URL
names beyond creating and dropping a database of its own: one fresh database per test session
(`cds_test_<pid>_<random>`), and in it one fresh schema per test, selected through the connection's
`search_path`. Both are dropped at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from cds_service.database import close_engines, database_url

ENV = "CDS_TEST_DATABASE_URL"
SKIP_REASON = (
    f"PostgreSQL tier not run: set {ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test) "
    "to run the ledger, feedback, replay-cache and report tests against a real server"
)


def server_url() -> URL | None:
    raw = os.environ.get(ENV, "").strip()
    return database_url(raw, Path(".")) if raw else None


@contextmanager
def session_database(server: URL) -> Iterator[URL]:
    """A database of our own on the server, dropped afterwards."""
    name = f"cds_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def fresh_schema(database: URL) -> Iterator[str]:
    """A URL (as text, the way CDS_DATABASE_URL holds it) whose connections see only a new,
    empty schema; dropped afterwards."""
    schema = f"t_{secrets.token_hex(6)}"
    # application_name tags the test's connections, so teardown can end those still open.
    url = database.update_query_dict(
        {"options": f"-csearch_path={schema}", "application_name": schema}
    )
    text_url = url.render_as_string(hide_password=False)
    engine = create_engine(database, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield text_url
    finally:
        # The apps and engines the test opened keep idle connections in their pools; on a server
        # shared by several test runs they would exhaust max_connections.
        close_engines(text_url)
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :schema AND pid <> pg_backend_pid()"
                ),
                {"schema": schema},
            )
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
