"""The `cds-service` command line: serve, invoke, check, feedback-report, and the commands the
data, security and benchmark modules contribute (load-fixtures, dev-keys, dev-token, ...).

One console script, used everywhere in the README and CI, so operators and developers type the
same thing. Each command lives in a module of this package named for what it does.
"""

from __future__ import annotations

import click

from cds_service.cli import (
    benchmark,
    check,
    config_cmd,
    db,
    devauth,
    fixtures,
    invoke,
    report,
    rules_cmd,
    serve,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """CDS Hooks 2.0 service for immunotherapy decisions in immune-mediated neurology."""


for command in (
    serve.serve,
    invoke.invoke,
    check.check,
    rules_cmd.rules_command,
    report.feedback_report,
    *fixtures.commands,
    *db.commands,
    *config_cmd.commands,
    *devauth.commands,
    *benchmark.commands,
):
    main.add_command(command)
