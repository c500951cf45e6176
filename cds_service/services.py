"""The service registry: `hooks/<service-id>.json` files, loaded and checked at start-up.

Each file holds one service's discovery entry (spec "Discovery": `id`, `hook`, `title`,
`description`, `prefetch`, `usageRequirements`) plus a `metadata` object that discovery never
exposes: which prefetch keys are required (a missing required key the service cannot fetch is a
412), which example requests in `hooks/examples/` exercise it, and the ids of the rules it runs
(`cds_service.rules`). The files are the contract on disk: integrators read them and discovery
serves them, so they stay hand-readable JSON, but their prefetch templates are generated from
`cds_service.contracts.PREFETCH_TEMPLATES` (`cds-service check --write`) and checked against it.
Discovery is these files, collected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cds_service import rules
from cds_service.contracts import Hook, PrefetchKey
from cds_service.frozen import fast_init

SUPPORTED_HOOKS = tuple(Hook)
# spec "Prefetch tokens": context fields that are tokens for the three hooks, and user tokens.
CONTEXT_TOKENS = frozenset({"context.userId", "context.patientId", "context.encounterId"})
USER_TOKENS = frozenset(
    {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}
)
TOKEN_PATTERN = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
# spec "Prefetch query restrictions": reads, type searches, and only these control parameters.
ALLOWED_CONTROL_PARAMS = frozenset({"_count", "_sort", "_id"})


class ServiceMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requiredPrefetch: tuple[PrefetchKey, ...] = ()
    examples: tuple[str, ...] = ()
    rules: tuple[str, ...] = Field(min_length=1)


class ServiceFile(BaseModel):
    """One `hooks/*.json` file; extra fields are refused so a typo cannot hide."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    hook: str
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    prefetch: dict[PrefetchKey, str] = Field(default_factory=dict)
    usageRequirements: str | None = Field(default=None, min_length=1)
    metadata: ServiceMetadata

    @model_validator(mode="after")
    def _consistent(self) -> ServiceFile:
        if self.hook not in SUPPORTED_HOOKS:
            raise ValueError(f"hook {self.hook!r} is not one of {', '.join(SUPPORTED_HOOKS)}")
        if len(set(self.metadata.rules)) != len(self.metadata.rules):
            raise ValueError("metadata.rules lists a rule twice")
        undeclared = set(self.metadata.requiredPrefetch) - set(self.prefetch)
        if undeclared:
            raise ValueError(f"requiredPrefetch names undeclared keys: {sorted(undeclared)}")
        for key, template in self.prefetch.items():
            for problem in template_problems(template):
                raise ValueError(f"prefetch[{key!r}]: {problem}")
        return self


def template_problems(template: str) -> list[str]:
    """What in a prefetch template breaks the spec's token and query rules (empty if none)."""
    problems = []
    for token in TOKEN_PATTERN.findall(template):
        if token not in CONTEXT_TOKENS and token not in USER_TOKENS:
            problems.append(
                f"token {{{{{token}}}}} is not a first-level context field or user token"
            )
    path, _, query = template.partition("?")
    if path.count("/") > 1 or not path or path.startswith(("/", "http")):
        problems.append("must be a relative read 'Type/id' or type-level search 'Type?...'")
    for pair in filter(None, query.split("&")):
        name = pair.partition("=")[0]
        if name.startswith("_") and name not in ALLOWED_CONTROL_PARAMS:
            problems.append(f"parameter {name} is outside the spec's query subset")
    return problems


@fast_init
@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    prefetch: dict[str, str]
    required_prefetch: frozenset[str]
    examples: tuple[str, ...]
    usage_requirements: str | None = None
    # The rules this service runs, in order (metadata.rules), resolved and checked at load.
    rules: tuple[rules.Rule, ...] = ()
    source_file: Path | None = field(default=None, compare=False)

    def discovery_entry(self) -> dict[str, Any]:
        """The entry exactly as discovery publishes it: no empty or null members (spec JSON)."""
        entry: dict[str, Any] = {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
        }
        if self.prefetch:
            entry["prefetch"] = dict(self.prefetch)
        if self.usage_requirements:
            entry["usageRequirements"] = self.usage_requirements
        return entry


class RegistryError(Exception):
    """A hooks/ file is unreadable or inconsistent; the service refuses to start."""


def load_services(hooks_dir: Path) -> dict[str, ServiceDefinition]:
    services: dict[str, ServiceDefinition] = {}
    files = sorted(hooks_dir.glob("*.json"))
    if not files:
        raise RegistryError(f"no service definitions in {hooks_dir}")
    for path in files:
        try:
            parsed = ServiceFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError) as exc:
            raise RegistryError(f"{path.name}: {exc}") from exc
        if parsed.id != path.stem:
            raise RegistryError(f"{path.name}: id {parsed.id!r} must match the file name")
        try:
            chosen = rules.resolve_rules(parsed.metadata.rules, parsed.hook)
        except LookupError as exc:
            raise RegistryError(f"{path.name}: metadata.rules: {exc.args[0]}") from exc
        services[parsed.id] = ServiceDefinition(
            id=parsed.id,
            hook=parsed.hook,
            title=parsed.title,
            description=parsed.description,
            prefetch={str(key): template for key, template in parsed.prefetch.items()},
            required_prefetch=frozenset(str(k) for k in parsed.metadata.requiredPrefetch),
            examples=parsed.metadata.examples,
            usage_requirements=parsed.usageRequirements,
            rules=chosen,
            source_file=path,
        )
    return services
