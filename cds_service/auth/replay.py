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


@runtime_checkable
class ReplayCache(Protocol):
    def first_use(self, key: str, expires_at: float) -> bool:
        """Record `key` until `expires_at` (epoch seconds); False if it was already recorded.

        Must be atomic: of two concurrent calls with the same key, exactly one returns True.
        """
        ...


class InMemoryReplayCache:
    """A dict of keys with their expiry, pruned as time passes; safe across threads."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._queue: list[tuple[float, str]] = []  # (expires_at, key), soonest first
        self._lock = threading.Lock()

    def first_use(self, key: str, expires_at: float) -> bool:
        with self._lock:
            self._prune(self._clock())
            if key in self._expiry:
                return False
            self._expiry[key] = expires_at
            heapq.heappush(self._queue, (expires_at, key))
            return True

    def __len__(self) -> int:
        with self._lock:
            self._prune(self._clock())
            return len(self._expiry)

    def _prune(self, now: float) -> None:
        while self._queue and self._queue[0][0] < now:
            expires_at, key = heapq.heappop(self._queue)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]
