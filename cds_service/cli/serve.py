"""`cds-service serve`: run the service under gunicorn (never the Flask development server).

Embedded defaults need nothing external: SQLite in the instance folder, the hooks/ folder of
this checkout, and prefetch or loopback FHIR servers only. `--no-auth` turns JWT checks off for
local use and says so loudly; production runs keep them on (CDS_AUTH_ENABLED defaults to true).
"""

from __future__ import annotations

import os

import click
from flask import Flask

from cds_service.server import DEFAULT_THREADS, DEFAULT_WORKERS, GunicornServer, gunicorn_options


def _create_app() -> Flask:
    from cds_service import create_app

    return create_app()


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
