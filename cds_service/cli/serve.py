"""`cds-service serve`: run the service under gunicorn (never the Flask development server).

Embedded defaults need nothing external: SQLite in the instance folder, the hooks/ folder of
this checkout, and prefetch or loopback FHIR servers only. `--no-auth` turns JWT checks off for
local use and says so loudly; production runs keep them on (CDS_AUTH_ENABLED defaults to true).
"""

from __future__ import annotations

import os

import click
from flask import Flask

from cds_service import startup
from cds_service.config import ConfigError, load_config
from cds_service.server import (
    DEFAULT_THREADS,
    GunicornServer,
    gunicorn_options,
    prepare_multiprocess_dir,
    usable_cpus,
)


def _build_app() -> Flask:
    """The app, built before gunicorn starts; a setting the operator must fix is one line."""
    from cds_service import create_app

    try:
        return create_app()
    except Exception as exc:
        line = startup.problem(exc)
        if line is None:
            raise
        raise click.ClickException(line) from None


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
    the options given here.
    """
    if no_auth:
        os.environ["CDS_AUTH_ENABLED"] = "false"
    try:
        config = load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    options = gunicorn_options(
        config["HOST"],
        config["PORT"],
        config["WORKERS"] or usable_cpus(),
        DEFAULT_THREADS,
    )
    overrides: dict[str, object] = {}
    if host is not None or port is not None:
        overrides["bind"] = f"{host or config['HOST']}:{port or config['PORT']}"
    if workers is not None:
        overrides["workers"] = workers
    if threads is not None:
        overrides["threads"] = threads
    if config["METRICS"] == "on":
        metrics_dir = prepare_multiprocess_dir()
        click.echo(f"metrics: prometheus multiprocess files in {metrics_dir}", err=True)
    built: list[Flask] = []  # gunicorn preloads the app in this process, before forking
    server = GunicornServer(lambda: built[0], options, overrides)
    if config["REPLAY_CACHE"] == "memory" and config["AUTH_ENABLED"] and server.cfg.workers > 1:
        raise click.ClickException(
            f"CDS_REPLAY_CACHE=memory with {server.cfg.workers} workers: a token replayed to "
            "another worker would be accepted; use CDS_REPLAY_CACHE=database or one worker"
        )
    service_binds = list(server.cfg.bind)
    if config["METRICS_PORT"]:
        server.cfg.set("bind", [*service_binds, f"{config['HOST']}:{config['METRICS_PORT']}"])
    built.append(_build_app())
    if no_auth:
        click.secho(
            "WARNING: authentication is OFF. Any caller can use this service. Local use only.",
            fg="red",
            bold=True,
            err=True,
        )
    for bind in service_binds:
        click.echo(f"CDS Hooks discovery: http://{bind}/cds-services", err=True)
    if config["METRICS"] == "on":
        binds = [f"{config['HOST']}:{config['METRICS_PORT']}"] if config["METRICS_PORT"] else []
        for bind in binds or service_binds:
            click.echo(f"metrics: http://{bind}/metrics", err=True)
    server.run()
