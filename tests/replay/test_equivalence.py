"""The fast emulator draws exactly what stock pyte draws on the same input,
wherever stock pyte draws what a terminal draws.

Where it does not (tests/replay/strategies.py lists those sequences), the
replay follows tmux and xterm instead; tests/replay/test_fidelity.py checks
it against tmux there.
"""

from __future__ import annotations

import os
from typing import Any

import pyte
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyte.screens import wcwidth

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
        # Not G1: stock pyte's is line drawing, a terminal's (and the
        # replay's) is ASCII; it only shows after SO, which stock pyte
        # ignores in UTF-8 and the streams here leave out.
        "charsets": (screen.charset, screen.g0_charset),
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
def test_random_bytes_never_stop_the_replay(data: bytes) -> None:
    """Where stock pyte raises on malformed input, the replay carries on."""
    term = Terminal(COLS, ROWS)
    term.feed(data)
    term.feed(b"\x1b\\\x18\x1b[H\x1b[2Jafter")  # end any string, sequence; draw
    assert term.lines[0].startswith("after")


# Bytes stock pyte decodes and draws as a terminal does: no escape
# sequences (the replay parses those as DEC's parser does: see
# tests/replay/strategies.py), no shifts, no control characters it skips.
_DIFFERENT = bytes([0x1B, 0x0E, 0x0F, *range(0x01, 0x07), *range(0x10, 0x20)])


def drawn_alike(text: str) -> bool:
    """No character that stock pyte draws otherwise than a terminal: wide,
    zero-width or combining ones, C1 controls."""
    return all(c in "\x00\x07\x08\t\n\x0b\x0c\r\x7f" or wcwidth(c) == 1 for c in text)


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.binary(max_size=300).map(lambda b: b.translate(None, delete=_DIFFERENT)))
def test_random_text_matches_stock_pyte(data: bytes) -> None:
    assume(drawn_alike(data.decode("utf-8", "replace")))
    screen = pyte.Screen(COLS, ROWS)
    pyte.ByteStream(screen).feed(data)
    term = Terminal(COLS, ROWS)
    term.feed(data)
    assert state(term.screen) == state(screen)
