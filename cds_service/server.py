"""gunicorn, configured once for every way this package is served: `cds-service serve`, the
Docker image and the benchmark's floor (so the floor runs under exactly the service's settings).

Library code: the CLI imports this module, never the other way round.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

DEFAULT_WORKERS = os.cpu_count() or 2
DEFAULT_THREADS = 4  # gthread: FHIR callbacks wait on I/O, rules are short CPU bursts


# Measured with `cds-service benchmark`: the cyclic GC dominated large prefetch bodies (parsing
# 4.8 MB of JSON took 110 ms with the default thresholds, 45 ms with collections made rarer).
# Hook calls create few reference cycles, so young-generation collections can be much rarer.
GC_THRESHOLDS = (100_000, 20, 20)


class GunicornServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """Serve a WSGI app built by `load` with the given gunicorn settings."""

    def __init__(self, load: Callable[[], Flask], options: dict[str, Any]) -> None:
        self._load = load
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._load()


def _prepare_worker(server: Any, worker: Any) -> None:
    """gunicorn post_fork hook: fresh DB connections, and GC tuned for request work."""
    from cds_service.database import dispose_all_pools

    dispose_all_pools()  # a forked worker must not reuse the master's pooled connections
    gc.freeze()  # what the app built at start-up is never collected again
    gc.set_threshold(*GC_THRESHOLDS)


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 30,
        "keepalive": 5,
        "accesslog": None,  # the app writes its own JSON line per request
        "preload_app": True,  # fail before forking if hooks/ or the config is broken
        "post_fork": _prepare_worker,
    }
