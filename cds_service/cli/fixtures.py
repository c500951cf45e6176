"""`cds-service load-fixtures`: seed a FHIR server (HAPI, sekmet-fhir) with `fhir_fixtures/`.

Each `*.json` file is a FHIR R4 transaction Bundle with `PUT Type/id` entries (FHIR R4
http.html#transaction), so the command can be run again safely. Used by the docker-compose
one-shot job, by the integration tests, and by hand against the public HAPI sandbox. The token,
when given, is sent as `Authorization: Bearer` to that server only and never printed.
"""

from __future__ import annotations

from pathlib import Path

import click

from cds_service.fixture_loader import (
    FixtureError,
    LoadResult,
    load_directory,
    wait_until_ready,
)


@click.command("load-fixtures")
@click.option(
    "--fhir-base",
    required=True,
    envvar="CDS_FIXTURES_FHIR_BASE",
    help="FHIR base URL, e.g. http://localhost:8080/fhir.",
)
@click.option(
    "--dir",
    "directory",
    default="fhir_fixtures",
    show_default=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of transaction Bundles (*.json).",
)
@click.option(
    "--token",
    envvar="CDS_FIXTURES_TOKEN",
    default=None,
    help="Bearer token for the FHIR server (or CDS_FIXTURES_TOKEN).",
)
@click.option(
    "--wait",
    "wait_seconds",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds to wait for [base]/metadata to answer 200 before loading.",
)
def load_fixtures(fhir_base: str, directory: Path, token: str | None, wait_seconds: float) -> None:
    """Load every transaction Bundle in a folder into a FHIR server."""

    def report(result: LoadResult) -> None:
        click.echo(f"{result.file}: {result.entries} entries loaded")

    try:
        if wait_seconds > 0:
            wait_until_ready(fhir_base, wait_seconds, token=token)
        results = load_directory(fhir_base, directory, token=token, on_loaded=report)
    except FixtureError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(results)} fixture bundles loaded into {fhir_base}")


commands = [load_fixtures]
