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
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str | None) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower())) if text else ()


def contains_term(text_words: tuple[str, ...], term: str) -> bool:
    """True when every word of `term` appears, in order and adjacent, among `text_words`."""
    return _contains(text_words, words(term))


def _contains(text_words: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    if not needle or len(needle) > len(text_words):
        return False
    width = len(needle)
    if width == 1:
        return needle[0] in text_words
    return any(text_words[i : i + width] == needle for i in range(len(text_words) - width + 1))


@lru_cache(maxsize=64)
def _longest_first(terms: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The terms with their words, longest first (then alphabetical): computed once per term
    list (the lists are the knowledge tables' constants), not on every resource read."""
    return tuple((t, words(t)) for t in sorted(terms, key=lambda t: (-len(words(t)), t)))


def first_term(texts: Iterable[str | None], terms: Iterable[str]) -> str | None:
    """The first of `terms` (longest first) found as whole words in any of `texts`."""
    all_words = [words(t) for t in texts if t]
    if not all_words:
        return None
    for term, needle in _longest_first(tuple(terms)):
        if any(_contains(w, needle) for w in all_words):
            return term
    return None
