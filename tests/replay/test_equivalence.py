"""The fast emulator draws exactly what stock pyte draws on the same input."""

from __future__ import annotations

import os
from typing import Any

import pyte
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from auditor.replay.emulator import Terminal, render_line
from auditor.replay.fastscreen import FastScreen, FastStream
from tests.replay.strategies import ansi_stream, chunked

COLS, ROWS = 23, 7  # small, so wrapping and scrolling happen often
# AUDITOR_EQUIVALENCE_EXAMPLES=20000 for a deeper run than CI's.
EXAMPLES = int(os.environ.get("AUDITOR_EQUIVALENCE_EXAMPLES", "300"))


def state(screen: pyte.Screen) -> dict[str, Any]:
    return {
        "display": [render_line(screen.buffer.get(y), screen.columns) for y in range(screen.lines)],
        "cells": [
            [
                screen.buffer[y][x] if y in screen.buffer else screen.default_char
                for x in range(COLS)
            ]
            for y in range(screen.lines)
        ],
        "buffer": {y: dict(line) for y, line in screen.buffer.items() if line},
        "cursor": (screen.cursor.x, screen.cursor.y, screen.cursor.hidden, screen.cursor.attrs),
        "mode": screen.mode,
        "margins": screen.margins,
        "charsets": (screen.charset, screen.g0_charset, screen.g1_charset),
        "title": (screen.title, screen.icon_name),
        "tabstops": screen.tabstops,
        "savepoints": [(s.cursor.x, s.cursor.y, s.cursor.attrs, s[1:]) for s in screen.savepoints],
        "size": (screen.columns, screen.lines),
    }


def watch_alternate(term: Terminal) -> list[int]:
    """The alternate-screen modes ``term`` switches to while it is fed."""
    entered: list[int] = []
    screen: Any = term.screen
    enter = screen._enter_alternate

    def spy(mode: int) -> None:
        entered.append(mode)
        enter(mode)

    screen._enter_alternate = spy
    return entered


def stock(chunks: list[bytes]) -> pyte.Screen:
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    for chunk in chunks:
        stream.feed(chunk)
    return screen


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=ansi_stream(), cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_terminal_matches_stock_pyte(data: bytes, cuts: list[int]) -> None:
    chunks = chunked(data, cuts)
    term = Terminal(COLS, ROWS)
    entered = watch_alternate(term)
    for chunk in chunks:
        term.feed(chunk)
    # Stock pyte has no alternate screen: where random text after a CSI spells
    # one (`CSI 47?h` parses as private mode 47), there is nothing to match.
    assume(not entered)
    expected = stock(chunks)
    assert state(term.screen) == state(expected)
    assert term.screen.dirty == expected.dirty


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=ansi_stream(with_column_mode=True), cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_fast_screen_matches_stock_pyte_with_column_mode(data: bytes, cuts: list[int]) -> None:
    chunks = chunked(data, cuts)
    screen = FastScreen(COLS, ROWS)
    stream = FastStream(screen)
    for chunk in chunks:
        stream.feed(chunk)
    assert state(screen) == state(stock(chunks))


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_match_where_stock_pyte_survives(data: bytes) -> None:
    """Arbitrary bytes: identical wherever stock pyte does not raise; where
    it raises, the fast stream carries on instead of aborting the replay."""
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    term = Terminal(COLS, ROWS)
    entered = watch_alternate(term)
    try:
        stream.feed(data)
    except (TypeError, ValueError, AssertionError, UnboundLocalError):
        term.feed(data)  # must not raise
        return
    term.feed(data)
    assume(not entered)  # stock pyte has no alternate screen to compare
    assert state(term.screen) == state(screen)
