"""The echo rules of ``auditor.proxy.redact`` on byte sequences as real programs
write them (bash's readline and ``read -s``, getpass, vim); the whole path
through the proxy and sshd is in test_input_redaction.py."""

from __future__ import annotations

from auditor.proxy.redact import MAX_KEYS, WINDOW, InputRedactor
from auditor.recording import Stream

SECRET = b"hunter2"


class Session:
    """Feeds a redactor records at given times; collects what it lets through."""

    def __init__(self) -> None:
        self.now = 0.0
        self.redactor = InputRedactor(lambda: self.now)
        self.out: list[tuple[Stream, bytes, float]] = []

    def typed(self, data: bytes, t: float) -> None:
        self.now = t
        self.out += self.redactor.add(Stream.INPUT, data, t)

    def keys(self, data: bytes, t: float, gap: float = 0.1) -> float:
        for i in range(len(data)):
            self.typed(data[i : i + 1], t + i * gap)
        return t + len(data) * gap

    def printed(self, data: bytes, t: float) -> None:
        self.now = t
        self.out += self.redactor.add(Stream.OUTPUT, data, t)

    def later(self, t: float) -> None:
        self.now = t
        self.out += self.redactor.settle()

    def end(self) -> list[tuple[Stream, bytes, float]]:
        return self.out + self.redactor.close()


def typed(records: list[tuple[Stream, bytes, float]]) -> bytes:
    return b"".join(d for s, d, _ in records if s is Stream.INPUT)


def markers(records: list[tuple[Stream, bytes, float]]) -> list[float]:
    return [t for s, _, t in records if s is Stream.WITHHELD]


def test_echoed_keys_are_kept_in_place_with_their_times() -> None:
    s = Session()
    s.typed(b"l", 0.0)
    s.typed(b"s", 0.05)  # typed before the first echo came back
    s.printed(b"l", 0.1)
    s.printed(b"s", 0.15)
    s.typed(b"\r", 0.2)
    s.printed(b"\r\nfile\r\n$ ", 0.3)
    out = s.end()
    assert out == [
        (Stream.INPUT, b"l", 0.0),
        (Stream.INPUT, b"s", 0.05),
        (Stream.OUTPUT, b"l", 0.1),
        (Stream.OUTPUT, b"s", 0.15),
        (Stream.INPUT, b"\r", 0.2),
        (Stream.OUTPUT, b"\r\nfile\r\n$ ", 0.3),
    ]


def test_read_s_whose_next_prompt_holds_the_last_keys() -> None:
    """bash's read -s echoes nothing, not even the Enter; the prompt after it
    ("node2$ ") contains the password's last key, which must not pass for its echo."""
    s = Session()
    s.printed(b"pw: ", 0.0)
    t = s.keys(SECRET, 1.0)
    s.typed(b"\r", t)
    s.printed(b"\x1b[?2004hnode2$ ", t + 0.05)
    s.later(t + WINDOW + 0.1)
    s.keys(b"e", t + 2)
    s.printed(b"e", t + 2.05)
    out = s.end()
    assert typed(out) == b"e"
    assert markers(out) == [1.0]  # one, at the first key


def test_getpass_newline_and_output_after_it_are_no_echo() -> None:
    s = Session()
    s.printed(b"Secret: ", 0.0)
    s.typed(SECRET + b"\r", 0.5)  # pasted in one go
    s.printed(b"\r\n", 0.55)  # getpass prints it after reading
    s.printed(b"you typed hunter2\r\n$ ", 0.6)
    out = s.end()
    assert typed(out) == b"" and markers(out) == [0.5]


def test_a_slow_typist_leaves_one_marker_not_one_per_key() -> None:
    s = Session()
    s.printed(b"[sudo] password for alice: ", 0.0)
    t = s.keys(SECRET + b"\x7f!", 1.0, gap=WINDOW * 2)  # each key times out alone
    s.later(t)
    s.typed(b"\r", t)
    s.printed(b"\r\n", t + 0.05)
    s.later(t + WINDOW * 2)
    out = s.end()
    assert markers(out) == [1.0]
    assert typed(out) == b""  # the backspace and the Enter belong to the run
    assert [r for r in out if r[0] is Stream.OUTPUT] == [
        (Stream.OUTPUT, b"[sudo] password for alice: ", 0.0),
        (Stream.OUTPUT, b"\r\n", t + 0.05),
    ]


def test_vim_normal_mode_keys_are_withheld_insert_mode_text_kept() -> None:
    s = Session()
    s.typed(b"j", 0.0)
    s.printed(b"\x1b[2;1H", 0.05)  # the cursor moves: nothing drawn
    s.typed(b"i", 0.5)
    s.printed(b"\x1b[24;1H\x1b[1m-- INSERT --\x1b[m\x1b[2;1H", 0.55)
    s.later(2.0)
    s.typed(b"Hello", 2.5)
    s.printed(b"\x1b[2;1HHello", 2.55)
    out = s.end()
    assert typed(out) == b"Hello" and markers(out) == [0.0]


def test_escape_sequences_split_across_output_chunks() -> None:
    s = Session()
    s.typed(b"x", 0.0)
    s.printed(b"\x1b[3", 0.01)
    s.printed(b"2mx\x1b[0m", 0.02)
    assert typed(s.end()) == b"x"


def test_keys_without_text_are_kept_outside_a_run() -> None:
    s = Session()
    s.typed(b"\x1b[A", 0.0)  # Up: history
    s.printed(b"echo hi", 0.05)
    s.typed(b"\r", 0.1)
    s.printed(b"\r\nhi\r\n$ ", 0.15)
    s.typed(b"\x03", 1.0)
    out = s.end()
    assert typed(out) == b"\x1b[A\r\x03" and markers(out) == []


def test_the_end_of_the_channel_decides_what_is_left() -> None:
    s = Session()
    s.typed(b"abc", 0.0)
    out = s.end()
    assert typed(out) == b"" and markers(out) == [0.0]


def test_a_flood_of_output_behind_a_waiting_key_is_not_held_in_memory() -> None:
    s = Session()
    s.typed(b"q", 0.0)  # never echoed: waits while output floods in
    chunk = b"y\r\n" * (1 << 14)
    for i in range(200):
        s.printed(chunk, 0.001 * i)
    assert s.redactor._held_bytes == 0 and not s.redactor._keys
    out = s.end()
    assert markers(out) == [0.0] and typed(out) == b""
    assert sum(len(d) for st, d, _ in out if st is Stream.OUTPUT) == 200 * len(chunk)


def test_an_undrawn_key_is_not_echoed_by_a_later_one_of_the_same_letter() -> None:
    s = Session()
    for i, ch in enumerate(b"xHello from linux"):
        s.typed(bytes([ch]), i * 0.04)  # typed faster than the echoes come back
    for i, ch in enumerate(b"Hello from linux"):
        s.printed(bytes([ch]), 0.1 + i * 0.04)
    out = s.end()
    assert typed(out) == b"Hello from linux" and markers(out) == [0.0]


def test_a_two_line_prompt_after_read_s_does_not_echo_any_key() -> None:
    """read -s echoes nothing; the next prompt has a newline and holds some of
    the password's letters (u, e, r, 2): not one of them is kept."""
    s = Session()
    t = s.keys(SECRET, 0.0, gap=0.05)
    s.typed(b"\r", t)
    s.printed(b"user@node2:~\r\n$ ", t + 0.05)
    out = s.end()
    assert typed(out) == b"" and markers(out) == [0.0]


def test_a_slow_typists_last_keys_are_not_kept_by_the_prompt_after_them() -> None:
    s = Session()
    s.printed(b"pw: ", 0.0)
    t = s.keys(b"hunte", 1.0, gap=WINDOW * 1.5)  # each withheld alone, in one run
    t = s.keys(b"r2", t, gap=0.05)  # the last two typed quickly, then Enter
    s.typed(b"\r", t)
    s.printed(b"user@node2:~\r\n$ ", t + 0.05)
    s.later(t + WINDOW * 2)
    s.keys(b"ls", t + 3)
    s.printed(b"ls", t + 3.1)
    out = s.end()
    assert typed(out) == b"ls" and markers(out) == [1.0]


def test_a_flood_of_one_byte_keystroke_packets_is_decided_not_queued() -> None:
    """Each waiting key costs every later packet a look: a client sending
    thousands of one-byte packets that nothing echoes must not pile them up
    (it held the proxy's loop for seconds, quadratic); they are withheld."""
    s = Session()
    s.printed(b"pw: ", 0.0)
    for i in range(5000):
        s.typed(b"k", 0.1 + i * 1e-5)
        assert len(s.redactor._keys) <= MAX_KEYS + 1
    s.typed(b"\r", 0.2)
    out = s.end()
    assert typed(out).strip(b"\r") == b"" and len(markers(out)) == 1
