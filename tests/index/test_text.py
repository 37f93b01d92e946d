"""Searchable text: escape sequences gone, the same however the output was chunked."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.recording.text import TerminalText

SAMPLES = [
    b"\x1b[1;31mred\x1b[0m plain\r\n",
    b"\x1b]0;user@host: ~\x07prompt$ \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\r\n",
    b"\x1b[?1049h\x1b[H\x1b[2Jvim screen\x1b[?1049l\r\n",
    b"\x1bPq#0;2;0;0;0#1!10~\x1b\\after sixel\n",
    b"\x1b(B\x1b)0\x1b=\x1b>charset\r\n",
    "caf\u00e9 \u65e5\u672c\u8a9e \u2713\r\n".encode(),
    b"progress 10%\rprogress 100%\r\n",
    b"lsx\x08 \x08\x08\x08ls -l\r\n",
    b"bad \xff\xfe bytes\r\n",
    b"shown by a tty with onlcr\r\r\n",
    b"\x1b[1;1Hnotes\r\n\x1b[94m~    \x1b[3;1H~    \x1b[2;1H\x1b[Krollback"
    b"\x1b[30;1H:wq\x1bMup\x1b[5Cright\r\n",
]


def whole(data: bytes) -> str:
    t = TerminalText()
    return t.feed(data) + t.finish()


def test_known_sequences_are_stripped() -> None:
    got = [whole(s) for s in SAMPLES]
    assert got == [
        "red plain\n",
        "prompt$ link\n",
        "\nvim screen\n",  # the cursor home ends the line before it
        "after sixel\n",
        "charset\n",
        "caf\u00e9 \u65e5\u672c\u8a9e \u2713\n",
        "progress 10%\nprogress 100%\n",
        "ls -l\n",
        "bad \ufffd\ufffd bytes\n",
        "shown by a tty with onlcr\n",
        # A full-screen program's rows, each its own line; a move right is a gap.
        "\nnotes\n~    \n~    \nrollback\n:wq\nup right\n",
    ]


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.sampled_from(SAMPLES), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_chunking_never_changes_the_text(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    points = sorted({c % (len(data) + 1) for c in cuts})
    t = TerminalText()
    out = []
    prev = 0
    for p in [*points, len(data)]:
        out.append(t.feed(data[prev:p]))
        # The carry is what the index stores between passes: bytes, and short.
        t = TerminalText(bytes(t.carry))
        prev = p
    out.append(t.finish())
    assert "".join(out) == whole(data)
