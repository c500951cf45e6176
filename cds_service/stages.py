"""The stage timer of one request: the wall time of each stage for the request log and the
metrics, and, for one request in CPU_SAMPLE_EVERY, the request thread's CPU time across them.

Started where the WSGI server hands the request to the app (`request_log` wraps the app's
`wsgi_app`), so the stages cover the application's work from its first line: `request` (Flask's
request context and routing, up to the first `before_request` hook), `auth` (the JWT checked,
when authentication is on), then a hook call's `parse`, `resolve`, `facts`, `rules`, `render`,
`ledger` and `respond` (`api`, `pipeline`), and `finish` (the other `after_request` hooks: CORS,
security headers), lapped by the request log just before it writes its line. What they leave out
is the HTTP server's own work, the log line's own formatting and writing, Flask's teardown and
response iteration, the ledger writer's thread and the threads' switching.
"""

from __future__ import annotations

import itertools
import time

CPU_SAMPLE_EVERY = 16  # reading a thread's CPU clock is a system call: sample, not every call
_calls = itertools.count()


class StageTimer:
    """Wall time per stage, and, for one request in CPU_SAMPLE_EVERY, the calling thread's CPU
    time from the timer's start to the last `cpu_ms()` (wall times of concurrent calls include
    waiting for the GIL; the CPU time does not). `cpu_ms()` is None on the requests not sampled."""

    def __init__(self) -> None:
        self.timings_ms: dict[str, float] = {}
        self.started = self._last = time.perf_counter()
        sampled = next(_calls) % CPU_SAMPLE_EVERY == 0
        self._cpu_started = time.thread_time() if sampled else None

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings_ms[stage] = round((now - self._last) * 1000, 2)
        self._last = now

    def cpu_ms(self) -> float | None:
        if self._cpu_started is None:
            return None
        return round((time.thread_time() - self._cpu_started) * 1000, 3)
