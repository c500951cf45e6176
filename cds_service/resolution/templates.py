"""Prefetch template rendering (CDS Hooks 2.0 "Prefetch Template" and "Prefetch tokens").

A template is a relative FHIR read or search URL with `{{...}}` tokens. Tokens are the first-level
primitive context fields (`{{context.patientId}}`, `{{context.encounterId}}`,
`{{context.userId}}`) and the 2.0 user tokens (`{{userPractitionerId}}`,
`{{userPractitionerRoleId}}`, `{{userPatientId}}`, `{{userRelatedPersonId}}`), which are derived
from `context.userId` the way the reference sandbox does ("Practitioner/abc" gives
userPractitionerId=abc). A template with any token that cannot be resolved is not rendered at
all: a half-filled query would ask the server a different question (checklist section 3.2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from cds_service.frozen import fast_init

TOKEN = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
USER_TOKEN_TYPES = {
    "Practitioner": "userPractitionerId",
    "PractitionerRole": "userPractitionerRoleId",
    "Patient": "userPatientId",
    "RelatedPerson": "userRelatedPersonId",
}


@fast_init
@dataclass(frozen=True)
class RenderedTemplate:
    """A template with every token filled; `unresolved` names the tokens that were not."""

    url: str | None
    unresolved: tuple[str, ...] = ()

    @property
    def resource_type(self) -> str | None:
        return resource_type_of(self.url) if self.url else None


def token_values(context: Mapping[str, Any]) -> dict[str, str]:
    """Every token this context can fill: `context.<field>` for primitives, plus user tokens."""
    values: dict[str, str] = {}
    for name, value in context.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value):
            values[f"context.{name}"] = str(value)
    user_id = context.get("userId")
    if isinstance(user_id, str):
        user_type, _, user_fhir_id = user_id.partition("/")
        token = USER_TOKEN_TYPES.get(user_type)
        if token and user_fhir_id and "/" not in user_fhir_id:
            values[token] = user_fhir_id
    return values


@lru_cache(maxsize=256)
def _parts(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The template split once (templates are the services' constants): the literal text
    around the tokens, and the tokens' names; `literals` is one longer than `names`."""
    pieces = TOKEN.split(template)  # literal, name, literal, name, ..., literal
    return tuple(pieces[0::2]), tuple(pieces[1::2])


def render(template: str, values: Mapping[str, str]) -> RenderedTemplate:
    """Fill every token or none: an unresolvable token leaves `url` None."""
    literals, names = _parts(template)
    unresolved = tuple(name for name in names if name not in values)
    if unresolved:
        return RenderedTemplate(url=None, unresolved=unresolved)
    out = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        # A read of `{{context.userId}}` keeps its slash; ids elsewhere must not break the URL.
        out.append(quote(values[name], safe="/" if name == "context.userId" else ""))
        out.append(literal)
    return RenderedTemplate(url="".join(out))


def resource_type_of(url: str) -> str | None:
    """`Observation?code=..` and `Patient/1` name their type; a bare `?_id=` names none."""
    path = url.partition("?")[0].strip("/")
    first = path.split("/", 1)[0]
    return first if first[:1].isupper() and "{{" not in first else None


@lru_cache(maxsize=256)
def resource_type_of_template(template: str) -> str | None:
    """The type a template names before any token is filled (None when a token is its first
    segment); the same as the rendered URL's, since tokens fill only their own places."""
    return resource_type_of(template)


def is_read(url: str) -> bool:
    """`Type/id` is a read (answer: one resource); `Type?...` or `Type` is a search (a Bundle)."""
    return "/" in url.partition("?")[0].strip("/")
