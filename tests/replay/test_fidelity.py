"""The replay shows what a real terminal showed.

Judges: pyte's captured screens of real programs, and tmux fed the same
bytes (real programs recorded under a pty here, and generated escape
sequence streams). Screens are compared line by line as text, trailing
blanks stripped and accents composed (tmux keeps ``e`` + U+0301 in a cell,
the replay composes it to ``é``: the same glyph).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.replay.emulator import Terminal
from tests.harness.programs import Output, record_programs
from tests.harness.reference_terminal import ReferenceTerminal
from tests.replay.strategies import chunked, terminal_stream

CORPUS = Path(__file__).parents[1] / "corpus" / "pyte-captured"
CORPUS_CASES = ["cat-gpl3", "find-etc", "htop", "ls", "mc", "top", "vi"]
COLS, ROWS = 23, 7  # small, so wrapping and scrolling happen often


def shown(lines: list[str]) -> list[str]:
    return [unicodedata.normalize("NFC", line).rstrip() for line in lines]


def captured(term: Terminal) -> list[str]:
    """The screen as ``capture-pane`` writes one: each cell's text, the
    right halves of wide characters left out. (``Terminal.lines`` is the
    same but for a right half whose wide character is gone: the screen
    shows a blank there, which tmux's capture leaves out.)"""
    return shown(["".join(cell.data for cell in term.row(y)) for y in range(term.rows)])


def replayed(data: bytes, cols: int, rows: int, chunks: list[bytes] | None = None) -> list[str]:
    term = Terminal(cols, rows)
    for chunk in chunks if chunks is not None else [data]:
        term.feed(chunk)
    return captured(term)


@pytest.fixture(scope="module")
def tmux() -> Iterator[ReferenceTerminal]:
    with ReferenceTerminal() as reference:
        yield reference


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Output]:
    return record_programs(tmp_path_factory.mktemp("programs"))


@pytest.mark.parametrize("name", CORPUS_CASES)
def test_pyte_captured_programs_look_as_captured(name: str) -> None:
    data = (CORPUS / f"{name}.input").read_bytes()
    expected = json.loads((CORPUS / f"{name}.output").read_text())
    term = Terminal(80, 24)
    term.feed(data)
    assert term.lines == expected


@pytest.mark.parametrize("name", CORPUS_CASES)
def test_pyte_captured_programs_look_as_in_tmux(name: str, tmux: ReferenceTerminal) -> None:
    data = (CORPUS / f"{name}.input").read_bytes()
    assert replayed(data, 80, 24) == shown(tmux.screen(data, 80, 24))


PROGRAMS = [
    "ls-color",
    "vi-open",
    "vi-end",
    "vi-quit",
    "less-open",
    "less-page",
    "less-quit",
    "man-page",
    "top-batch",
    "top-running",
    "top-quit",
    "shell-long-line",
]


def test_every_recorded_program_is_compared(programs: dict[str, Output]) -> None:
    assert sorted(programs) == sorted(PROGRAMS)


@pytest.mark.parametrize("name", PROGRAMS)
def test_real_programs_look_as_in_tmux(
    name: str, programs: dict[str, Output], tmux: ReferenceTerminal
) -> None:
    out = programs[name]
    assert replayed(out.data, out.cols, out.rows) == shown(
        tmux.screen(out.data, out.cols, out.rows)
    )


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=terminal_stream(), cuts=st.lists(st.integers(0, 10_000), max_size=4))
def test_generated_output_looks_as_in_tmux(
    data: bytes, cuts: list[int], tmux: ReferenceTerminal
) -> None:
    # Fed to the replay in pieces, as a recording stores it, and whole to tmux.
    assert replayed(data, COLS, ROWS, chunked(data, cuts)) == shown(tmux.screen(data, COLS, ROWS))


# DECCOLM (``CSI ?3h`` 132 columns, ``CSI ?3l`` 80): tmux keeps its width, as a
# user's window does, clears the screen and homes the cursor (inside the
# margins in origin mode); margins and origin mode stay.
COLUMN_MODE = {
    "set": b"line1\r\nline2\x1b[3;5Habc\x1b[?3hX",
    "reset": b"line1\r\nline2\x1b[3;5Habc\x1b[?3lX",
    "text-after-keeps-the-width": b"\x1b[?3h" + b"0123456789" * 4,
    "margins-stay": b"\x1b[2;4r\x1b[?3h\x1b[4;1HA\nB\nC\nD",
    "margins-stay-scrolling": (
        b"line1\r\nline2\r\n\x1b[2;4r\x1b[3;5Habc\x1b[?3hX\x1b[4;1HY\r\nZ\r\nW\r\nV"
    ),
    "home-in-origin-mode": b"line1\r\n\x1b[2;4r\x1b[?6h\x1b[?3hX\x1b[1;1HY\x1b[9;1HZ",
    "set-set-reset": b"abc\x1b[?3h\x1b[?3hdef\x1b[?3lghi" + b"-" * 30,
    "saved-cursor-stays": b"\x1b[3;3H\x1b7\x1b[?3h\x1b8X",
    "on-the-alternate-screen": b"main\x1b[?1049halt\x1b[?3hX\x1b[?1049lback",
    "with-other-modes": b"abc\x1b[?3;25hX" + b"=" * 30,
}


@pytest.mark.parametrize("name", COLUMN_MODE)
def test_column_mode_keeps_the_width_and_clears_as_tmux_does(
    name: str, tmux: ReferenceTerminal
) -> None:
    data = COLUMN_MODE[name]
    term = Terminal(COLS, ROWS)
    term.feed(data)
    assert (term.screen.columns, term.screen.lines) == (COLS, ROWS)
    assert captured(term) == shown(tmux.screen(data, COLS, ROWS))


# DECSCA-protected characters survive DECSED and DECSEL. tmux implements no
# selective erase (it leaves every cell), so against it the screens hold
# protected characters only; that the unprotected ones go, as in xterm, is
# tests/replay/test_fidelity_sequences.py's.
PROTECTED = {
    "display": b'\x1b[1"qPROT\r\nmore\x1b[H\x1b[?2J',
    "display-below": b'\x1b[1"qabove\r\nPROT\r\nbelow\x1b[2;2H\x1b[?J',
    "display-above": b'\x1b[1"qabove\r\nPROT\r\nbelow\x1b[2;2H\x1b[?1J',
    "line": b'\x1b[1"qPROT\x1b[H\x1b[?2K',
    "line-from-cursor": b'\x1b[1"qPROTECTED\x1b[1;3H\x1b[?K',
    "line-to-cursor": b'\x1b[1"qPROTECTED\x1b[1;5H\x1b[?1K',
    "after-sgr-reset": b'\x1b[1"q\x1b[1;31mPR\x1b[mOT\x1b[H\x1b[?2J',
    "wide": '\x1b[1"q日本語\x1b[1;2H\x1b[?K\x1b[?2J'.encode(),
    "scrolled-and-inserted": b'\x1b[1"qPROT\x1b[H\x1b[L\x1b[2@\x1b[?2J',
    "saved-and-restored": b'\x1b[1"q\x1b7\x1b[0"q\x1b8PROT\x1b[?2J',
}


@pytest.mark.parametrize("name", PROTECTED)
def test_protected_characters_survive_selective_erase_as_in_tmux(
    name: str, tmux: ReferenceTerminal
) -> None:
    data = PROTECTED[name]
    term = Terminal(COLS, ROWS)
    term.feed(data)
    assert any(line.strip() for line in captured(term))
    assert captured(term) == shown(tmux.screen(data, COLS, ROWS))
