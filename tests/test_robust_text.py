"""text_or_none (facts.robust): FHIR strings made safe for card markdown, whatever they hold.

The function skips the escaping pass when a string has no markdown or HTML punctuation; it must
give exactly what the plain definition gives (whitespace collapsed, cut at 200 characters, every
such character backslash-escaped) for any string.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.facts.robust import _MARKDOWN_CHARS, MAX_TEXT_CHARS, text_or_none


def _reference(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())[:MAX_TEXT_CHARS]
    return "".join("\\" + c if c in _MARKDOWN_CHARS else c for c in text) or None


MARKDOWNISH = st.text(alphabet=st.sampled_from(_MARKDOWN_CHARS + " \t\n\u00a0\u2028ab1é"))


@settings(max_examples=400, deadline=None)
@given(st.text() | MARKDOWNISH | st.text(min_size=190, max_size=260))
def test_any_string_reads_as_the_plain_definition_says(value: str) -> None:
    assert text_or_none(value) == _reference(value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Guillain-Barre syndrome", "Guillain-Barre syndrome"),
        ("  acute\n\tinflammatory  ", "acute inflammatory"),
        (
            "**bold** [link](javascript:x) <b>",
            "\\*\\*bold\\*\\* \\[link\\]\\(javascript:x\\) \\<b\\>",
        ),
        ("a_b & c|d ~e! #f +g `h` {i}", "a\\_b \\& c\\|d \\~e\\! \\#f \\+g \\`h\\` \\{i\\}"),
        ("back\\slash", "back\\\\slash"),
        ("   ", None),
        ("", None),
        (42, None),
        ({"text": "x"}, None),
        ("x" * 250, "x" * 200),
    ],
)
def test_known_strings(value: Any, expected: str | None) -> None:
    assert text_or_none(value) == expected
