"""`cds-service serve`: run the service under gunicorn (never the Flask development server).

Embedded defaults need nothing external: SQLite in the instance folder, the hooks/ folder of
this checkout, and prefetch or loopback FHIR servers only. `--no-auth` turns JWT checks off for
local use and says so loudly; production runs keep them on (CDS_AUTH_ENABLED defaults to true).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

DEFAULT_WORKERS = os.cpu_count() or 2
DEFAULT_THREADS = 4  # gthread: FHIR callbacks wait on I/O, rules are short CPU bursts


# Measured with `cds-service benchmark`: the cyclic GC dominated large prefetch bodies (parsing
# 4.8 MB of JSON took 110 ms with the default thresholds, 45 ms with collections made rarer).
# Hook calls create few reference cycles, so young-generation collections can be much rarer.
GC_THRESHOLDS = (100_000, 20, 20)


class GunicornServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """Serve a WSGI app built by `load` with the given gunicorn settings (also the benchmark's
    floor, so both run under exactly the same configuration)."""

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
    from cds_service.ledger import dispose_all_pools

    dispose_all_pools()  # a forked worker must not reuse the master's pooled connections
    gc.freeze()  # what the app built at start-up is never collected again
    gc.set_threshold(*GC_THRESHOLDS)


def _create_app() -> Flask:
    from cds_service import create_app

    return create_app()


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


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=DEFAULT_WORKERS, show_default=True, type=int)
@click.option("--threads", default=DEFAULT_THREADS, show_default=True, type=int)
@click.option("--no-auth", is_flag=True, help="Accept calls without a JWT (local use only).")
def serve(host: str, port: int, workers: int, threads: int, no_auth: bool) -> None:
    """Serve the CDS Hooks endpoints with gunicorn."""
    if no_auth:
        os.environ["CDS_AUTH_ENABLED"] = "false"
        click.secho(
            "WARNING: authentication is OFF. Any caller can use this service. Local use only.",
            fg="red",
            bold=True,
            err=True,
        )
    click.echo(f"CDS Hooks discovery: http://{host}:{port}/cds-services", err=True)
    GunicornServer(_create_app, gunicorn_options(host, port, workers, threads)).run()
