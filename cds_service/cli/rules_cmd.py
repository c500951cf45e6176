"""`cds-service rules`: our provenance for integrators, which card text never carries.

For every rule: its id (the key of the ledger and the feedback report), the hooks it serves, the
services that run it, the source summary (seed) it implements, the citations its cards show with
their full verification notes, and the fixture scenarios that prove it fires and stays silent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cds_service import rules
from cds_service.config import load_config
from cds_service.services import load_services


def rule_table(hooks_dir: Path) -> list[dict[str, Any]]:
    services = load_services(hooks_dir)
    rows = []
    for rule in rules.load_rules().values():
        rows.append(
            {
                "id": rule.id,
                "hooks": sorted(rule.hooks),
                "services": sorted(s.id for s in services.values() if rule in s.rules),
                "seed": rule.seed,
                "module": rule.module,
                "fires": list(rule.fires),
                "silent": list(rule.silent),
            }
        )
    return sorted(rows, key=lambda r: r["id"])


@click.command("rules")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--hooks-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of service definitions (default: CDS_HOOKS_DIR).",
)
def rules_command(as_json: bool, hooks_dir: Path | None) -> None:
    """List every rule with its hooks, services, source summary and proving fixtures."""
    rows = rule_table(hooks_dir or Path(load_config()["HOOKS_DIR"]))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['id']}  seed {row['seed']}  hooks {','.join(row['hooks'])}  "
            f"services {','.join(row['services']) or '-'}"
        )
        click.echo(f"    fires: {', '.join(row['fires'])}; silent: {', '.join(row['silent'])}")
