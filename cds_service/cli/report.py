"""`cds-service feedback-report`: per rule, what clinicians did with its cards, counted by card.

Reads the card ledger named by CDS_DATABASE_URL (or the instance folder's SQLite file). How cards
are counted and which contradictions are flagged: `cds_service.feedback_report`. A rule that is
overridden far more often than accepted is a rule to review with the clinicians.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask

from cds_service.config import load_config
from cds_service.feedback_html import ChartLibraryMissing, render
from cds_service.feedback_report import FLAGS, FeedbackReport, build_report
from cds_service.ledger import open_ledger


def _instant(_ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """YYYY-MM-DD (midnight UTC) or an ISO 8601 date-time (UTC when it names no zone)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD) or ISO 8601 date-time", param=param
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _table(report: FeedbackReport) -> None:
    since = report.since.isoformat() if report.since else "the first card"
    until = f"{report.until.isoformat()} (exclusive)" if report.until else "now"
    click.echo(f"cards issued from {since} to {until}; {report.tenant or 'all tenants'}")
    click.echo("counted by card; rates per card shown; silent = shadow mode, never shown")
    click.echo(
        f"{'rule':<44} {'shown':>6} {'silent':>6} {'accepted':>9} {'overridden':>11} "
        f"{'conflicting':>12} {'no feedback':>12} {'acc%':>5} {'ovr%':>5}  override reasons"
    )
    for row in report.rules:
        reasons = "; ".join(
            f"{reason} ({n})"
            for reason, n in sorted(row.override_reasons.items(), key=lambda item: -item[1])
        )
        rates = [
            "-" if rate is None else f"{rate:.0%}"
            for rate in (row.acceptance_rate, row.override_rate)
        ]
        click.echo(
            f"{row.rule_id:<44} {row.issued:>6} {row.silent:>6} {row.accepted:>9} "
            f"{row.overridden:>11} {row.conflicting:>12} {row.no_feedback:>12} "
            f"{rates[0]:>5} {rates[1]:>5}  {reasons or '-'}"
        )
    if not report.rules:
        click.echo("(no cards issued yet)")
    if report.unknown_card_feedback:
        click.echo(
            f"(unknown card): {report.unknown_card_feedback} feedback item(s) for cards the "
            "ledger never issued"
        )
    totals = {flag: sum(flag in c.flags for c in report.flagged_cards) for flag in FLAGS}
    if any(totals.values()):
        click.echo(
            "contradictions (cards): " + ", ".join(f"{f} {n}" for f, n in totals.items() if n)
        )


@click.command("feedback-report")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--since", callback=_instant, help="Only cards issued at or after this date.")
@click.option("--until", callback=_instant, help="Only cards issued before this date (exclusive).")
@click.option("--tenant", help="Only cards issued to callers with this JWT `tenant` claim.")
@click.option(
    "--period",
    type=click.Choice(["day", "week", "month"]),
    default="week",
    show_default=True,
    help="Period of the rates over time (JSON series and --html charts).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the report with charts of the rates over time to this HTML file.",
)
def feedback_report(
    as_json: bool,
    since: datetime | None,
    until: datetime | None,
    tenant: str | None,
    period: str,
    html_file: Path | None,
) -> None:
    """Print what clinicians did with each rule's cards."""
    if since and until and since >= until:
        raise click.BadParameter("--since must be before --until")
    # The same instance folder create_app uses, without building the whole app.
    instance = Path(Flask("cds_service", instance_relative_config=True).instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    config = load_config()
    ledger = open_ledger(config["DATABASE_URL"], instance, key_settings=config)
    ledger.flush()
    report = build_report(
        ledger.engine,
        since=since,
        until=until,
        tenant=tenant,
        period=period,  # type: ignore[arg-type]  # click.Choice checked it
    )
    if html_file is not None:
        try:
            html_file.write_text(render(report), encoding="utf-8")
        except ChartLibraryMissing as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"wrote {html_file}", err=True)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    _table(report)
