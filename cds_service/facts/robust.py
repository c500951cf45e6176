"""Reading one resource at a time, so one malformed resource never costs the patient's cards.

FHIR data from an EHR can be malformed in ways the resolution layer cannot see (a `coding` that
is a string, a numeric `status`, a list where an object belongs). Each fact builder reads its
resources through `read_each`: a resource that cannot be read is skipped, its reference is
collected, and the cards say "1 Observation could not be read" instead of the call failing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
# What malformed JSON raises when read as FHIR: a wrong type, a missing member, a bad value.
READ_ERRORS = (AttributeError, TypeError, KeyError, ValueError, IndexError)


def name_of(resource: Any) -> str:
    """'Observation/abc' when the resource says so, else a plain description."""
    if isinstance(resource, dict):
        kind, ident = resource.get("resourceType"), resource.get("id")
        kind = kind if isinstance(kind, str) and kind else "resource"
        return f"{kind}/{ident}" if isinstance(ident, str) and ident else kind
    return "resource"


def read_each(
    resources: Iterable[Any],
    read: Callable[[dict[str, Any]], T],
    unreadable: list[str] | None = None,
) -> Iterator[T]:
    """`read(resource)` for each resource; one that is not an object or cannot be read is
    skipped and named in `unreadable`."""
    for resource in resources:
        if not isinstance(resource, dict):
            if unreadable is not None:
                unreadable.append(name_of(resource))
            continue
        try:
            result = read(resource)
        except READ_ERRORS:
            if unreadable is not None:
                unreadable.append(name_of(resource))
            continue
        yield result


# Markdown and HTML punctuation a FHIR string could use to restyle or inject into a card (a
# heading, a link, raw HTML): each is backslash-escaped, which renders as the character itself.
_MARKDOWN_CHARS = "\\`*_{}[]()#+!|<>~&"
_ESCAPE = str.maketrans({c: "\\" + c for c in _MARKDOWN_CHARS})  # one C pass, no regex
# Whether a string holds any of them: a C scan, cheaper than translating text with none (most).
_HAS_MARKDOWN = re.compile("[" + re.escape(_MARKDOWN_CHARS) + "]")
MAX_TEXT_CHARS = 200
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR R4 id


def text_or_none(value: Any) -> str | None:
    """A string from FHIR data made safe for card markdown, or None: never a repr of a dict or
    list, never markdown or HTML of its own (escaped), one line, at most 200 characters."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())[:MAX_TEXT_CHARS]
    if _HAS_MARKDOWN.search(text) is not None:
        text = text.translate(_ESCAPE)
    return text or None


def ident(resource: dict[str, Any]) -> str:
    """The resource's id when it is a string, else '?' (never a repr)."""
    value = resource.get("id")
    return value if isinstance(value, str) and _FHIR_ID.fullmatch(value) else "?"
