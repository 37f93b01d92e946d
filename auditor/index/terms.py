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


def tokens(text: str) -> Iterator[tuple[str, int, int]]:
    """``(token, start, end)`` for each token of ``text``, in order."""
    for m in _TOKEN.finditer(text):
        yield normalize(m.group()), m.start(), m.end()


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


def hit_lines(text: str, words: list[Word]) -> list[str]:
    """Each line of ``text`` that holds a match, marked and stripped."""
    return [line.strip() for line in highlight(text, words).splitlines() if MARK_START in line]


def first_hit_line(text: str, words: list[Word]) -> str:
    """The line of the first match, at most about SNIPPET_TOKENS tokens of it, as the
    CLI and the TUI show a search hit."""
    spans = marked_spans(text, words)
    if not spans:
        return ""
    start, end = spans[0]
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    toks = list(tokens(line))
    if len(toks) > SNIPPET_TOKENS:
        first = next(i for i, (_, s, _) in enumerate(toks) if s >= start - line_start)
        lo = max(0, min(first - 2, len(toks) - SNIPPET_TOKENS))
        hi = lo + SNIPPET_TOKENS - 1
        cut_start = toks[lo][1] if lo else 0
        cut_end = toks[hi][2] if hi < len(toks) - 1 else len(line)
        window = line[cut_start:cut_end]
        marked = highlight(window, words)
        return (("…" if lo else "") + marked + ("…" if cut_end < len(line) else "")).strip()
    return highlight(line, words).strip()
