"""`cds-service load-fixtures`: seed a FHIR server (HAPI, sekmet-fhir) with `fhir_fixtures/`.

Each `*.json` file is a FHIR R4 transaction Bundle with `PUT Type/id` entries (FHIR R4
http.html#transaction), so the command can be run again safely. Used by the docker-compose
one-shot job, by the integration tests, and by hand against the public HAPI sandbox.
`--shift-to-now` moves each bundle's dates the way `invoke --scenario` does (by now minus the
instant its scenario in `scenarios.json` was written for), so a no-prefetch call made today sees
fresh results instead of months-old ones. The token,
when given, is sent as `Authorization: Bearer` to that server only and never printed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from cds_service.fixture_loader import (
    FixtureError,
    LoadResult,
    load_directory,
    wait_until_ready,
)
from cds_service.scenarios import bundle_instants, shift_dates


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
@click.option(
    "--shift-to-now",
    is_flag=True,
    help="Move every date in each bundle by (now - its scenario's `now` in scenarios.json), "
    "as `invoke --scenario` does, so freshness windows see the fixtures as current.",
)
def load_fixtures(
    fhir_base: str, directory: Path, token: str | None, wait_seconds: float, shift_to_now: bool
) -> None:
    """Load every transaction Bundle in a folder into a FHIR server."""
    moved: dict[str, str] = {}
    prepare = None
    if shift_to_now:
        try:
            instants = bundle_instants(directory)
        except (ValueError, KeyError) as exc:
            raise click.ClickException(f"{directory}/scenarios.json: {exc}") from None
        if not instants:
            raise click.ClickException(
                f"--shift-to-now needs {directory}/scenarios.json (the instant each bundle is "
                "written for)"
            )
        now = datetime.now(UTC)

        def prepare(name: str, bundle: dict[str, Any]) -> dict[str, Any]:
            if name not in instants:
                moved[name] = "dates kept: not in scenarios.json"
                return bundle
            delta = now - instants[name]
            moved[name] = f"dates moved by {delta.days} days {delta.seconds // 3600} h"
            shifted: dict[str, Any] = shift_dates(bundle, delta)
            return shifted

    def report(result: LoadResult) -> None:
        note = f" ({moved[result.file]})" if result.file in moved else ""
        click.echo(f"{result.file}: {result.entries} entries loaded{note}")

    try:
        if wait_seconds > 0:
            wait_until_ready(fhir_base, wait_seconds, token=token)
        results = load_directory(
            fhir_base, directory, token=token, on_loaded=report, prepare=prepare
        )
    except FixtureError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(results)} fixture bundles loaded into {fhir_base}")


commands = [load_fixtures]
