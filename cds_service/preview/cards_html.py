"""A CDS Hooks response drawn as an EHR draws it (the CDS Hooks sandbox's layout): one box per
card with its indicator colour, the summary, the detail markdown, the source (linked when it has a
URL), a button per suggestion, and a dismiss control with the card's override reasons.

Markdown is rendered with markdown-it-py (CommonMark plus GFM tables and strikethrough) with raw
HTML off, so `<script>` in a detail stays text; markdown-it refuses `javascript:`/`data:` link
targets, and every other value goes through Jinja's autoescaping. Only http(s) URLs become links.
Error envelopes and unknown shapes are shown as such, never as an empty card list.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import render_template
from markdown_it import MarkdownIt
from markupsafe import Markup

INDICATORS = ("critical", "warning", "info")
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_MARKDOWN.enable(["table", "strikethrough"])


def markdown_html(text: str) -> Markup:
    """Card markdown as HTML; raw HTML in the text is escaped, not passed through."""
    return Markup(_MARKDOWN.render(text))  # noqa: S704  # html=False: markdown-it escapes input


def safe_url(value: Any) -> str | None:
    """`value` if it is an absolute http(s) URL, else None (never a javascript: link)."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def _card_view(card: dict[str, Any]) -> dict[str, Any]:
    raw_source = card.get("source")
    source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
    indicator = card.get("indicator") if card.get("indicator") in INDICATORS else "info"
    suggestions = [s for s in card.get("suggestions") or [] if isinstance(s, dict)]
    reasons = [r for r in card.get("overrideReasons") or [] if isinstance(r, dict)]
    links = [
        {"label": link.get("label", ""), "url": safe_url(link.get("url"))}
        for link in card.get("links") or []
        if isinstance(link, dict)
    ]
    detail = card.get("detail")
    return {
        "uuid": str(card.get("uuid", "")),
        "indicator": indicator,
        "summary": str(card.get("summary", "")),
        "detail": markdown_html(detail) if isinstance(detail, str) and detail else None,
        "source_label": str(source.get("label", "")),
        "source_url": safe_url(source.get("url")),
        "source_icon": safe_url(source.get("icon")),
        "suggestions": [
            {
                "uuid": str(s.get("uuid", "")),
                "label": str(s.get("label", "")),
                "recommended": bool(s.get("isRecommended")),
                "actions": [
                    f"{a.get('type', '')}: {a.get('description', '')}"
                    for a in s.get("actions") or []
                    if isinstance(a, dict)
                ],
            }
            for s in suggestions
        ],
        "selection_behavior": card.get("selectionBehavior"),
        "override_reasons": [
            {
                "code": str(r.get("code", "")),
                "system": str(r.get("system", "")),
                "display": str(r.get("display", r.get("code", ""))),
            }
            for r in reasons
        ],
        "links": [link for link in links if link["url"]],
    }


def render_response(status: int, answer: Any) -> str:
    """The HTML fragment for one hook answer: its cards, no cards, or its error."""
    if status != 200 or not isinstance(answer, dict) or not isinstance(answer.get("cards"), list):
        error = answer if isinstance(answer, dict) else {}
        return render_template(
            "preview/error.html",
            status=status,
            code=str(error.get("error", "")),
            message=str(error.get("message", "the answer is not a CDS Hooks response")),
            details=[str(d) for d in error.get("details", []) if d is not None],
        )
    cards = [_card_view(c) for c in answer["cards"] if isinstance(c, dict)]
    actions = [
        f"{a.get('type', '')}: {a.get('description', '')}"
        for a in answer.get("systemActions") or []
        if isinstance(a, dict)
    ]
    return render_template("preview/cards.html", cards=cards, system_actions=actions)
