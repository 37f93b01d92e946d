"""Random ANSI output, as programs write it, for comparing emulators."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

_TEXT_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,:;!?-_/|~"
    "éàüßñçø€"  # Latin-1 and beyond
    "─│┌┐└┘├┤█▒"  # box drawing
    "中文字日本語한국"  # wide
    "\u0301\u0308\u0327"  # combining accents
    "\U0001f600\U0001f680"  # emoji
    "\x01\x18\x1a\x85"  # unprintables pyte stops a run at
)

text = st.text(alphabet=_TEXT_ALPHABET, min_size=1, max_size=40)
_n = st.integers(min_value=0, max_value=30)
_colour = st.integers(min_value=0, max_value=260)


def _csi(final: str, arity: int, private: bool = False) -> st.SearchStrategy[str]:
    prefix = "\x1b[?" if private else "\x1b["
    return st.lists(st.one_of(_n, st.just(None)), max_size=arity).map(
        lambda ps: prefix + ";".join("" if p is None else str(p) for p in ps) + final
    )


_sgr_param = st.one_of(
    st.sampled_from(
        ["0", "1", "3", "4", "5", "7", "9", "22", "23", "24", "27", "29", "39", "49", ""]
    ),
    st.integers(30, 37).map(str),
    st.integers(40, 47).map(str),
    st.integers(90, 97).map(str),
    st.integers(100, 107).map(str),
    _colour.map(lambda n: f"38;5;{n}"),
    _colour.map(lambda n: f"48;5;{n}"),
    st.tuples(_colour, _colour, _colour).map(lambda c: "38;2;{};{};{}".format(*c)),
    st.tuples(_colour, _colour, _colour).map(lambda c: "48;2;{};{};{}".format(*c)),
    st.just("38;5"),  # truncated: pyte ignores it
)
sgr = st.lists(_sgr_param, max_size=4).map(lambda ps: "\x1b[" + ";".join(ps) + "m")

_MODES = ["4", "20", "?7", "?25", "?5", "?1", "?2004", "?12", "?1000"]


def _modes(with_column_mode: bool) -> st.SearchStrategy[str]:
    modes = [*_MODES, "?3"] if with_column_mode else _MODES
    return st.tuples(st.sampled_from(modes), st.sampled_from("hl")).map(
        lambda mt: f"\x1b[{mt[0]}{mt[1]}"
    )


_sequences = [
    *(_csi(f, 1) for f in "ABCDEFGdeaX@PLMgc`n"),
    st.integers(0, 3).map(lambda n: f"\x1b[{n}J"),
    st.integers(0, 2).map(lambda n: f"\x1b[{n}K"),
    *(_csi(f, 2) for f in "Hfr"),
    st.sampled_from(["\x1b[?K", "\x1b[?1K", "\x1b[?2J", "\x1b[?J", "\x1b[?3;1J"]),
    st.sampled_from(["\x1b7", "\x1b8", "\x1bD", "\x1bE", "\x1bM", "\x1bH", "\x1b=", "\x1b>"]),
    st.sampled_from(["\x1b(0", "\x1b(B", "\x1b)0", "\x1b#8", "\x1b%G", "\x1b[>c", "\x1b[5n"]),
    st.text(alphabet="abc ;", max_size=10).map(lambda t: f"\x1b]0;{t}\x07"),
    st.text(alphabet="abc ;", max_size=10).map(lambda t: f"\x1b]2;{t}\x1b\\"),
    st.sampled_from(["\r", "\n", "\r\n", "\b", "\t", "\x07", "\x0b", "\x0c", "\x00", "\x7f"]),
    st.sampled_from(["\x0e", "\x0f", "\x9b1m", "\x1bc"]),
]


def ansi_stream(with_column_mode: bool = False) -> st.SearchStrategy[bytes]:
    """Bytes of interleaved text and control sequences (no alternate screen,
    no origin mode: stock pyte has none of the first and asserts on the
    second)."""
    token = st.one_of(text, text, text, sgr, _modes(with_column_mode), *_sequences)
    return st.lists(token, max_size=60).map(lambda ts: "".join(ts).encode())


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo its length)."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


_alternate = st.sampled_from(
    ["\x1b[?1049h", "\x1b[?1049l", "\x1b[?47h", "\x1b[?47l", "\x1b[?1047h", "\x1b[?1047l"]
)


def terminal_output() -> st.SearchStrategy[bytes]:
    """Anything a program may print, the alternate screen included."""
    token = st.one_of(
        ansi_stream().map(bytes.decode),
        _alternate,
        st.binary(max_size=8).map(lambda b: b.decode("latin-1")),
    )
    return st.lists(token, max_size=8).map(lambda ts: "".join(ts).encode())


def records() -> st.SearchStrategy[list[tuple[float, str, object]]]:
    """Timed output and resize records, times never going back (often equal)."""
    output = st.tuples(st.just("output"), terminal_output())
    resize = st.tuples(st.just("resize"), st.tuples(st.integers(1, 30), st.integers(1, 10)))
    steps = st.lists(
        st.tuples(st.sampled_from([0.0, 0.0, 0.5, 1.0]), st.one_of(output, output, resize)),
        max_size=25,
    )

    def timed(items: list[tuple[float, tuple[str, object]]]) -> list[tuple[float, str, object]]:
        t, out = 0.0, []
        for dt, (kind, data) in items:
            t += dt
            out.append((t, kind, data))
        return out

    return steps.map(timed)
