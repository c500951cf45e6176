"""Whole-word matching of drug and procedure names in free text (the documented text fallback).

Text is lower-cased and split into words at every character that is not a letter or digit, so
"Solu-Medrol 1 g IV" is the words (solu, medrol, 1, g, iv). A term matches only as a complete run of
whole words: "prednisolone" never matches inside "methylprednisolone", "plex" never inside
"plexopathy", and "solu-medrol" matches "Solu-Medrol" and "SOLU MEDROL" but not "solumedrolx".
There is no stemming, no fuzzy or partial matching, and no abbreviation expansion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str | None) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower())) if text else ()


def contains_term(text_words: tuple[str, ...], term: str) -> bool:
    """True when every word of `term` appears, in order and adjacent, among `text_words`."""
    needle = words(term)
    if not needle or len(needle) > len(text_words):
        return False
    width = len(needle)
    return any(text_words[i : i + width] == needle for i in range(len(text_words) - width + 1))


def first_term(texts: Iterable[str | None], terms: Iterable[str]) -> str | None:
    """The first of `terms` (longest first) found as whole words in any of `texts`."""
    all_words = [words(t) for t in texts if t]
    for term in sorted(terms, key=lambda t: (-len(words(t)), t)):
        if any(contains_term(w, term) for w in all_words):
            return term
    return None
