"""The line a search hit shows is the line of the first match, however the text reads.

``first_hit_line`` reads only from the first match on (a stretch of output
is up to 32,000 characters); these check it against the definition: the
first of ``marked_spans`` over the whole text, its line, a window of
SNIPPET_TOKENS tokens around it.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.index import terms
from auditor.index.terms import SNIPPET_TOKENS, Word, first_hit_line, highlight, parse_query


def defined_hit_line(text: str, words: list[Word]) -> str:
    spans = terms.marked_spans(text, words)
    if not spans:
        return ""
    start, end = spans[0]
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    toks = list(terms.tokens(line))
    if len(toks) <= SNIPPET_TOKENS:
        return highlight(line, words).strip()
    first = next(i for i, (_, s, _) in enumerate(toks) if s >= start - line_start)
    lo = max(0, min(first - 2, len(toks) - SNIPPET_TOKENS))
    hi = lo + SNIPPET_TOKENS - 1
    cut_end = toks[hi][2] if hi < len(toks) - 1 else len(line)
    window = line[toks[lo][1] if lo else 0 : cut_end]
    marked = highlight(window, words)
    return (("…" if lo else "") + marked + ("…" if cut_end < len(line) else "")).strip()


# Pieces that normalize in every way the tokenizer knows: case, accents,
# compatibility forms, a capital that lower-cases to two characters.
PIECES = [
    "error", "Error", "ERRORS", "err", "café", "CAFÉ", "cafe", "ﬁle", "file", "K", "İ",
    "ß", "日本", "x1", "a", "b", "ab", "_", "-", ".", "/", " ", " ", "\n", "\r\n", "●",
]  # fmt: skip
QUERIES = [
    "error", "err*", "cafe", "café", "file", "fi*", "k", "i", "ß", "日本", "x1", "a", "a*",
    "a-b", "a-a", "a-a-a", "b-a*", "error-error", "e*", "$", "a b", "cafe error",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=120).map("".join),
    st.lists(st.sampled_from(QUERIES), min_size=1, max_size=3).map(" ".join),
)
def test_the_hit_line_is_the_first_matchs_line(text: str, q: str) -> None:
    words = parse_query(q)
    assert first_hit_line(text, words) == defined_hit_line(text, words)


def test_a_match_deep_in_a_long_stretch_is_found_under_its_accents() -> None:
    filler = "".join(f"line {n} of ordinary output ● done\n" for n in range(1000))
    text = filler + "then CAFÉ au lait\n" + filler
    assert len(text) > 60_000
    assert first_hit_line(text, parse_query("cafe")) == "then «CAFÉ» au lait"
    assert first_hit_line(text, parse_query("lait 999")) == "line «999» of ordinary output ● done"
    assert first_hit_line(text, parse_query("nothing")) == ""


def test_a_phrase_across_a_line_end_shows_both_lines() -> None:
    text = "quick\nbrown fox\n"
    assert first_hit_line(text, parse_query("quick-brown")) == "«quick\nbrown» fox"
