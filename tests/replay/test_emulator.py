"""The replay terminal on hand-made output: what a user would have seen."""

from __future__ import annotations

import pytest

from auditor.replay.emulator import Terminal

SHELL = b"joe@node:~$ ls\r\nfile-a  file-b\r\njoe@node:~$ "


def shell_then(program: bytes) -> Terminal:
    term = Terminal(40, 6)
    term.feed(SHELL)
    term.feed(program)
    return term


def test_vim_on_the_alternate_screen_then_the_shell_comes_back() -> None:
    term = shell_then(b"vim notes\r\n")
    before = term.text()
    cursor = term.cursor
    term.feed(b'\x1b[?1049h\x1b[22;0;0t\x1b[H\x1b[2J~\r\n~\r\n\x1b[6;1H"notes" 2L')
    assert term.in_alternate_screen
    assert term.lines[0].rstrip() == "~"
    assert term.lines[5].startswith('"notes" 2L')
    term.feed(b"\x1b[?1049l")
    assert not term.in_alternate_screen
    assert term.text() == before
    assert term.cursor == cursor


def test_1049_clears_the_alternate_screen_each_time() -> None:
    term = shell_then(b"\x1b[?1049hfirst\x1b[?1049l\x1b[?1049h")
    assert term.text() == ""


def test_47_shows_the_previous_alternate_content_again() -> None:
    term = shell_then(b"\x1b[?47h\x1b[Hless page\x1b[?47l")
    assert "less page" not in term.text()
    term.feed(b"\x1b[?47h")
    assert term.lines[0].startswith("less page")
    term.feed(b"\x1b[?47l")
    assert term.text().startswith("joe@node:~$ ls")


def test_1047_clears_the_alternate_screen_on_the_way_out() -> None:
    term = shell_then(b"\x1b[?1047h\x1b[Htop output\x1b[?1047l\x1b[?47h")
    assert term.text() == ""


def test_top_output_does_not_reach_the_scrollback() -> None:
    term = shell_then(
        b"\x1b[?1049h" + b"".join(b"row %d\r\n" % i for i in range(50)) + b"\x1b[?1049l"
    )
    assert not any(line.startswith("row") for line in term.scrollback)


def test_reset_in_the_alternate_screen_returns_to_the_main_one() -> None:
    term = shell_then(b"\x1b[?1049hvim\x1bc")
    assert not term.in_alternate_screen
    term.feed(b"after reset")
    assert term.text() == "after reset"


def test_lines_scrolled_off_the_top_are_kept_and_reported() -> None:
    seen: list[str] = []
    term = Terminal(20, 3, on_scroll_off=seen.append)
    term.feed(b"".join(b"line %d\r\n" % i for i in range(6)))
    assert seen == ["line 0", "line 1", "line 2", "line 3"]
    assert term.scrollback == seen
    assert term.lines[:2] == ["line 4".ljust(20), "line 5".ljust(20)]


def test_scrolling_inside_a_region_below_the_top_is_not_scrollback() -> None:
    seen: list[str] = []
    term = Terminal(20, 5, on_scroll_off=seen.append)
    term.feed(b"header\x1b[2;5r\x1b[5;1H" + b"x\n" * 10)
    assert seen == []
    assert term.lines[0].rstrip() == "header"


TEXT = "naïve café — 中文 😀 ok".encode()


@pytest.mark.parametrize("cut", range(len(TEXT) + 1))
def test_utf8_split_anywhere_across_feeds(cut: int) -> None:
    whole = Terminal(40, 2)
    whole.feed(TEXT)
    split = Terminal(40, 2)
    split.feed(TEXT[:cut])
    split.feed(TEXT[cut:])
    assert split.lines == whole.lines
    assert split.cursor == whole.cursor
    assert split.lines[0].rstrip() == TEXT.decode()


def test_utf8_one_byte_at_a_time() -> None:
    term = Terminal(40, 2)
    for byte in TEXT:
        term.feed(bytes([byte]))
    assert term.lines[0].rstrip() == TEXT.decode()


def test_wide_characters_take_two_cells() -> None:
    term = Terminal(10, 3)
    term.feed("中文😀x".encode())
    assert term.cursor.x == 7
    assert [c.data for c in term.row(0)[:8]] == ["中", "", "文", "", "😀", "", "x", " "]
    assert term.lines[0] == "中文😀x   "


def test_a_wide_character_at_the_edge_wraps_as_pyte_does() -> None:
    term = Terminal(5, 3)
    term.feed("abcd中文".encode())
    assert term.lines[0].startswith("abcd")
    assert "文" in term.lines[1]


def test_colours_16_256_and_true_colour_reach_the_cells() -> None:
    term = Terminal(20, 2)
    term.feed(b"\x1b[31ma\x1b[91;44mb\x1b[0;38;5;196mc\x1b[48;2;1;2;3md\x1b[0;1;4;7me\x1b[0mf")
    a, b, c, d, e, f = term.row(0)[:6]
    assert (a.data, a.fg, a.bg) == ("a", "red", "default")
    assert (b.fg, b.bg) == ("brightred", "blue")
    assert c.fg == "ff0000"
    assert (d.fg, d.bg) == ("ff0000", "010203")
    assert e.bold and e.underscore and e.reverse and e.fg == "default"
    assert f == term.cell(5, 0) and not f.bold and f.fg == "default"


@pytest.mark.parametrize(
    "query",
    [b"\x1b[c", b"\x1b[0c", b"\x1b[>c", b"\x1b[5n", b"\x1b[6n", b"\x1b[?6n", b"\x1b[?1;2c"],
)
def test_terminal_queries_get_no_reply(query: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    term = Terminal(20, 3)
    replies: list[str] = []
    monkeypatch.setattr(term.screen, "write_process_input", replies.append)
    term.feed(b"prompt$ " + query + b"after")
    assert replies == []
    assert term.lines[0].rstrip() == "prompt$ after"


def test_title_from_osc() -> None:
    term = Terminal(20, 3)
    term.feed(b"\x1b]0;joe@node: ~\x07$ ")
    assert term.title == "joe@node: ~"


def test_shrinking_keeps_the_cursor_line_and_scrolls_the_rest_off() -> None:
    term = Terminal(20, 6)
    term.feed(b"".join(b"l%d\r\n" % i for i in range(5)) + b"$ ")
    term.resize(20, 3)
    assert (term.cols, term.rows) == (20, 3)
    assert [line.rstrip() for line in term.lines] == ["l3", "l4", "$"]
    assert term.cursor == (2, 2, True)
    assert term.scrollback == ["l0", "l1", "l2"]
    term.feed(b"ls")
    assert term.lines[2].rstrip() == "$ ls"


def test_narrowing_cuts_lines_and_widening_gives_room_again() -> None:
    term = Terminal(10, 2)
    term.feed(b"0123456789")
    term.resize(5, 2)
    assert term.lines[0] == "01234"
    term.resize(12, 2)
    term.feed(b"\r\n\tX")
    assert term.lines[1] == "        X   "


def test_resize_in_the_alternate_screen_applies_to_both() -> None:
    term = shell_then(b"\r\n\r\n\r\n$ top\x1b[?1049h\x1b[Htop")
    term.resize(30, 3)
    assert term.lines[0].startswith("top")
    term.feed(b"\x1b[?1049l")
    assert (term.cols, term.rows) == (30, 3)
    assert term.lines[-1].rstrip() == "$ top"
    assert term.cursor == (5, 2, True)
    assert term.scrollback[:2] == ["joe@node:~$ ls", "file-a  file-b"]


@pytest.mark.parametrize(
    "garbage",
    [b"\x1b[1;2;3A", b"\x1b[?5A", "\x1b[²m".encode(), b"\x1b[4J", b"\x1b[3K", b"\x1b[?6h\x1b[5d"],
)
def test_malformed_sequences_do_not_stop_the_replay(garbage: bytes) -> None:
    term = Terminal(20, 3)
    term.feed(b"a" + garbage + b"b")
    assert "b" in term.text()


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1x1"):
        Terminal(0, 24)
