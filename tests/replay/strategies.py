"""Random ANSI output, as programs write it, for comparing emulators."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

# Text stock pyte draws as a terminal does. Left out, because the replay now
# follows tmux there: control characters (stock pyte drops the rest of the
# text after one), combining marks (stock pyte puts one that starts a line on
# the line above) and wide characters (stock pyte writes one that reaches the
# last column half off the screen instead of wrapping it).
_PYTE_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,:;!?-_/|~"
    "éàüßñçø€"  # Latin-1 and beyond
    "─│┌┐└┘├┤█▒"  # box drawing
)
_TEXT_ALPHABET = (
    _PYTE_ALPHABET
    + "中文字日本語한국"  # wide
    + "\u0301\u0308\u0327"  # combining accents
    + "\U0001f600\U0001f680"  # emoji
    + "\x01\x18\x1a\x85"  # control characters a terminal skips
)

pyte_text = st.text(alphabet=_PYTE_ALPHABET, min_size=1, max_size=40)
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

# ITU T.416 / kitty forms: colon sub-parameters, underline styles and colours.
_byte = st.integers(0, 255)
_colon_param = st.one_of(
    _sgr_param,
    st.integers(0, 5).map(lambda n: f"4:{n}"),
    st.tuples(st.sampled_from(["38", "48", "58"]), _byte).map(lambda p: f"{p[0]}:5:{p[1]}"),
    st.tuples(st.sampled_from(["38", "48", "58"]), _byte, _byte, _byte, st.booleans()).map(
        lambda p: f"{p[0]}:2:{':' if p[4] else ''}{p[1]}:{p[2]}:{p[3]}"
    ),
    _byte.map(lambda n: f"58;5;{n}"),
    st.just("59"),
)
colon_sgr = st.lists(_colon_param, min_size=1, max_size=4).map(
    lambda ps: "\x1b[" + ";".join(ps) + "m"
)

_MODES = ["?7", "?25", "?5", "?1", "?2004", "?12", "?1000"]


def _modes(with_column_mode: bool = False, terminal: bool = False) -> st.SearchStrategy[str]:
    """Mode switches. Insert mode (4) pushes cells off the edge, which stock
    pyte keeps (see ICH below); LNM (20) is xterm's and pyte's, and tmux
    has none, so tmux is not asked about it."""
    modes = [*_MODES, "4"] if terminal else [*_MODES, "20"]
    # DECCOLM: stock pyte resizes to 132 columns; a terminal (tmux) keeps its width.
    modes = [*modes, "?3"] if with_column_mode or terminal else modes
    return st.tuples(st.sampled_from(modes), st.sampled_from("hl")).map(
        lambda mt: f"\x1b[{mt[0]}{mt[1]}"
    )


# What stock pyte gets right. Left out, because the replay follows tmux
# (and xterm) there: DECSC/DECRC (one saved slot, not a stack; origin mode
# restored both ways, autowrap not at all), ED 3 (clears the scrollback,
# not the screen), charsets and SO/SI (honoured in UTF-8, G1 ASCII by
# default), C1 CSI in UTF-8 text (a control character, skipped), NEL
# (always to the first column), DECALN (homes the cursor), ICH (stock keeps
# the cell pushed off the edge, for DCH to bring back), IL and DL (the
# cursor keeps its column; stock DL leaves a line before a blank one),
# DECSTBM (a missing bottom is the last line, the cursor goes home), and
# what stock pyte lacks (SU, SD, REP, CBT, HPA, ``CSI s``/``CSI u``).
_sequences = [
    *(_csi(f, 1) for f in "ABCDEFGdXgcn"),
    st.integers(0, 2).map(lambda n: f"\x1b[{n}J"),
    st.integers(0, 2).map(lambda n: f"\x1b[{n}K"),
    *(_csi(f, 2) for f in "Hf"),
    st.sampled_from(["\x1bD", "\x1bM", "\x1bH", "\x1b=", "\x1b>"]),
    st.sampled_from(["\x1b(B", "\x1b%G", "\x1b[>c", "\x1b[5n"]),
    st.text(alphabet="abc ;", max_size=10).map(lambda t: f"\x1b]0;{t}\x07"),
    st.text(alphabet="abc ;", max_size=10).map(lambda t: f"\x1b]2;{t}\x1b\\"),
    st.sampled_from(["\r", "\n", "\r\n", "\b", "\t", "\x07", "\x0b", "\x0c", "\x00", "\x7f"]),
    st.just("\x1bc"),
]

# What the replay does as a terminal does and stock pyte does not.
_terminal_sequences = [
    colon_sgr,
    *(_csi(f, 1) for f in "STbsuLMZ`@P"),
    _csi("r", 2),
    st.integers(0, 3).map(lambda n: f"\x1b[{n}J"),
    st.sampled_from(
        ["\x1bE", "\x1b7", "\x1b8", "\x1b(0", "\x1b)0", "\x1b(B", "\x1b)B", "\x0e", "\x0f"]
    ),
    st.sampled_from(["\x1b[?6h", "\x1b[?6l", "\x1b[?7l", "\x1b[?7h"]),
    # Sequences a terminal consumes whole.
    st.sampled_from(
        ["\x1b[>4;2m", "\x1b[?5A", "\x1b[?1;2r", "\x1b[0%m", "\x1b[2 q", "\x1b[?u", "\x1b[>c"]
    ),
    st.sampled_from(["\x1bPzz\x1b\\", "\x1b_apc\x1b\\", "\x1b^pm\x1b\\", "\x1bX\x1b\\"]),
    st.sampled_from(["\x1b[1:2H", "\x1b[1\x182", "\x1b[2\x1b[1m", "\x1b[3\nB"]),
]
# DECSCA with DECSED/DECSEL (xterm's selective erase): tmux has none, so
# they are checked by hand (tests/replay/test_emulator.py), not against it.
_selective_erase = ["\x1b[?K", "\x1b[?1K", "\x1b[?2J", "\x1b[?J"]
protection = st.sampled_from(['\x1b[1"q', '\x1b[0"q', '\x1b[2"q', *_selective_erase])


def ansi_stream(with_column_mode: bool = False) -> st.SearchStrategy[bytes]:
    """Bytes stock pyte renders as a terminal does: interleaved text and
    control sequences (no alternate screen, no origin mode: stock pyte has
    none of the first and asserts on the second)."""
    token = st.one_of(
        pyte_text,
        pyte_text,
        pyte_text,
        sgr,
        _modes(with_column_mode),
        *_sequences,
        # With nothing protected, selective erase is pyte's erase.
        st.sampled_from(_selective_erase),
        # VPR and HPR: xterm's and pyte's; tmux has neither.
        *(_csi(f, 1) for f in "ea"),
    )
    return st.lists(token, max_size=60).map(lambda ts: "".join(ts).encode())


def terminal_stream() -> st.SearchStrategy[bytes]:
    """Bytes to render as a real terminal (tmux) does, the sequences stock
    pyte gets wrong included; it ends between sequences."""
    token = st.one_of(
        text, text, text, sgr, _modes(terminal=True), *_sequences, *_terminal_sequences
    )
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
        terminal_stream().map(bytes.decode),
        protection,
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
