"""first_term reads a text only against the terms whose first word it holds: the answer is the
plain definition's (the first term, longest first, found as whole words in any text)."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.facts.word_match import _contains, _longest_first, first_term, words
from cds_service.knowledge.procedures import PLEX_TEXT_TERMS
from cds_service.knowledge.rxnorm import (
    ANTIVIRAL_TEXT_TERMS,
    IVIG_GENERIC_TERMS,
    NOT_IVIG_WORDS,
    TEXT_TERMS,
)

TABLES: list[Iterable[str]] = [
    PLEX_TEXT_TERMS,
    ANTIVIRAL_TEXT_TERMS,
    IVIG_GENERIC_TERMS,
    NOT_IVIG_WORDS,
    *TEXT_TERMS.values(),
]
VOCABULARY = sorted({w for table in TABLES for term in table for w in words(term)})


def plain_first_term(texts: Iterable[str | None], terms: Iterable[str]) -> str | None:
    all_words = [words(t) for t in texts if t]
    for term, needle in _longest_first(tuple(terms)):
        if any(_contains(w, needle) for w in all_words):
            return term
    return None


# Texts made of the tables' own words (so terms of one, two and three words do occur, and
# overlap: "immune globulin" inside "hepatitis b immune globulin"), other words and punctuation.
word = st.one_of(st.sampled_from(VOCABULARY), st.sampled_from(["iv", "1", "g", "daily", "x"]))
text = st.lists(word, max_size=8).map(" ".join) | st.lists(word, max_size=4).map("-".join)
texts = st.lists(st.one_of(text, st.none(), st.just("")), max_size=4)


@settings(max_examples=400, deadline=None)
@given(texts=texts, table=st.sampled_from(range(len(TABLES))))
def test_first_term_is_the_plain_definition_for_every_knowledge_table(
    texts: list[str | None], table: int
) -> None:
    assert first_term(texts, TABLES[table]) == plain_first_term(texts, TABLES[table])


def test_every_term_of_every_table_is_found_in_its_own_words_and_longest_wins() -> None:
    for table in TABLES:
        for term in table:
            found = first_term([f"Solu {term.upper()} 1 g"], table)
            assert found == plain_first_term([f"Solu {term.upper()} 1 g"], table)
            assert found is not None and len(words(found)) >= len(words(term))
    assert first_term(["hepatitis B immune globulin"], IVIG_GENERIC_TERMS) == "immune globulin"
    assert first_term(["methylprednisolone"], ["prednisolone"]) is None  # whole words only
    assert first_term([], PLEX_TEXT_TERMS) is None and first_term([None, ""], ["x"]) is None
