"""A `jti` replay cache shared by every worker and instance, in the ledger's database.

gunicorn runs several worker processes, and deployments run several instances: an in-memory
cache per process would accept a token replayed to another worker. This store makes `first_use`
atomic with the database's primary key: one `INSERT ... ON CONFLICT` statement, written once and
sent without compilation; the first insert of a key wins, a later one changes no row (unless the
earlier entry has expired). The statement is atomic alone, so it runs in autocommit mode on a
connection each request thread keeps: one database call per token, not a pool checkout with its
liveness ping, BEGIN, the INSERT and COMMIT. (The sqlite3 driver releases the GIL in each of
those calls, and under gunicorn's threads every release can hand the GIL to another thread and
cost a context switch; measured here, 0.1-0.3 ms of CPU each. On PostgreSQL each is also a round
trip.) A connection is dropped on any database error and when the engine's pool is disposed.
Expired rows are deleted as new tokens arrive, so the table stays as small as the tokens alive
within `CDS_JWT_MAX_LIFETIME_SECONDS`.
The table is made by the migrations (`cds_service.schema`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.pool import StaticPool

from cds_service.database import KeptConnection
from cds_service.schema import jwt_replay

PRUNE_EVERY_SECONDS = 30.0


_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
# One statement: a new key is inserted; a key already present counts as first use only when its
# entry has expired (then it is renewed). The row count says which (1: first use, 0: replay).
_FIRST_USE_SQL = (
    "INSERT INTO {table} (token_key, expires_at) VALUES ({p}, {p}) "
    "ON CONFLICT (token_key) DO UPDATE SET expires_at = excluded.expires_at "
    "WHERE {table}.expires_at < {p}"
)


class SqlReplayCache:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock
        self._last_prune = 0.0
        marker = _MARKERS.get(engine.dialect.paramstyle)
        if marker is None:
            raise ValueError(f"unsupported paramstyle {engine.dialect.paramstyle!r}")
        # Written once, sent as is (no SQL compilation per call); SQLite and PostgreSQL both
        # have ON CONFLICT ... DO UPDATE ... WHERE.
        self._first_use_sql = _FIRST_USE_SQL.format(table=jwt_replay.name, p=marker)
        self._threads = threading.local()
        self._held = 0  # threads that keep a connection; bounded so the pool never runs dry
        self._held_lock = threading.Lock()
        size = getattr(engine.pool, "size", None)
        # The ledger writer keeps one, and feedback, reports and probes need some too.
        self._max_held = max(0, size() - 4) if callable(size) else 0

    def _connection(self) -> Connection | None:
        """This thread's autocommit connection; None when as many threads as the pool can
        spare already keep one."""
        kept: KeptConnection | None = getattr(self._threads, "kept", None)
        if kept is None:
            with self._held_lock:
                if self._held >= self._max_held:
                    return None
                self._held += 1
            kept = self._threads.kept = KeptConnection(self._engine, autocommit=True)
        return kept.get()

    def first_use(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        conn = None if isinstance(self._engine.pool, StaticPool) else self._connection()
        if conn is None:
            # One connection shared by every thread (in-memory SQLite) is never switched to
            # autocommit under the others' transactions; nor is a thread beyond the pool's
            # share kept one: a pooled connection and a transaction of its own instead.
            with self._engine.begin() as pooled:
                return self._first_use_on(pooled, key, expires_at, now)
        try:
            return self._first_use_on(conn, key, expires_at, now)
        except Exception:
            self._threads.kept.drop()  # a fault: the next call opens a fresh connection
            raise

    def _first_use_on(self, conn: Connection, key: str, expires_at: float, now: float) -> bool:
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = now
            conn.execute(delete(jwt_replay).where(jwt_replay.c.expires_at < now))
        inserted = conn.exec_driver_sql(self._first_use_sql, (key, expires_at, now)).rowcount
        return bool(inserted == 1)

    def seen(self, key: str) -> bool:
        """Whether `key` is recorded and alive (a read: it works while writes are refused)."""
        with self._engine.connect() as conn:
            found = conn.scalar(
                select(jwt_replay.c.expires_at).where(jwt_replay.c.token_key == key)
            )
        return found is not None and found >= self._clock()
