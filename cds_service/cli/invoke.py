"""`cds-service invoke`: send a hook request and show the cards as an EHR would.

The request comes from a file (e.g. `hooks/examples/*.json`) or is built from a fixture bundle:
with `--bundle`, every resource of the type a prefetch template asks for goes into that key (an
over-delivering EHR; the service must filter it anyway), and `--draft-orders` supplies the orders
being placed for order-select / order-sign. Without `--url` the request goes to an in-process app
(authentication off, an in-memory ledger), so nothing has to be running.
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import requests

from cds_service.config import load_config
from cds_service.hook_requests import build_request, bundle_entries
from cds_service.scenarios import parse_instant, shift_dates
from cds_service.services import load_services


def _scenario_body(name: str, at: datetime) -> tuple[dict[str, Any], str]:
    from cds_service.scenarios import load_scenarios

    scenarios = load_scenarios()
    if name not in scenarios:
        raise click.UsageError(f"--scenario must be one of {', '.join(sorted(scenarios))}")
    chosen = scenarios[name].shifted(at)
    services = load_services(Path(load_config()["HOOKS_DIR"]))
    return chosen.request(services), chosen.service_id


def parse_as_of(text: str | None) -> datetime | None:
    """`--as-of`: see `scenarios.parse_instant`; a bad value is a usage error."""
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from None


def explain_body(
    service_id: str, body: dict[str, Any], as_of: datetime | None
) -> dict[str, Any] | str:
    """The explanation of one call, computed here (the service's own facts and rules), as
    {"text", **as_dict()}; or a sentence saying why there is none."""
    from pydantic import ValidationError

    from cds_service.errors import ServiceError
    from cds_service.explain import explain_call, format_explanation
    from cds_service.fhir_allowlist import fhir_server_allowed
    from cds_service.protocol.request import HookRequest

    config = load_config()
    services = load_services(Path(config["HOOKS_DIR"]))
    allowlist = config["FHIR_ALLOWLIST"]
    try:
        explanation = explain_call(
            services[service_id],
            HookRequest.model_validate(body),
            config,
            now=as_of,
            is_allowed=lambda url: fhir_server_allowed(url, allowlist),
        )
    except (ValidationError, ServiceError, KeyError) as exc:
        return f"Explain: not available ({type(exc).__name__}: {exc})"
    return {"text": format_explanation(explanation), **explanation.as_dict()}


def example_service_id(path: Path) -> str | None:
    """hooks/examples/<service-id>--<scenario>.json names its service."""
    service_id, separator, _ = path.name.partition("--")
    return service_id if separator else None


def send(
    service_id: str,
    body: dict[str, Any],
    url: str | None,
    token: str | None,
    as_of: datetime | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST `body` to a running service (`url`) or to an in-process one. `as_of` is the instant the
    call is judged at: in process the service's clock reads it; a running service has its own
    clock, so every date in the request is moved by (now - as_of) instead."""
    if url:
        if as_of is not None:
            body = shift_dates(body, datetime.now(UTC) - as_of)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = requests.post(
            f"{url.rstrip('/')}/cds-services/{service_id}", json=body, headers=headers, timeout=30
        )
        return answer.status_code, answer.json()
    from cds_service import create_app

    settings: dict[str, Any] = {
        "AUTH_ENABLED": False,
        "DATABASE_URL": "sqlite://",
        "LOG_LEVEL": "WARNING",
    }
    if as_of is not None:
        settings["CLOCK"] = lambda: as_of
    app = create_app(settings)
    response = app.test_client().post(f"/cds-services/{service_id}", json=body)
    return response.status_code, response.get_json()


def format_cards(status: int, answer: dict[str, Any]) -> str:
    if status != 200:
        lines = [f"HTTP {status}: {answer.get('error')}: {answer.get('message')}"]
        lines += [f"  - {d}" for d in answer.get("details", [])]
        return "\n".join(lines)
    cards = answer.get("cards", [])
    if not cards:
        return "No cards: nothing in this record calls for advice."
    out = []
    for n, card in enumerate(cards, 1):
        out.append(f"[{n}] {card['indicator'].upper():8} {card['summary']}")
        out.append(f"    source: {card['source']['label']}")
        if card.get("detail"):
            out.append(textwrap.indent(card["detail"], "    | "))
        for s in card.get("suggestions", []):
            star = " (recommended)" if s.get("isRecommended") else ""
            out.append(f"    suggestion{star}: {s['label']}")
            for a in s.get("actions", []):
                target = a.get("resourceId") or a.get("resource", {}).get("resourceType", "")
                out.append(f"      - {a['type']} {target}: {a['description']}")
        for r in card.get("overrideReasons", []):
            out.append(f"    override reason: {r['display']}")
        out.append("")
    for action in answer.get("systemActions", []):
        out.append(f"system action: {action['type']}: {action['description']}")
    return "\n".join(out).rstrip()


@click.command()
@click.argument("request_file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--service", "service_id", help="Service id (default: from the request file name).")
@click.option(
    "--bundle",
    type=click.Path(exists=True, dir_okay=False),
    help="Build the request from a FHIR Bundle (e.g. fhir_fixtures/*.json).",
)
@click.option(
    "--scenario",
    help="Replay a fhir_fixtures/scenarios.json scenario, dates moved "
    "so that it happens now (its bundle, hook and draft orders).",
)
@click.option("--patient", "patient_id", help="Patient id (with --bundle; default: its Patient).")
@click.option(
    "--draft-orders",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON Bundle or list of the draft orders (order-select / order-sign).",
)
@click.option("--select", "selections", multiple=True, help="order-select selection, Type/id.")
@click.option(
    "--as-of",
    "as_of_text",
    metavar="DATE|now",
    help="Judge the call at this instant (YYYY-MM-DD means 12:00 UTC; default now). "
    "--scenario is moved to it; a bundle or request file keeps its dates.",
)
@click.option(
    "--fhir-server",
    help="Send no prefetch: the service reads the record from this FHIR base instead "
    "(e.g. one seeded with `load-fixtures --shift-to-now`).",
)
@click.option("--url", help="Base URL of a running service (default: in-process).")
@click.option("--token", envvar="CDS_INVOKE_TOKEN", help="JWT for --url (or CDS_INVOKE_TOKEN).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON response.")
@click.option(
    "--explain",
    is_flag=True,
    help="Also say why: the facts recognised and not recognised, and for each rule of the "
    "service whether it fired or the condition that kept it silent (computed in process).",
)
def invoke(
    request_file: str | None,
    service_id: str | None,
    bundle: str | None,
    scenario: str | None,
    patient_id: str | None,
    draft_orders: str | None,
    selections: tuple[str, ...],
    as_of_text: str | None,
    fhir_server: str | None,
    url: str | None,
    token: str | None,
    as_json: bool,
    explain: bool,
) -> None:
    """Send a hook request and pretty-print the cards that come back."""
    if sum(map(bool, (request_file, bundle, scenario))) != 1:
        raise click.UsageError("give one of REQUEST_FILE, --bundle or --scenario")
    as_of = parse_as_of(as_of_text)
    if scenario:
        body, service_id = _scenario_body(scenario, as_of or datetime.now(UTC))
    elif request_file:
        body = json.loads(Path(request_file).read_text())
        service_id = service_id or example_service_id(Path(request_file))
        if not service_id:
            raise click.UsageError(
                "pass --service (or name the file <service-id>--<scenario>.json)"
            )
    elif bundle:
        services = load_services(Path(load_config()["HOOKS_DIR"]))
        if service_id not in services:
            raise click.UsageError(f"--service must be one of {', '.join(sorted(services))}")
        orders: list[dict[str, Any]] = []
        if draft_orders:
            loaded = json.loads(Path(draft_orders).read_text())
            orders = bundle_entries(loaded) if isinstance(loaded, dict) else loaded
        try:
            body = build_request(
                services[service_id],
                json.loads(Path(bundle).read_text()),
                patient_id=patient_id,
                draft_orders=orders,
                selections=list(selections) or None,
            )
        except ValueError as exc:
            raise click.UsageError(f"{exc}, or pass --patient") from None
    if not service_id:
        raise click.UsageError("pass --service")
    if fhir_server:
        body = {k: v for k, v in body.items() if k != "prefetch"} | {"fhirServer": fhir_server}
    status, answer = send(service_id, body, url, token, as_of)
    if not explain:
        click.echo(json.dumps(answer, indent=2) if as_json else format_cards(status, answer))
    else:
        why = explain_body(service_id, body, as_of)
        if as_json:
            click.echo(json.dumps({"response": answer, "explain": why}, indent=2))
        else:
            click.echo(format_cards(status, answer))
            click.echo("")
            click.echo(why if isinstance(why, str) else why["text"])
    if status != 200:
        raise SystemExit(1)
