"""When each line of a stretch of indexed text was printed.

A stretch (one row of the full-text index) holds up to ``CHUNK_CHARS`` of a
session's output and the time it starts at; a hit in it should point at
its own line's time, or the replay's timeline marks the hit at the
stretch's start (a vim session's whole screen is one stretch). Beside the
text each row keeps ``times``: ``offset:ms`` pairs, comma-separated, where a
line starting at character ``offset`` of the row was printed ``ms``
milliseconds into the recording. A pair is written only where the time
moves on by ``STEP`` or more, so a burst of output costs one pair; a hit's
time is the pair at or before it, never after the line appeared.
"""

from __future__ import annotations

import bisect

STEP = 0.05  # seconds: finer than a timeline cell, coarser than one burst's records


class LineTimes:
    """Collects the pairs of one row as its lines are added."""

    def __init__(self) -> None:
        self.pairs: list[str] = []
        self.last: float | None = None

    def add(self, offset: int, t: float) -> None:
        if self.last is None or t >= self.last + STEP:
            self.pairs.append(f"{offset}:{int(t * 1000)}")  # down: never late
            self.last = t

    def encode(self) -> str:
        return ",".join(self.pairs)


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
