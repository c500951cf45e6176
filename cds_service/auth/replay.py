"""The `jti` replay cache: a token is accepted once (CDS Hooks 2.0 "Trusting CDS Clients": `jti`
is "a nonce string value that uniquely identifies this authentication JWT … used to protect against
replay attacks"; best practices: keep a short-term cache for the token's lifetime).

`ReplayCache` is the interface; `InMemoryReplayCache` is the default for one process. Several
instances behind a load balancer need a shared store: implement `first_use` atomically there (for
example Redis `SET key 1 NX EXAT expires_at`, or an INSERT into a table whose primary key is the
key, deleting rows past `expires_at`), and pass it to `create_app` as `AUTH_REPLAY_CACHE`.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

# About 200 bytes each: 100,000 tokens alive at once is ~20 MB per process at most.
MAX_MEMORY_ENTRIES = 100_000


@runtime_checkable
class ReplayCache(Protocol):
    def first_use(self, key: str, expires_at: float) -> bool:
        """Record `key` until `expires_at` (epoch seconds); False if it was already recorded.

        Must be atomic: of two concurrent calls with the same key, exactly one returns True.
        """
        ...


class ReplayCacheUnavailable(Exception):
    """No store could record the key: the call is refused with 503 (fail closed)."""


class InMemoryReplayCache:
    """A dict of keys with their expiry, pruned as time passes; safe across threads.

    Bounded: past `max_entries` the entry expiring soonest is dropped (a replay of that token
    then reaches the shared store, which still refuses it).
    """

    def __init__(
        self, clock: Callable[[], float] = time.time, max_entries: int = MAX_MEMORY_ENTRIES
    ) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._expiry: dict[str, float] = {}
        self._queue: list[tuple[float, str]] = []  # (expires_at, key), soonest first
        self._lock = threading.Lock()

    def first_use(self, key: str, expires_at: float) -> bool:
        with self._lock:
            self._prune(self._clock())
            if key in self._expiry:
                return False
            self._add(key, expires_at)
            return True

    def seen(self, key: str) -> bool:
        with self._lock:
            self._prune(self._clock())
            return key in self._expiry

    def add(self, key: str, expires_at: float) -> None:
        with self._lock:
            if key not in self._expiry:
                self._add(key, expires_at)

    def _add(self, key: str, expires_at: float) -> None:
        while len(self._expiry) >= self._max_entries and self._queue:
            soonest, old = heapq.heappop(self._queue)
            if self._expiry.get(old) == soonest:
                del self._expiry[old]
        self._expiry[key] = expires_at
        heapq.heappush(self._queue, (expires_at, key))

    def __len__(self) -> int:
        with self._lock:
            self._prune(self._clock())
            return len(self._expiry)

    def _prune(self, now: float) -> None:
        while self._queue and self._queue[0][0] < now:
            expires_at, key = heapq.heappop(self._queue)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]
