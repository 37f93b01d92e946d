"""When each line of a stretch of indexed text was printed.

A stretch (one row of the full-text index) holds up to ``CHUNK_CHARS`` of a
session's output and the time it starts at; a hit in it should point at
its own line's time, or the replay's timeline marks the hit at the
stretch's start (a vim session's whole screen is one stretch). Beside the
text each row keeps ``times``: ``offset:ms`` pairs, comma-separated, where the
lines from character ``offset`` of the row on had all been printed ``ms``
milliseconds into the recording (rounded up). A hit's time is the pair at or
before it: a replay at that moment shows the hit's whole line, never the
screen before it was printed. A pair is written only where the time moves on
by ``STEP`` or more, or where a few lines (``LATE_LINES``) printed later
would join it, and the lines that share it take the latest of their times:
so a burst of output costs a pair per few lines, no line's time is early,
and none is so late that the lines printed after it have scrolled it off
the screen (a replay shows whole records: the lines its own record printed
after it are there too).
(Rows indexed by earlier versions keep when each line started: their hits
point at the start of the line.)
"""

from __future__ import annotations

import bisect
import math

STEP = 0.05  # seconds: finer than a timeline cell, coarser than one burst's records
LATE_LINES = 8  # lines a pair holds at most once later records join it: well under a screen


class LineTimes:
    """Collects the pairs of one row as its lines are added."""

    def __init__(self) -> None:
        self.pairs: list[tuple[int, int]] = []
        self.first: float | None = None  # the time that opened the last pair
        self.lines = 0  # lines the last pair holds

    def add(self, offset: int, t: float, lines: int = 1) -> None:
        """The ``lines`` lines from ``offset`` on were all printed by ``t``."""
        ms = math.ceil(t * 1000 - 1e-6)  # up: never early
        if (
            self.first is None
            or t >= self.first + STEP
            or (ms > self.pairs[-1][1] and self.lines + lines > LATE_LINES)
        ):
            self.pairs.append((offset, ms))
            self.first, self.lines = t, lines
        else:
            self.pairs[-1] = (self.pairs[-1][0], max(self.pairs[-1][1], ms))
            self.lines += lines

    def encode(self) -> str:
        return ",".join(f"{offset}:{ms}" for offset, ms in self.pairs)


def time_at(times: str | None, offset: int, default: float) -> float:
    """When the line holding character ``offset`` of a row was printed;
    ``default`` (the row's start) for a row indexed before times were kept."""
    if not times:
        return default
    offsets: list[int] = []
    stamps: list[int] = []
    for pair in times.split(","):
        at, _, ms = pair.partition(":")
        offsets.append(int(at))
        stamps.append(int(ms))
    i = bisect.bisect_right(offsets, offset) - 1
    return stamps[i] / 1000 if i >= 0 else default
