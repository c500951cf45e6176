"""The ledger's database engine: SQLite embedded by default, PostgreSQL for several instances.

`CDS_DATABASE_URL` is an SQLAlchemy URL; empty means the SQLite file `cds-ledger.sqlite3` in the
instance folder. `postgresql://` and `postgres://` URLs are served by psycopg 3 (the
`cds-service[postgres]` extra); a PostgreSQL URL without that driver installed is a configuration
error named as such, not a `ModuleNotFoundError` at the first query. One engine per process and URL
is kept, so that a forked gunicorn worker can drop the pooled connections it inherited.
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from cds_service.config import ConfigError

SQLITE_FILE = "cds-ledger.sqlite3"
POSTGRES_EXTRA = "pip install 'cds-service[postgres]'"
_ENGINES: list[Engine] = []
SQLITE_BUSY_TIMEOUT_MS = 5000  # tests shorten it to fault the ledger quickly
# Connections a process may keep open (SQLAlchemy's default is 5): the ledger writer keeps one
# and each request thread one for the JWT replay cache (auth.replay_sql), up to POOL_SIZE - 4.
# Opened only when used, so a quiet process holds few.
POOL_SIZE = 12


class DatabaseConfigError(ConfigError):
    """CDS_DATABASE_URL cannot be used (bad URL, unsupported database, driver missing)."""


def database_url(configured: str, instance_path: Path) -> URL:
    """The URL to connect to, with PostgreSQL URLs pointed at psycopg 3."""
    raw = configured or f"sqlite:///{instance_path / SQLITE_FILE}"
    try:
        url = make_url(raw)
    except ArgumentError:
        raise DatabaseConfigError(
            "CDS_DATABASE_URL is not a database URL (expected e.g. "
            "postgresql://user@host:5432/dbname or sqlite:////path/ledger.sqlite3)"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend == "postgresql":
        if driver not in ("", "psycopg"):
            raise DatabaseConfigError(
                f"CDS_DATABASE_URL names the driver {driver!r}; use postgresql:// (psycopg 3)"
            )
        if importlib.util.find_spec("psycopg") is None:
            raise DatabaseConfigError(
                "CDS_DATABASE_URL is a PostgreSQL URL but psycopg is not installed: "
                + POSTGRES_EXTRA
            )
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return url
    raise DatabaseConfigError(
        f"CDS_DATABASE_URL: unsupported database {backend!r} (supported: sqlite, postgresql)"
    )


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers never block the writer; NORMAL sync is durable across process crashes
    # (only an OS crash can lose the last commits); busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_MS)}")
    cursor.close()


def open_engine(configured: str, instance_path: Path) -> Engine:
    url = database_url(configured, instance_path)
    if url.drivername == "sqlite" and url.database in (None, "", ":memory:"):
        # One shared in-memory database across threads (tests, `invoke` in-process).
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif url.drivername.startswith("postgresql"):
        # A blackholed database host must not hang a start or a readiness probe for minutes.
        engine = create_engine(
            url, pool_pre_ping=True, pool_size=POOL_SIZE, connect_args={"connect_timeout": 5}
        )
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE)
        if url.drivername == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
    _ENGINES.append(engine)
    return engine


class KeptConnection:
    """A connection kept open across calls instead of a pool checkout (with its liveness ping)
    each time: opened on first use, closed by `drop()` (after a fault), and opened afresh when
    the engine's pool has been disposed (`Engine.dispose()`: connections are to be reopened).
    `autocommit`: each statement is its own transaction. Not thread-safe: one per thread."""

    def __init__(self, engine: Engine, *, autocommit: bool = False) -> None:
        self._engine = engine
        self._autocommit = autocommit
        self._conn: Connection | None = None
        self._pool: Any = None  # the engine's pool the connection came from

    def get(self) -> Connection:
        if self._conn is not None and self._pool is not self._engine.pool:
            self.drop()
        if self._conn is None:
            self._pool = self._engine.pool
            conn = self._engine.connect()
            if self._autocommit:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
        return self._conn

    def drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()


def dispose_all_pools() -> None:
    """Drop pooled connections inherited through fork(); each process opens its own."""
    for engine in _ENGINES:
        engine.dispose(close=False)


def close_engines(url: str) -> None:
    """Close the pooled connections of the engines opened on `url` and forget them (test
    teardown): on a shared PostgreSQL server, idle pooled connections count against
    `max_connections`. Other engines (an in-memory SQLite database lives in its pool) are kept."""
    target = database_url(url, Path(".")).render_as_string(hide_password=False)
    for engine in [e for e in _ENGINES if e.url.render_as_string(hide_password=False) == target]:
        _ENGINES.remove(engine)
        engine.dispose()
