"""A reproducible mixed ANSI byte stream, like a day of SSH sessions.

Shell output with colours and prompts, plain logs, a vim-like full-screen
redraw on the alternate screen, a top-like refresher and UTF-8 text (CJK,
box drawing, emoji), in roughly the proportions a busy fleet produces.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

_WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "config",
    "server",
    "node",
    "proxy",
    "session",
    "ssh",
    "root",
    "var",
    "log",
    "nginx",
    "systemd",
    "journal",
    "kernel",
    "error",
    "warning",
    "info",
    "debug",
    "started",
    "stopped",
    "listening",
    "connection",
    "accepted",
    "closed",
    "timeout",
    "retry",
    "backup",
    "deploy",
    "release",
]
_UTF8 = [
    "中文字符",
    "日本語テキスト",
    "한국어",
    "├── ",
    "└── ",
    "│   ",
    "─────",
    "café",
    "naïve",
    "😀",
    "🚀",
]


# A true-colour editor scheme: a handful of colours, not random ones.
_SCHEME = [
    (40, 44, 52),
    (171, 178, 191),
    (224, 108, 117),
    (152, 195, 121),
    (229, 192, 123),
    (97, 175, 239),
    (198, 120, 221),
    (86, 182, 194),
    (92, 99, 112),
    (209, 154, 102),
]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def _shell(rng: random.Random) -> str:
    out = [
        f"\x1b]0;joe@node{rng.randint(1, 99)}: ~\x07"
        "\x1b[01;32mjoe@node\x1b[00m:\x1b[01;34m~\x1b[00m$ ls -l\r\n"
    ]
    for _ in range(rng.randint(5, 30)):
        colour = rng.choice(["01;34", "01;32", "00", "01;36", "38;5;208", "01;31"])
        out.append(
            f"-rw-r--r-- 1 joe joe {rng.randint(0, 99999):6d} Jan {rng.randint(1, 31):2d} "
            f"\x1b[{colour}m{rng.choice(_WORDS)}.{rng.choice(['txt', 'py', 'log'])}\x1b[0m\r\n"
        )
    return "".join(out)


def _log(rng: random.Random) -> str:
    return "".join(
        f"2024-05-{rng.randint(1, 28):02d} 12:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} "
        f"{_words(rng, rng.randint(4, 14))}\r\n"
        for _ in range(rng.randint(10, 60))
    )


def _vim(rng: random.Random, cols: int = 80, rows: int = 24) -> str:
    out = ["\x1b[?1049h\x1b[H\x1b[2J"]
    for _ in range(rng.randint(1, 4)):  # a few full redraws while scrolling
        for y in range(1, rows):
            r, g, b = rng.choice(_SCHEME)  # a colour scheme's true colours
            out.append(
                f"\x1b[{y};1H\x1b[38;5;{rng.randint(16, 255)}m{y:4d} \x1b[0m"
                f"\x1b[38;2;{r};{g};{b}m{_words(rng, 3)}\x1b[0m = "
                f"\x1b[1m{_words(rng, 4)[: cols - 40]}\x1b[0m\x1b[K"
            )
        out.append(f"\x1b[{rows};1H\x1b[7m-- INSERT --\x1b[0m\x1b[K\x1b[{rng.randint(1, rows)};5H")
    out.append("\x1b[?1049l")
    return "".join(out)


def _top(rng: random.Random) -> str:
    out = ["\x1b[?1049h\x1b[?25l"]
    for _ in range(rng.randint(1, 3)):
        out.append("\x1b[H")
        out.append(f"top - 12:00:00 up 3 days, load average: {rng.random():.2f}\x1b[K\r\n")
        out.append(
            "\x1b[7m  PID USER      PR  NI    VIRT    RES  %CPU  COMMAND        \x1b[m\x1b[K\r\n"
        )
        for _ in range(20):
            out.append(
                f"\x1b[m{rng.randint(1, 99999):5d} joe       20   0 {rng.randint(1000, 999999):7d} "
                f"{rng.randint(100, 99999):6d} \x1b[1m{rng.random() * 100:5.1f}\x1b[m  "
                f"{rng.choice(_WORDS)}\x1b[K\r\n"
            )
        out.append("\x1b[J")
    out.append("\x1b[?25h\x1b[?1049l")
    return "".join(out)


def _utf8(rng: random.Random) -> str:
    return "".join(
        "".join(rng.choice(_UTF8) for _ in range(rng.randint(3, 12))) + "\r\n"
        for _ in range(rng.randint(5, 20))
    )


_KINDS = [(_shell, 30), (_log, 20), (_vim, 25), (_top, 15), (_utf8, 10)]


def chunks(size: int, seed: int = 5, chunk: int = 4096) -> Iterator[bytes]:
    """``size`` bytes of mixed output, in ``chunk``-sized pieces split
    anywhere (mid-sequence, mid-character), as a recording stores them."""
    rng = random.Random(seed)
    makers = [k for k, _ in _KINDS]
    weights = [w for _, w in _KINDS]
    pending = b""
    produced = 0
    while produced < size:
        pending += rng.choices(makers, weights)[0](rng).encode()
        while len(pending) >= chunk and produced < size:
            piece, pending = pending[:chunk], pending[chunk:]
            produced += len(piece)
            yield piece


# Pieces of output where terminals and naive emulators part ways: colon
# SGR, scrolling regions and SU/SD, saved cursors with charsets and origin
# mode, line drawing, REP, insert/delete, wide and combining characters.
_FIDELITY_PIECES = [
    "\x1b[4:3m",
    "\x1b[4:0m",
    "\x1b[1;38:2::255:0:255;4m",
    "\x1b[38:2:10:20:30m",
    "\x1b[48:5:22m",
    "\x1b[58:5:196m",
    "\x1b[58;2;1;2;3m",
    "\x1b[59m",
    "\x1b[m",
    "\x1b[>4;2m",
    "\x1bPq#0~~@@\x1b\\",
    "\x1b_Ga=q\x1b\\",
    "\x1b7",
    "\x1b8",
    "\x1b[s",
    "\x1b[u",
    "\x1b(0",
    "\x1b(B",
    "\x1b)0",
    "\x0e",
    "\x0f",
    "\x1b[?6h",
    "\x1b[?6l",
    "\x1b[3J",
    "\x1bE",
    "\x1b[L",
    "\x1b[2M",
    "\x1b[r",
    "\r\n",
    "\r",
    "\t",
    "\b",
]


def _fidelity_piece(rng: random.Random, rows: int) -> str:
    roll = rng.random()
    if roll < 0.4:
        return " ".join(rng.choice(_WORDS + _UTF8 + ["x\u0301", "qqq"]) for _ in range(3))
    if roll < 0.55:
        return rng.choice(_FIDELITY_PIECES)
    final = rng.choice("STbHrABCDZ`@PXK")
    if final == "r":
        top = rng.randint(1, rows - 1)
        return f"\x1b[{top};{rng.randint(top + 1, rows)}r"
    if final == "H":
        return f"\x1b[{rng.randint(1, rows)};{rng.randint(1, 40)}H"
    return f"\x1b[{rng.randint(0, 5)}{final}"


def fidelity_streams(count: int = 50, seed: int = 13, rows: int = 12) -> list[bytes]:
    """``count`` reproducible streams of output where terminals and naive
    emulators differ, each ending between sequences."""
    rng = random.Random(seed)
    return [
        "".join(_fidelity_piece(rng, rows) for _ in range(rng.randint(20, 120))).encode()
        for _ in range(count)
    ]
