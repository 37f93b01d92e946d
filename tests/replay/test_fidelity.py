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
