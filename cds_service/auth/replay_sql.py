"""A `jti` replay cache shared by every worker and instance, in the ledger's database.

gunicorn runs several worker processes, and deployments run several instances: an in-memory
cache per process would accept a token replayed to another worker. This store makes `first_use`
atomic with the database's primary key: one `INSERT ... ON CONFLICT` statement, written once and
sent without compilation on a pooled connection; the first insert of a key wins, a later one
changes no row (unless the earlier entry has expired). Expired rows are deleted as new tokens
arrive, so the table stays as small as the tokens alive within `CDS_JWT_MAX_LIFETIME_SECONDS`.
The table is made by the migrations (`cds_service.schema`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, select

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
        # have ON CONFLICT ... DO UPDATE ... WHERE. The connection comes from the engine's pool.
        self._first_use_sql = _FIRST_USE_SQL.format(table=jwt_replay.name, p=marker)

    def first_use(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        with self._engine.begin() as conn:
            if now - self._last_prune >= PRUNE_EVERY_SECONDS:
                conn.execute(delete(jwt_replay).where(jwt_replay.c.expires_at < now))
                self._last_prune = now
            inserted = conn.exec_driver_sql(self._first_use_sql, (key, expires_at, now)).rowcount
        return bool(inserted == 1)

    def seen(self, key: str) -> bool:
        """Whether `key` is recorded and alive (a read: it works while writes are refused)."""
        with self._engine.connect() as conn:
            found = conn.scalar(
                select(jwt_replay.c.expires_at).where(jwt_replay.c.token_key == key)
            )
        return found is not None and found >= self._clock()
