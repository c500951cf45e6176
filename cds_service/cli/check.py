"""`cds-service check`: prove that the service definitions, the handlers and the examples agree.

Checks, for every `hooks/*.json`: it loads (ids, hooks, prefetch tokens and query subset, rule ids
that exist and serve its hook); its hook has a context model; its prefetch templates are the ones
`cds_service.contracts` generates (the Observation template filters on exactly the lab table's
LOINC codes); the fact builders read exactly the keys the services declare; every example it
lists exists, is named for it, parses as a CDS Hooks request for its hook with only declared
prefetch keys, and answers 200 in-process; and every file in `hooks/examples/` belongs to a
service. Exit status 1 when anything disagrees. `--write` regenerates the templates first.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import click
from pydantic import ValidationError

from cds_service.config import load_config
from cds_service.contracts import PREFETCH_TEMPLATES, PrefetchKey
from cds_service.facts.build import READS
from cds_service.knowledge import labs
from cds_service.protocol.request import CONTEXT_MODELS, HookRequest, parse_context
from cds_service.scenarios import load_scenarios
from cds_service.services import RegistryError, ServiceDefinition, load_services


def _observation_codes(template: str) -> set[str]:
    codes = parse_qs(template.partition("?")[2]).get("code", [])
    return {c.rpartition("|")[2] for value in codes for c in value.split(",")}


def _prefetch_problems(services: dict[str, ServiceDefinition]) -> list[str]:
    """Templates as generated, and keys read by the fact builders = keys the services declare."""
    problems = []
    declared: set[str] = set()
    wanted = set(labs.observation_codes())
    for service in services.values():
        declared |= set(service.prefetch)
        for key, template in service.prefetch.items():
            generated = PREFETCH_TEMPLATES.get(PrefetchKey(key))
            if template.startswith("Observation?") and _observation_codes(template) != wanted:
                missing = sorted(wanted - _observation_codes(template))
                extra = sorted(_observation_codes(template) - wanted)
                problems.append(
                    f"{service.id}: prefetch {key} codes differ from the lab table's "
                    f"(missing {missing}, not read {extra}); run `cds-service check --write`"
                )
            elif template != generated:
                problems.append(
                    f"{service.id}: prefetch {key} is not the generated template; "
                    "run `cds-service check --write`"
                )
    read = {str(key) for key in READS}
    problems += [
        f"the fact builders read {key!r}, which no service declares"
        for key in sorted(read - declared)
    ]
    problems += [
        f"a service declares prefetch {key!r}, which nothing reads"
        for key in sorted(declared - read)
    ]
    return problems


# hooks/examples/ are the fixture scenarios replayed as if they happened at this instant.
EXAMPLES_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def write_examples(hooks_dir: Path) -> list[Path]:
    """Regenerate every listed example from its fixture scenario (`<service>--<scenario>.json`)."""
    services = load_services(hooks_dir)
    scenarios = load_scenarios()
    changed = []
    for service in services.values():
        for example in service.examples:
            path = hooks_dir / example
            name = path.stem.partition("--")[2]
            if name not in scenarios:
                continue  # reported by find_problems
            body = scenarios[name].shifted(EXAMPLES_AT).request(services)
            old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            body["hookInstance"] = old.get("hookInstance") or str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"cds-service/examples/{path.name}")
            )
            if body != old:
                path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", "utf-8")
                changed.append(path)
    return changed


def write_definitions(hooks_dir: Path) -> list[Path]:
    """Regenerate every service file's prefetch from the contracts; return the files changed."""
    changed = []
    for path in sorted(hooks_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        prefetch = {str(key): PREFETCH_TEMPLATES[key] for key in PrefetchKey if key in READS}
        if data.get("prefetch") != prefetch:
            data["prefetch"] = prefetch
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
            changed.append(path)
    return changed


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
    problems += _prefetch_problems(services)
    for service in services.values():
        if service.hook not in CONTEXT_MODELS or not service.rules:
            problems.append(f"{service.id}: no handler or rules for hook {service.hook}")
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
@click.option(
    "--write",
    is_flag=True,
    help="First regenerate hooks/*.json prefetch templates and hooks/examples/ from the sources.",
)
def check(hooks_dir: Path | None, write: bool) -> None:
    """Check that hooks/, the handlers and hooks/examples/ agree."""
    hooks_dir = hooks_dir or Path(load_config()["HOOKS_DIR"])
    if write:
        for path in (*write_definitions(hooks_dir), *write_examples(hooks_dir)):
            click.echo(f"wrote {path}")
    problems = find_problems(hooks_dir)
    if not problems:
        problems = run_examples(hooks_dir)
    for problem in problems:
        click.echo(f"FAIL {problem}", err=True)
    if problems:
        raise SystemExit(1)
    count = len(load_services(hooks_dir))
    click.echo(f"OK: {count} services, their handlers and examples agree")
