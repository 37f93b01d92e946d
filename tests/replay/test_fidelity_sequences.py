"""Sequences stock pyte gets wrong, replayed as xterm and tmux show them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.replay.emulator import Terminal
from auditor.replay.snapshot import restore_snapshot, take_snapshot
from tests.replay.strategies import chunked


def fed(data: bytes, cols: int = 20, rows: int = 6) -> Terminal:
    term = Terminal(cols, rows)
    term.feed(data)
    return term


def rows(term: Terminal) -> list[str]:
    return [line.rstrip() for line in term.lines]


# --- SGR with colon sub-parameters -------------------------------------------


def test_curly_underline_underlines_and_prints_no_parameters() -> None:
    term = fed(b"\x1b[4:3mcurly\x1b[4:0m plain")
    assert rows(term)[0] == "curly plain"
    assert term.cell(0, 0).underscore
    assert not term.cell(6, 0).underscore


def test_colon_true_colour_mixed_with_ordinary_parameters() -> None:
    term = fed(b"\x1b[1;38:2::255:0:255;4mTEST\x1b[m")
    assert rows(term)[0] == "TEST"
    cell = term.cell(0, 0)
    assert (cell.bold, cell.underscore, cell.fg) == (True, True, "ff00ff")


@pytest.mark.parametrize(
    ("colon", "semicolon"),
    [
        (b"38:2::1:2:3", b"38;2;1;2;3"),
        (b"38:2:1:2:3", b"38;2;1;2;3"),
        (b"48:2::10:20:30", b"48;2;10;20;30"),
        (b"38:5:196", b"38;5;196"),
        (b"48:5:4", b"48;5;4"),
        (b"1;4:1;38:5:2", b"1;4;38;5;2"),
    ],
)
def test_colon_colours_apply_like_the_semicolon_form(colon: bytes, semicolon: bytes) -> None:
    a = fed(b"\x1b[" + colon + b"mx")
    b = fed(b"\x1b[" + semicolon + b"mx")
    assert a.row(0) == b.row(0)
    assert rows(a)[0] == "x"


@pytest.mark.parametrize(
    "underline_colour", [b"58:5:196", b"58:2::1:2:3", b"58;5;196", b"58;2;1;2;3", b"59"]
)
def test_underline_colour_is_parsed_and_dropped(underline_colour: bytes) -> None:
    term = fed(b"\x1b[1m\x1b[" + underline_colour + b"mx")
    assert rows(term)[0] == "x"
    assert term.cell(0, 0).bold and not term.cell(0, 0).blink


@pytest.mark.parametrize("unknown", [b"\x1b[1:2H", b"\x1b[3:4:5J", b"\x1b[?1:2h", b"\x1b[9:9Z"])
def test_a_csi_with_colons_nothing_implements_is_consumed(unknown: bytes) -> None:
    assert rows(fed(b"a" + unknown + b"b"))[0] == "ab"


def test_colon_sgr_cut_anywhere_across_feeds() -> None:
    data = b"\x1b[1;38:2::255:0:255;4mTEST\x1b[58:5:196mX"
    whole = fed(data)
    for cut in range(len(data) + 1):
        split = Terminal(20, 6)
        split.feed(data[:cut])
        split.feed(data[cut:])
        assert split.row(0) == whole.row(0), cut


# --- Sequences a terminal consumes whole --------------------------------------


@pytest.mark.parametrize(
    "sequence",
    [
        b"\x1b[>4;2m",  # modifyOtherKeys, not SGR 4
        b"\x1b[?5A",  # not cursor up
        b"\x1b[?1;2r",  # not margins
        b"\x1b[2 q",  # cursor style
        b"\x1b[0%m",
        b"\x1bPzz\x1b\\",  # DCS
        b"\x1b_kitty graphics\x1b\\",  # APC
        b"\x1b^pm\x1b\\",
        b"\x1bXsos\x1b\\",
        b"\x1bkwindow name\x1b\\",
    ],
)
def test_sequences_a_terminal_consumes_print_nothing(sequence: bytes) -> None:
    term = fed(b"\x1b[2;2Hab" + sequence + b"cd")
    assert rows(term)[1] == " abcd"
    assert not term.cell(1, 1).underscore


def test_a_large_dcs_in_recording_sized_chunks_is_dropped() -> None:
    term = Terminal(20, 3)
    data = b"before\x1bPq" + b"#0;2;0;0;0#0~~@@vv@@~~$-" * 40_000 + b"\x1b\\after"
    for start in range(0, len(data), 4096):
        term.feed(data[start : start + 4096])
    assert rows(term)[0] == "beforeafter"
    assert term.stream.at_rest


# --- SU and SD ---------------------------------------------------------------

SIX = b"1\r\n2\r\n3\r\n4\r\n5\r\n6"


def test_scroll_up_moves_the_region_and_not_the_cursor() -> None:
    term = fed(SIX + b"\x1b[2;5r\x1b[3;4H\x1b[S", cols=5)
    assert rows(term) == ["1", "3", "4", "5", "", "6"]
    assert term.cursor[:2] == (3, 2)


def test_scroll_down_brings_blank_lines_in_at_the_top_of_the_region() -> None:
    term = fed(SIX + b"\x1b[2;5r\x1b[2T", cols=5)
    assert rows(term) == ["1", "", "", "2", "3", "6"]


def test_scroll_up_without_margins_feeds_the_scrollback() -> None:
    term = fed(SIX + b"\x1b[2S", cols=5)
    assert rows(term) == ["3", "4", "5", "6", "", ""]
    assert term.scrollback == ["1", "2"]


# --- Selective erase ---------------------------------------------------------


def test_selective_erase_in_display_keeps_protected_characters() -> None:
    term = fed(b'abc\x1b[1"qPROT\x1b[0"qdef\r\nxyz\x1b[?2J')
    assert rows(term) == ["   PROT", "", "", "", "", ""]


def test_selective_erase_in_line_from_the_cursor() -> None:
    term = fed(b'ab\x1b[1"qCD\x1b[2"qef\x1b[1;2H\x1b[?K')
    assert rows(term)[0] == "a CD"


def test_ordinary_erase_removes_protected_characters_too() -> None:
    assert rows(fed(b'\x1b[1"qPROT\x1b[2J'))[0] == ""
    assert rows(fed(b'\x1b[1"qPROT\r\x1b[K'))[0] == ""


def test_protection_moves_with_the_characters() -> None:
    term = fed(b'\x1b[1"qP\x1b[0"qx\x1b[1;1H\x1b[2@\x1b[?2K')
    assert rows(term)[0] == "  P"


# --- DECSC and DECRC ---------------------------------------------------------


@pytest.mark.parametrize(("save", "restore"), [(b"\x1b7", b"\x1b8"), (b"\x1b[s", b"\x1b[u")])
def test_restore_brings_back_the_charsets(save: bytes, restore: bytes) -> None:
    # G0 is line drawing when saved; ASCII after; restored.
    term = fed(b"\x1b(0" + save + b"\x1b(Bqq" + restore + b"qq")
    assert rows(term)[0] == "──"
    # G1 shifted in when saved.
    term = fed(b"\x1b)0\x0e" + save + b"\x0fx" + restore + b"q")
    assert rows(term)[0] == "─"


@pytest.mark.parametrize(("save", "restore"), [(b"\x1b7", b"\x1b8"), (b"\x1b[s", b"\x1b[u")])
def test_restore_brings_back_origin_mode_on_and_off(save: bytes, restore: bytes) -> None:
    on = fed(b"\x1b[2;5r\x1b[?6h" + save + b"\x1b[?6l" + restore + b"\x1b[HX")
    assert rows(on)[1] == "X"
    off = fed(b"\x1b[2;5r" + save + b"\x1b[?6h" + restore + b"\x1b[HX")
    assert rows(off)[0] == "X"


def test_restore_twice_returns_to_the_same_place() -> None:
    term = fed(b"\x1b[2;2H\x1b7\x1b[4;4H\x1b8A\x1b[5;5H\x1b8B")
    assert rows(term)[1] == " B"


def test_restore_leaves_autowrap_as_it_is() -> None:
    term = fed(b"\x1b7\x1b[?7l\x1b8\x1b[1;18Habcdef", cols=20)
    assert rows(term)[:2] == ["                 abf", ""]


def test_restore_with_nothing_saved_goes_home_with_ascii() -> None:
    term = fed(b"\x1b(0\x1b[3;4Habc\x1b8q")
    assert rows(term)[0] == "q"


# --- REP -------------------------------------------------------------------


def test_rep_repeats_the_last_printed_character() -> None:
    term = fed(b"ab\x1b[3bc\r\n\x1b[1;4mx\x1b[2b")
    assert rows(term)[:2] == ["abbbbc", "xxx"]
    assert term.cell(2, 1).underscore


def test_rep_needs_a_character_printed_just_before() -> None:
    assert rows(fed(b"ab\r\x1b[3b"))[0] == "ab"
    assert rows(fed(b"ab\x1b[C\x1b[3b"))[0] == "ab"


def test_rep_stops_at_the_end_of_the_line() -> None:
    assert rows(fed(b"x\x1b[50b", cols=10)) == ["x" * 10, "", "", "", "", ""]


def test_rep_repeats_line_drawing_as_drawn() -> None:
    assert rows(fed(b"\x1b(0q\x1b[4b"))[0] == "─────"


# --- Snapshots -------------------------------------------------------------


def test_snapshot_keeps_protection_and_the_saved_cursor() -> None:
    term = fed(b'\x1b)0\x0e\x1b[2;5r\x1b[?6h\x1b[1"q\x1b7\x0fPROT\x1b[2"qdef\x1b[?6l\x1b[H')
    twin = restore_snapshot(take_snapshot(term))
    assert take_snapshot(twin) == take_snapshot(term)
    for t in (term, twin):
        t.feed(b"\x1b[?2J\x1b8q")
    assert rows(twin) == rows(term)
    # Restored: G1 shifted in, origin mode (home is the margin's top),
    # protection (the new cell survives selective erase).
    twin.feed(b"\x1b[HZ\x1b[?2J")
    assert rows(twin)[1] == "ZROT"


# --- Text ------------------------------------------------------------------


def test_control_characters_in_text_are_skipped_not_the_end_of_it() -> None:
    assert rows(fed(b"ab\x01cd\x1aef\x7fgh" + "\u0085ij".encode()))[0] == "abcdefghij"


def test_zero_width_characters_join_the_cell_before() -> None:
    term = fed("a\u200bb😀\ufe0fc".encode())
    assert [term.cell(x, 0).data for x in range(5)] == ["a\u200b", "b", "😀\ufe0f", "", "c"]


def test_a_combining_mark_at_the_start_of_a_line_is_dropped() -> None:
    assert rows(fed("abc\r\n\u0301x".encode()))[:2] == ["abc", "x"]


def test_a_wide_character_that_does_not_fit_wraps() -> None:
    assert rows(fed("abcdefghi中x".encode(), cols=10))[:2] == ["abcdefghi", "中x"]


def test_writing_over_half_a_wide_character_blanks_the_other_half() -> None:
    assert rows(fed("ab中文\x1b[3Dx|".encode()))[0] == "ab x|"


def test_rep_after_a_control_inside_its_own_sequence_repeats_nothing() -> None:
    assert rows(fed(b"ab\x1b[3\nb"))[:2] == ["ab", ""]


# --- Robustness ----------------------------------------------------------

_SOUP_PIECES = [
    *["\x1b", "[", "]", "?", ">", "!", " ", '"', "$", "1", "38", ";", ":", "m", "b", "q"],
    *["H", "J", "K", "S", "T", "r", "s", "u", "@", "P", "X", "_", "^", "k", "\\", "#"],
    *["(", ")", "0", "B", "7", "8", "\x07", "\x18", "\n", "\x0e", "\x0f", "中", "a"],
]
_SOUP = st.lists(st.sampled_from(_SOUP_PIECES), max_size=80).map(
    lambda tokens: "".join(tokens).encode()
)


@settings(max_examples=300, deadline=None)
@given(data=_SOUP, cuts=st.lists(st.integers(0, 10_000), max_size=5))
def test_escape_soup_replays_the_same_in_pieces_and_never_stops(
    data: bytes, cuts: list[int]
) -> None:
    whole = fed(data, cols=12, rows=5)
    pieces = Terminal(12, 5)
    for chunk in chunked(data, cuts):
        pieces.feed(chunk)
    assert pieces.lines == whole.lines
    # End any string or sequence, leave origin mode and line drawing: text shows.
    pieces.feed(b"\x1b\\\x18\x1b(B\x0f\x1b[?6l\x1b[r\x1b[H\x1b[2Jok")
    assert pieces.lines[0].startswith("ok")


def test_snapshot_keeps_what_rep_repeats() -> None:
    term = fed(b"\x1b[1;31mab")
    twin = restore_snapshot(take_snapshot(term))
    for t in (term, twin):
        t.feed(b"\x1b[3b")
    assert twin.row(0) == term.row(0)
    assert rows(twin)[0] == "abbbb"
