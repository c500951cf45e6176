"""`cds-service check`: prove that the service definitions, the handlers and the examples agree.

Checks, for every `hooks/*.json`: it loads (ids, hooks, prefetch tokens and query subset); its
hook has a context model and registered rules; its Observation template filters on exactly the
LOINC codes the facts layer reads; every example it lists exists, is named for it, parses as a
CDS Hooks request for its hook with only declared prefetch keys, and answers 200 in-process; and
every file in `hooks/examples/` belongs to a service. Exit status 1 when anything disagrees.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import click
from pydantic import ValidationError

from cds_service import rules
from cds_service.config import load_config
from cds_service.protocol.request import CONTEXT_MODELS, HookRequest, parse_context
from cds_service.services import RegistryError, ServiceDefinition, load_services
from cds_service.terminology import loinc


def _observation_codes(template: str) -> set[str]:
    codes = parse_qs(template.partition("?")[2]).get("code", [])
    return {c.rpartition("|")[2] for value in codes for c in value.split(",")}


def _example_problems(service: ServiceDefinition, path: Path) -> list[str]:
    if not path.exists():
        return [f"{service.id}: example {path.name} does not exist"]
    if not path.name.startswith(f"{service.id}--"):
        return [f"{service.id}: example {path.name} must be named {service.id}--<scenario>.json"]
    try:
        request = HookRequest.model_validate(json.loads(path.read_text()))
        parse_context(service.hook, request.context)
    except (ValueError, ValidationError) as exc:
        return [f"{service.id}: example {path.name} is not a valid request: {exc}"]
    problems = []
    if request.hook != service.hook:
        problems.append(f"{service.id}: example {path.name} is for hook {request.hook}")
    undeclared = set(request.prefetch or {}) - set(service.prefetch)
    if undeclared:
        problems.append(f"{service.id}: example {path.name} sends undeclared keys {undeclared}")
    return problems


def find_problems(hooks_dir: Path) -> list[str]:
    try:
        services = load_services(hooks_dir)
    except RegistryError as exc:
        return [str(exc)]
    problems: list[str] = []
    listed: set[str] = set()
    wanted = set(loinc.PREFETCH_OBSERVATION_CODES)
    for service in services.values():
        if service.hook not in CONTEXT_MODELS or not rules.rules_for(service.hook):
            problems.append(f"{service.id}: no handler or rules for hook {service.hook}")
        for key, template in service.prefetch.items():
            if template.startswith("Observation?") and _observation_codes(template) != wanted:
                missing = sorted(wanted - _observation_codes(template))
                extra = sorted(_observation_codes(template) - wanted)
                problems.append(
                    f"{service.id}: prefetch {key} codes differ from the facts "
                    f"layer's (missing {missing}, not read {extra})"
                )
        if not service.examples:
            problems.append(f"{service.id}: lists no examples")
        for example in service.examples:
            listed.add(example)
            problems += _example_problems(service, hooks_dir / example)
    for path in sorted((hooks_dir / "examples").glob("*.json")):
        if f"examples/{path.name}" not in listed:
            problems.append(f"hooks/examples/{path.name} is listed by no service")
    return problems


def run_examples(hooks_dir: Path) -> list[str]:
    """POST every example to an in-process app; anything but 200 is a problem."""
    from cds_service import create_app, extensions

    app = create_app(
        {
            "AUTH_ENABLED": False,
            "DATABASE_URL": "sqlite://",
            "LOG_LEVEL": "WARNING",
            "HOOKS_DIR": str(hooks_dir),
        }
    )
    client = app.test_client()
    problems = []
    for service in extensions.services(app).values():
        for example in service.examples:
            response = client.post(
                f"/cds-services/{service.id}", json=json.loads((hooks_dir / example).read_text())
            )
            if response.status_code != 200:
                problems.append(
                    f"{service.id}: {example} answered {response.status_code}: "
                    f"{response.get_json()}"
                )
    return problems


@click.command()
@click.option(
    "--hooks-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of service definitions (default: CDS_HOOKS_DIR).",
)
def check(hooks_dir: Path | None) -> None:
    """Check that hooks/, the handlers and hooks/examples/ agree."""
    hooks_dir = hooks_dir or Path(load_config()["HOOKS_DIR"])
    problems = find_problems(hooks_dir)
    if not problems:
        problems = run_examples(hooks_dir)
    for problem in problems:
        click.echo(f"FAIL {problem}", err=True)
    if problems:
        raise SystemExit(1)
    count = len(load_services(hooks_dir))
    click.echo(f"OK: {count} services, their handlers and examples agree")
