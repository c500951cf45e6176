"""Garbage-collector settings for serving, applied by the app itself so every WSGI server gets
them (gunicorn through `serve`, `gunicorn cds_service.wsgi:app`, or any other server).

Measured with `cds-service benchmark`: the cyclic GC dominated large prefetch bodies (parsing
4.8 MB of JSON took 110 ms with the default thresholds, 45 ms with collections made rarer).
Hook calls create few reference cycles (their objects are freed by reference counting), so
young-generation collections can be much rarer, and what the app built at start-up is frozen
(`gc.freeze`: never scanned again; in gunicorn's master before the fork, so the workers' copies
of it also stay shared). `tune_for_serving` runs at the end of `create_app` and again on the
first request of every process (a forked worker), once per process. `paused()` keeps collections
off while a hook call runs (`api.call_service`): a large body allocates hundreds of thousands of
containers that all live until the call ends, and a collection would scan all of them for
nothing; once they are freed (reference counting) they no longer count towards one.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

GC_THRESHOLDS = (100_000, 20, 20)

_tuned_pid: int | None = None
_pause_lock = threading.Lock()
_pauses = 0  # threads inside `paused()`; collections resume when the last one leaves


def tune_for_serving() -> bool:
    """Freeze what exists and set the thresholds, once per process; True when it ran now."""
    global _tuned_pid
    pid = os.getpid()
    if _tuned_pid == pid:
        return False
    _tuned_pid = pid
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return True


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside the block (in any thread), unless GC was already off."""
    global _pauses
    with _pause_lock:
        was_enabled = gc.isenabled() or _pauses > 0
        if was_enabled:
            _pauses += 1
            gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            with _pause_lock:
                _pauses -= 1
                if _pauses == 0:
                    gc.enable()


def init_app(app: Flask) -> None:
    tune_for_serving()

    @app.before_request
    def _tune_worker() -> None:
        if _tuned_pid != os.getpid():  # the first request of a forked worker
            tune_for_serving()
