"""`cds-service config`: the effective configuration, every `CDS_*` setting checked.

Prints each setting with its value and where it came from (the environment or the default);
secrets are masked and database passwords hidden. A bad value or an unknown `CDS_*` variable is
the same one-line error `serve` stops with, so an operator can check a deployment's environment
without starting it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
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
    pilot_state = _pilot(values)
    if as_json:
        click.echo(json.dumps({"settings": rows, "serve": derived, "pilot": pilot_state}, indent=2))
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
    for service in pilot_state["services"]:
        off = [r["id"] for r in service["rules"] if not r["enabled"]]
        rules = f"{len(service['rules']) - len(off)}/{len(service['rules'])} rules on"
        click.echo(f"# pilot: {service['id']} {service['mode']}, {rules}", nl=False)
        click.echo(f" (off: {', '.join(off)})" if off else "")


def _pilot(values: dict[str, Any]) -> dict[str, Any]:
    """Shadow mode and rule switches per service (pilot.py), checked as `serve` checks them."""
    from cds_service import pilot
    from cds_service.services import RegistryError, load_services

    try:
        services = load_services(Path(values["HOOKS_DIR"]))
        pilot.check(values, services)
    except (pilot.PilotConfigError, RegistryError) as exc:
        raise click.ClickException(str(exc)) from None
    return pilot.summary(values, services.values())


commands = [config]
