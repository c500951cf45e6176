"""`cds-service serve`: run the service under gunicorn (never the Flask development server).

Embedded defaults need nothing external: SQLite in the instance folder, the hooks/ folder of
this checkout, and prefetch or loopback FHIR servers only. `--no-auth` turns JWT checks off for
local use and says so loudly; production runs keep them on (CDS_AUTH_ENABLED defaults to true).
"""

from __future__ import annotations

import logging
import os
from typing import NoReturn

import click
from flask import Flask

from cds_service import startup
from cds_service.config import ConfigError, load_config
from cds_service.request_log import configure_logging
from cds_service.server import (
    DEFAULT_THREADS,
    GunicornServer,
    gunicorn_options,
    prepare_multiprocess_dir,
    usable_cpus,
)

log = logging.getLogger("cds_service.serve")


def _refuse(line: str) -> NoReturn:
    """Stop before starting: one JSON log line saying what to fix, exit status 2."""
    log.error(line)
    raise SystemExit(2)


def _build_app() -> Flask:
    """The app, built before gunicorn starts; a setting the operator must fix is one line."""
    from cds_service import create_app

    try:
        return create_app()
    except Exception as exc:
        line = startup.problem(exc)
        if line is None:
            raise
        _refuse(line)


@click.command()
@click.option("--host", help="Address to listen on (default: CDS_HOST).")
@click.option("--port", type=int, help="Port to listen on (default: CDS_PORT).")
@click.option("--workers", type=int, help="Worker processes (default: CDS_WORKERS).")
@click.option("--threads", type=int, help=f"Threads per worker (default: {DEFAULT_THREADS}).")
@click.option("--no-auth", is_flag=True, help="Accept calls without a JWT (local use only).")
def serve(
    host: str | None, port: int | None, workers: int | None, threads: int | None, no_auth: bool
) -> None:
    """Serve the CDS Hooks endpoints with gunicorn.

    Settings apply in this order, later ones winning: CDS_* variables, GUNICORN_CMD_ARGS, then
    the options given here. Every line written is JSON (gunicorn's own logs included).
    """
    if no_auth:
        os.environ["CDS_AUTH_ENABLED"] = "false"
    configure_logging("INFO")
    try:
        config = load_config()
    except ConfigError as exc:
        _refuse(str(exc))
    configure_logging(config["LOG_LEVEL"])
    options = gunicorn_options(
        config["HOST"],
        config["PORT"],
        config["WORKERS"] or usable_cpus(),
        DEFAULT_THREADS,
        log_level=config["LOG_LEVEL"],
    )
    overrides: dict[str, object] = {}
    if host is not None or port is not None:
        overrides["bind"] = f"{host or config['HOST']}:{port or config['PORT']}"
    if workers is not None:
        overrides["workers"] = workers
    if threads is not None:
        overrides["threads"] = threads
    built: list[Flask] = []  # gunicorn preloads the app in this process, before forking
    server = GunicornServer(lambda: built[0], options, overrides)
    if config["REPLAY_CACHE"] == "memory" and config["AUTH_ENABLED"] and server.cfg.workers > 1:
        _refuse(
            f"CDS_REPLAY_CACHE=memory with {server.cfg.workers} workers: a token replayed to "
            "another worker would be accepted; use CDS_REPLAY_CACHE=database or one worker"
        )
    service_binds = list(server.cfg.bind)
    if config["METRICS"] == "on":
        metrics_dir = prepare_multiprocess_dir()
        if config["METRICS_PORT"]:
            metrics_bind = f"{config['HOST']}:{config['METRICS_PORT']}"
            server.cfg.set("bind", [*service_binds, metrics_bind])
    built.append(_build_app())
    if no_auth:
        log.warning("authentication is OFF: any caller can use this service; local use only")
    for bind in service_binds:
        log.info("CDS Hooks discovery: http://%s/cds-services", bind)
    if config["METRICS"] == "on":
        binds = [metrics_bind] if config["METRICS_PORT"] else service_binds
        for bind in binds:
            log.info("metrics: http://%s/metrics (multiprocess files in %s)", bind, metrics_dir)
    server.run()
