"""`cds-service feedback-report`: per rule, cards issued, accepted, overridden and why.

Reads the card ledger named by CDS_DATABASE_URL (or the instance folder's SQLite file); a rule
that is overridden far more often than accepted is a rule to review with the clinicians.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask

from cds_service.config import load_config
from cds_service.ledger import open_ledger


@click.command("feedback-report")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def feedback_report(as_json: bool) -> None:
    """Print what clinicians did with each rule's cards."""
    # The same instance folder create_app uses, without building the whole app.
    instance = Path(Flask("cds_service", instance_relative_config=True).instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    config = load_config()
    rows = open_ledger(config["DATABASE_URL"], instance, key_settings=config).report()
    if as_json:
        click.echo(json.dumps([row.__dict__ for row in rows], indent=2))
        return
    click.echo(f"{'rule':<44} {'issued':>7} {'accepted':>9} {'overridden':>11}  override reasons")
    for row in rows:
        reasons = "; ".join(
            f"{reason} ({n})"
            for reason, n in sorted(row.override_reasons.items(), key=lambda item: -item[1])
        )
        if row.unmatched_feedback:
            reasons = f"{row.unmatched_feedback} feedback item(s) for cards the ledger never issued"
        click.echo(
            f"{row.rule_id:<44} {row.issued:>7} {row.accepted:>9} {row.overridden:>11}  "
            f"{reasons or '-'}"
        )
    if not rows:
        click.echo("(no cards issued yet)")
