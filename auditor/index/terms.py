"""The search syntax, engine-neutral: what users type, as words of tokens.

Users type words, not a query language: ``rm -rf /tmp`` must not be a
syntax error. Every whitespace-separated word is a phrase of its tokens
(``/etc/passwd`` is ``etc`` followed by ``passwd``), every word must match
in one stretch of output, and a trailing ``*`` makes the word's last token
a prefix. A word with no tokens (``$``) is ignored beside others and
matches nothing alone.

Tokens are what SQLite's ``unicode61`` tokenizer makes of text: runs of
letters and digits, lower-cased, accents removed. The PostgreSQL engine
builds its ``tsvector`` and ``tsquery`` from these tokens itself, so both
engines find the same sessions and mark the same words; SQLite's FTS5
path tokenizes inside the database the same way.
"""

from __future__ import annotations

import heapq
import itertools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from auditor.errors import UsageError

MARK_START = "«"
MARK_END = "»"
SNIPPET_TOKENS = 24  # what FTS5's snippet() shows around a match
MAX_TOKEN = 500  # longer tokens (a hex blob) are cut: PostgreSQL refuses lexemes over 2 KiB
MAX_POSITIONS = 256  # PostgreSQL keeps at most this many positions of one lexeme

_TOKEN = re.compile(r"[^\W_]+")
_NON_ASCII = re.compile(r"[^\W\x00-\x7f]")  # a letter or digit of a token, not ASCII


@dataclass(frozen=True)
class Word:
    tokens: tuple[str, ...]
    prefix: bool  # the last token is a prefix


def normalize(token: str) -> str:
    """A token as the index stores it: lower case, without accents."""
    if not token.isascii():
        token = "".join(
            c for c in unicodedata.normalize("NFKD", token) if not unicodedata.combining(c)
        )
    return token.lower()[:MAX_TOKEN]


def tokens(text: str, at: int = 0) -> Iterator[tuple[str, int, int]]:
    """``(token, start, end)`` for each token of ``text`` from ``at`` on, in order."""
    for m in _TOKEN.finditer(text, at):
        yield normalize(m.group()), m.start(), m.end()


def token_list(text: str) -> list[str]:
    """``tokens``' tokens without their places, for indexing a whole stretch of
    output: ASCII text is lower-cased and split in one go."""
    if text.isascii():
        return [t[:MAX_TOKEN] for t in _TOKEN.findall(text.lower())]
    return [normalize(t) for t in _TOKEN.findall(text)]


def parse_query(q: str) -> list[Word]:
    """The words of a query; a ``UsageError`` for one with no words at all."""
    words = []
    for raw in q.split():
        prefix = raw.endswith("*") and raw.strip("*") != ""
        body = raw.rstrip("*") if prefix else raw
        words.append(Word(tuple(t for t, _, _ in tokens(body)), prefix))
    if not words:
        raise UsageError("--search: expected at least one word")
    return words


def searchable(words: list[Word]) -> list[Word]:
    """The words that can match anything: those with tokens."""
    return [w for w in words if w.tokens]


def _matches(word: Word, token: str, at: int) -> bool:
    want = word.tokens[at]
    last = at == len(word.tokens) - 1
    return token.startswith(want) if (last and word.prefix) else token == want


def marked_spans(text: str, words: list[Word]) -> list[tuple[int, int]]:
    """Character spans of every match of every word in ``text``, merged, in order."""
    toks = list(tokens(text))
    spans: list[tuple[int, int]] = []
    for word in searchable(words):
        n = len(word.tokens)
        for i in range(len(toks) - n + 1):
            if all(_matches(word, toks[i + k][0], k) for k in range(n)):
                spans.append((toks[i][1], toks[i + n - 1][2]))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, words: list[Word]) -> str:
    """``text`` with every match between ``«`` and ``»``, as FTS5's highlight() gives it."""
    out, at = [], 0
    for start, end in marked_spans(text, words):
        out += [text[at:start], MARK_START, text[start:end], MARK_END]
        at = end
    out.append(text[at:])
    return "".join(out)


def hit_lines(text: str, words: list[Word]) -> list[tuple[int, str]]:
    """Each line of ``text`` that holds a match, marked and stripped, with where its
    first match starts in ``text`` (``auditor.index.linetimes`` turns that into a
    time). A match across a line end (a phrase's words on two lines) joins them."""
    spans = marked_spans(text, words)
    hits: list[tuple[int, str]] = []
    i = 0
    while i < len(spans):
        start = text.rfind("\n", 0, spans[i][0]) + 1
        end, j = start, i
        while j < len(spans) and (j == i or spans[j][0] < end):
            after = text.find("\n", spans[j][1])
            end = max(end, after if after >= 0 else len(text))
            j += 1
        line, at = [], start
        for s, e in spans[i:j]:
            line += [text[at:s], MARK_START, text[s:e], MARK_END]
            at = e
        line.append(text[at:end])
        hits.append((spans[i][0], "".join(line).strip()))
        i = j
    return hits


def first_hit_line(text: str, words: list[Word]) -> str:
    """``first_hit``'s line, or "" where nothing matches."""
    hit = first_hit(text, words)
    return hit[1] if hit is not None else ""


def first_hit(text: str, words: list[Word]) -> tuple[int, str] | None:
    """Where the first match starts, and its line, at most about SNIPPET_TOKENS
    tokens of it, as the CLI and the TUI show a search hit.

    A stretch of output is up to 32,000 characters: tokenizing all of it for
    one line cost milliseconds a hit. Only the tokens from the first match on
    are read (``_first_span``), and then the line itself.
    """
    span = _first_span(text, searchable(words))
    if span is None:
        return None
    start, end = span
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    toks = [m.span() for m in _TOKEN.finditer(line)]
    if len(toks) > SNIPPET_TOKENS:
        first = next(i for i, (s, _) in enumerate(toks) if s >= start - line_start)
        lo = max(0, min(first - 2, len(toks) - SNIPPET_TOKENS))
        hi = lo + SNIPPET_TOKENS - 1
        cut_start = toks[lo][0] if lo else 0
        cut_end = toks[hi][1] if hi < len(toks) - 1 else len(line)
        window = line[cut_start:cut_end]
        marked = highlight(window, words)
        return start, (("…" if lo else "") + marked + ("…" if cut_end < len(line) else "")).strip()
    return start, highlight(line, words).strip()


def _first_span(text: str, words: list[Word]) -> tuple[int, int] | None:
    """``marked_spans(text, words)[0]``, reading tokens from the first match on only:
    the spans that overlap it, one after another, merged into it."""
    at = _first_match(text, words) if words else None
    if at is None:
        return None
    longest = max(len(w.tokens) for w in words)
    stream = tokens(text, at)
    toks: list[tuple[str, int, int]] = []
    span: tuple[int, int] | None = None
    i = 0
    while True:
        while len(toks) < i + longest and (tok := next(stream, None)) is not None:
            toks.append(tok)
        if i >= len(toks) or (span is not None and toks[i][1] >= span[1]):
            return span  # no later match starts inside the span
        for word in words:
            n = len(word.tokens)
            if i + n <= len(toks) and all(_matches(word, toks[i + k][0], k) for k in range(n)):
                end = toks[i + n - 1][2]
                span = (toks[i][1], end) if span is None else (span[0], max(span[1], end))
        i += 1


def _first_match(text: str, words: list[Word]) -> int | None:
    """Where the first match of any word starts: each candidate token start, in
    order, confirmed on its tokens."""
    longest = max(len(w.tokens) for w in words)
    for at in _candidates(text, words):
        toks = list(itertools.islice(tokens(text, at), longest))
        for word in words:
            n = len(word.tokens)
            if n <= len(toks) and all(_matches(word, toks[k][0], k) for k in range(n)):
                return at
    return None


def _candidates(text: str, words: list[Word]) -> Iterator[int]:
    """Token starts, in order, where a match may start: every one of them.

    An ASCII token normalizes to itself in lower case, so where one may
    match, the lower-cased text holds the word's first token (``str.find``,
    no tokenizing). A token with a non-ASCII letter may normalize to anything
    (accents removed, compatibility forms folded): each is a candidate.
    """
    folded = text.lower()
    if len(folded) != len(text):  # "İ" lower-cases to two characters: no shortcut
        yield from (m.start() for m in _TOKEN.finditer(text))
        return
    # A first token that must be a whole token (not a prefix) is looked for as
    # one: ``1`` in a log is in many longer tokens, each a candidate otherwise.
    whole: dict[str, bool] = {}
    for w in words:
        if w.tokens[0].isascii():
            prefix = (w.prefix and len(w.tokens) == 1) or len(w.tokens[0]) >= MAX_TOKEN
            whole[w.tokens[0]] = whole.get(w.tokens[0], True) and not prefix
    streams = [_found(folded, t, full) for t, full in whole.items()]
    if not text.isascii():
        streams.append(_token_start(text, m.start()) for m in _NON_ASCII.finditer(text))
    last = -1
    for at in heapq.merge(*streams):
        if at != last and (at == 0 or not _TOKEN.match(text, at - 1)):
            yield at
        last = at


def _found(folded: str, token: str, whole: bool) -> Iterator[int]:
    if not whole:
        at = folded.find(token)
        while at >= 0:
            yield at
            at = folded.find(token, at + 1)
        return
    for m in re.finditer(re.escape(token) + r"(?![^\W_])", folded):
        yield m.start()


def _token_start(text: str, at: int) -> int:
    while at > 0 and _TOKEN.match(text, at - 1):
        at -= 1
    return at
