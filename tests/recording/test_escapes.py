"""Where a chunk of recorded bytes stops being complete (``auditor.recording.escapes``)."""

from __future__ import annotations

import pytest

from auditor.recording.escapes import split_pending

CASES = [
    (b"ls\r\n\x1b", b"ls\r\n", b"\x1b"),  # a lone ESC at the end
    (b"ok\x1b[1;3", b"ok", b"\x1b[1;3"),  # a CSI without its final byte
    (b"ok\x1b[?", b"ok", b"\x1b[?"),
    (b"a\x1b]0;title", b"a", b"\x1b]0;title"),  # an OSC without BEL or ST
    (b"a\x1b]0;title\x1b", b"a", b"\x1b]0;title\x1b"),  # only the ST's ESC came
    (b"a\x1bPq#0;2\x1b", b"a", b"\x1bPq#0;2\x1b"),  # a DCS cut in its ST
    (b"a\x1b(", b"a", b"\x1b("),  # a charset designation without its final byte
    (b"x\xe4\xb8", b"x", b"\xe4\xb8"),  # a partial UTF-8 character
    (b"x\xc3", b"x", b"\xc3"),
    (b"x\xf0\x9f\x98", b"x", b"\xf0\x9f\x98"),
]
COMPLETE = [
    b"plain text\r\n",
    b"\x1b[31mred\x1b[0m",
    b"\x1b]0;title\x07ok",  # OSC ended by BEL
    b"\x1b]0;title\x1b\\",  # OSC ended by ST
    b"\x1bPq#0\x1b\\",
    b"\x1b(B",
    b"\x1b7",
    b"\xe4\xb8\xad",
    b"\xf0\x9f\x98\x80",
    b"",
]


@pytest.mark.parametrize(("chunk", "complete", "pending"), CASES)
def test_an_unfinished_tail_is_pending(chunk: bytes, complete: bytes, pending: bytes) -> None:
    assert split_pending(chunk) == (complete, pending)


@pytest.mark.parametrize("chunk", COMPLETE)
def test_a_complete_chunk_has_nothing_pending(chunk: bytes) -> None:
    assert split_pending(chunk) == (chunk, b"")


def test_a_pending_tail_finished_by_the_next_chunk_is_complete() -> None:
    finished = [
        b"\x1bc",
        b"\x1b[1;3m",
        b"\x1b]0;title\x07",
        b"\x1b]0;title\x1b\\",
        b"\x1bPq#0;2\x1b\\",
        b"\x1b(B",
        b"\xe4\xb8\xad",
        b"\xf0\x9f\x98\x80",
    ]
    for chunk in finished:
        for cut in range(1, len(chunk)):
            complete, pending = split_pending(b"x" + chunk[:cut])
            assert (complete, pending) == (b"x", chunk[:cut]), chunk[:cut]
            assert split_pending(pending + chunk[cut:]) == (chunk, b"")
