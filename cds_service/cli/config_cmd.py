"""`cds-service config`: the effective configuration, every `CDS_*` setting checked.

Prints each setting with its value and where it came from (the environment or the default);
secrets are masked and database passwords hidden. A bad value or an unknown `CDS_*` variable is
the same one-line error `serve` stops with, so an operator can check a deployment's environment
without starting it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from cds_service.config import SETTINGS, ConfigError, load_config, shown_value
from cds_service.server import DEFAULT_THREADS, usable_cpus


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
def config(as_json: bool) -> None:
    """Check the CDS_* settings and print the effective configuration (secrets masked)."""
    try:
        values = load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    rows: list[dict[str, Any]] = []
    for setting in SETTINGS:
        raw = os.environ.get(setting.env)
        rows.append(
            {
                "variable": setting.env,
                "value": shown_value(setting, values[setting.name]),
                "source": "environment" if raw not in (None, "") else "default",
            }
        )
    workers = values["WORKERS"] or usable_cpus()
    derived = {
        "workers": workers,
        "threads": DEFAULT_THREADS,
        "GUNICORN_CMD_ARGS": os.environ.get("GUNICORN_CMD_ARGS", ""),
    }
    if as_json:
        click.echo(json.dumps({"settings": rows, "serve": derived}, indent=2))
        return
    width = min(60, max(len(r["variable"]) + len(r["value"]) for r in rows) + 1)
    for row in rows:
        line = f"{row['variable']}={row['value']}"
        click.echo(f"{line:<{width}}  ({row['source']})")
    source = "CDS_WORKERS" if values["WORKERS"] else "CPUs this process may use"
    click.echo(f"# serve: {workers} workers ({source}) x {DEFAULT_THREADS} threads", nl=False)
    if derived["GUNICORN_CMD_ARGS"]:
        click.echo(f"; GUNICORN_CMD_ARGS={derived['GUNICORN_CMD_ARGS']} applies on top", nl=False)
    click.echo()


commands = [config]
