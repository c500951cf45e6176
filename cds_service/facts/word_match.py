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


@lru_cache(maxsize=64)
def _by_first_word(
    terms: tuple[str, ...],
) -> dict[str, tuple[tuple[int, str, tuple[str, ...]], ...]]:
    """Each term's rank (longest first), the term and its words, under the term's first word: a
    text is checked only against the terms whose first word it holds, not against every term of
    the table (a medication's text is read against a dozen tables of up to 40 terms)."""
    found: dict[str, list[tuple[int, str, tuple[str, ...]]]] = {}
    for rank, (term, needle) in enumerate(_longest_first(terms)):
        if needle:  # a term with no words never matches
            found.setdefault(needle[0], []).append((rank, term, needle))
    return {word: tuple(candidates) for word, candidates in found.items()}


def first_term(texts: Iterable[str | None], terms: Iterable[str]) -> str | None:
    """The first of `terms` (longest first) found as whole words in any of `texts`."""
    return first_term_in(texts_words(texts), terms)


def texts_words(texts: Iterable[str | None]) -> list[tuple[str, ...]]:
    """Each text's words, for reading the same texts against several term tables."""
    return [words(t) for t in texts if t]


def first_term_in(all_words: list[tuple[str, ...]], terms: Iterable[str]) -> str | None:
    """`first_term` over texts already split into words (`texts_words`)."""
    if not all_words:
        return None
    index = _by_first_word(tuple(terms))
    best: tuple[int, str] | None = None
    for text_words in all_words:
        for word in text_words:
            for rank, term, needle in index.get(word, ()):
                if (best is None or rank < best[0]) and _contains(text_words, needle):
                    best = (rank, term)
    return None if best is None else best[1]
