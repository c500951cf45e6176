"""A `jti` replay cache shared by every worker and instance, in the ledger's database.

gunicorn runs several worker processes, and deployments run several instances: an in-memory
cache per process would accept a token replayed to another worker. This store makes `first_use`
atomic with the database's primary key: the first INSERT of a key wins, any later one fails with
an IntegrityError. Expired rows are deleted as new tokens arrive, so the table stays as small as
the tokens alive within `CDS_JWT_MAX_LIFETIME_SECONDS`. The table is made by the migrations
(`cds_service.schema`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from cds_service.schema import jwt_replay

PRUNE_EVERY_SECONDS = 30.0


class SqlReplayCache:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock
        self._last_prune = 0.0

    def first_use(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        try:
            with self._engine.begin() as conn:
                if now - self._last_prune >= PRUNE_EVERY_SECONDS:
                    conn.execute(delete(jwt_replay).where(jwt_replay.c.expires_at < now))
                    self._last_prune = now
                conn.execute(insert(jwt_replay).values(token_key=key, expires_at=expires_at))
        except IntegrityError:
            # Seen before; unless that entry has expired (a prune may not have run yet).
            with self._engine.begin() as conn:
                removed = conn.execute(
                    delete(jwt_replay).where(
                        jwt_replay.c.token_key == key, jwt_replay.c.expires_at < now
                    )
                ).rowcount
                if not removed:
                    return False
                conn.execute(insert(jwt_replay).values(token_key=key, expires_at=expires_at))
        return True

    def seen(self, key: str) -> bool:
        """Whether `key` is recorded and alive (a read: it works while writes are refused)."""
        with self._engine.connect() as conn:
            found = conn.scalar(
                select(jwt_replay.c.expires_at).where(jwt_replay.c.token_key == key)
            )
        return found is not None and found >= self._clock()
