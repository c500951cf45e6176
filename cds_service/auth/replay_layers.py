"""The replay cache the service uses: it survives a database fault and fails closed.

    first_use(key)
      1. this process's bounded memory: a key seen here is a replay, answered without the
         database (also during an outage);
      2. the shared store (the ledger's database: every worker and instance);
      3. if the database cannot record (locked past busy_timeout, read-only, full, down): a key
         it can still read is a replay (SQLite reads work during a lock or read-only); else a
         host-local store, one file per key created with O_EXCL beside the ledger's spool,
         atomic across the workers of this host;
      4. if that cannot be written either: `ReplayCacheUnavailable`, answered 503, never a 500
         and never an unchecked token.

Why this and not fail-closed at once: the database is the ledger's, and one locked or full disk
must not stop every EHR call. What is given up during an outage, and only then: a token replayed
to *another instance* (another host) within its lifetime is not recognised. With the embedded
SQLite default every worker is on one host, so nothing is given up. `health()` says which layer is
answering (for /readyz). During an outage one call per second tries the database again; the
others go straight to the fallback, so a lock held past busy_timeout costs one call that wait
per second, not every call.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from cds_service.auth.replay import InMemoryReplayCache, ReplayCacheUnavailable
from cds_service.auth.replay_sql import SqlReplayCache

log = logging.getLogger("cds_service.auth")

BUCKET_SECONDS = 60
PROBE_SECONDS = 1.0  # during an outage, how often one call tries the database again
PRUNE_EVERY_SECONDS = 30.0


class HostReplayCache:
    """One empty file per key, `<folder>/<expiry minute>/<sha256(key)>`, made with O_EXCL."""

    def __init__(self, folder: Path, clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self._clock = clock
        self._last_prune = 0.0

    def first_use(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._prune(now)
        name = hashlib.sha256(key.encode()).hexdigest()
        # A key lands in the bucket of its expiry, so a bucket can go once its minute is past.
        bucket = self.folder / str(int(expires_at // BUCKET_SECONDS))
        bucket.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(bucket / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def _prune(self, now: float) -> None:
        self._last_prune = now
        try:
            buckets = list(self.folder.iterdir())
        except FileNotFoundError:
            return
        for bucket in buckets:
            if bucket.name.isdigit() and (int(bucket.name) + 1) * BUCKET_SECONDS < now:
                shutil.rmtree(bucket, ignore_errors=True)


class LayeredReplayCache:
    def __init__(
        self,
        shared: SqlReplayCache,
        host: HostReplayCache,
        clock: Callable[[], float] = time.time,
        memory: InMemoryReplayCache | None = None,
    ) -> None:
        self.shared = shared
        self.host = host
        self.memory = memory or InMemoryReplayCache(clock)
        self._lock = threading.Lock()
        self._outage_since: float | None = None
        self._last_probe = 0.0
        self._fallback_answers = 0

    def _skip_shared(self) -> bool:
        """During an outage the database is tried once per PROBE_SECONDS, not by every call:
        a lock held past busy_timeout would otherwise cost every call that wait."""
        with self._lock:
            if self._outage_since is None:
                return False
            now = time.monotonic()
            if now - self._last_probe >= PROBE_SECONDS:
                self._last_probe = now
                return False
            return True

    def first_use(self, key: str, expires_at: float) -> bool:
        if self.memory.seen(key):
            return False
        if self._skip_shared():
            first = self._from_host(key, expires_at, None)
            self.memory.add(key, expires_at)
            return first
        try:
            first = self.shared.first_use(key, expires_at)
        except IntegrityError:
            raise  # a bug, not an outage
        except SQLAlchemyError as exc:
            first = self._from_host(key, expires_at, exc)
        else:
            self._back()
        self.memory.add(key, expires_at)
        return first

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {
                "shared_ok": self._outage_since is None,
                "outage_seconds": round(time.monotonic() - self._outage_since, 1)
                if self._outage_since is not None
                else 0.0,
                "host_fallback_answers": self._fallback_answers,
            }

    def _from_host(self, key: str, expires_at: float, exc: SQLAlchemyError | None) -> bool:
        with self._lock:
            first_failure = self._outage_since is None
            if first_failure:
                self._outage_since = self._last_probe = time.monotonic()
            self._fallback_answers += 1
        if first_failure and exc is not None:
            reason = type(exc.orig).__name__ if isinstance(exc, DBAPIError) else type(exc).__name__
            log.error(
                "replay cache: the database cannot answer (%s); jti checked on this host "
                "only until it is back",
                reason,
            )
        try:
            if self.shared.seen(key):
                return False
        except SQLAlchemyError:
            pass  # the database cannot even be read: the host store alone answers
        try:
            return self.host.first_use(key, expires_at)
        except OSError as host_exc:
            log.error(
                "replay cache: neither the database nor the host store can record a jti (%s); "
                "answering 503",
                errno.errorcode.get(host_exc.errno or 0, type(host_exc).__name__),
            )
            raise ReplayCacheUnavailable("no replay store can record the token") from None

    def _back(self) -> None:
        if self._outage_since is None:
            return
        with self._lock:
            since, self._outage_since = self._outage_since, None
        if since is not None:
            log.error(
                "replay cache: the database answers again after %.1f s",
                time.monotonic() - since,
            )
