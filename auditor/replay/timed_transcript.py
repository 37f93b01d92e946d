"""The transcript (``replay --format text``) with a time for each line, for the
replay screen's transcript panel: it follows the position and jumps to a line.

A transcript line leaves the screen (and so comes out of ``transcript_lines``)
long after it was printed: when it scrolls off the top, or the screen is
cleared. Its time here is when its final text first stood on the screen: each
record's redrawn rows are looked at after it is fed, and a line takes the
earliest of those times for its text not yet claimed by an earlier line, never
earlier than the line before it and never later than when it left.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from auditor.recording import Record as RecordingRecord
from auditor.replay.emulator import render_line
from auditor.replay.keyframes import OUTPUT, RESIZE
from auditor.replay.recorded import replay_records
from auditor.replay.transcript import TranscriptTerminal


def timed_transcript(
    records: Iterable[RecordingRecord], cols: int = 80, rows: int = 24
) -> list[tuple[float, str]]:
    """``(t, line)`` for every line ``recording_transcript`` gives, in its order."""
    terminal = TranscriptTerminal(cols, rows)
    seen: dict[str, deque[float]] = {}  # a text's unclaimed first appearances
    shown: dict[int, str] = {}  # what each row showed after the last record
    out: list[tuple[float, str]] = []
    t = 0.0

    def claim(lines: list[str], left: float) -> None:
        for line in lines:
            times = seen.get(line)
            at = times.popleft() if times else left
            if times is not None and not times:
                del seen[line]
            previous = out[-1][0] if out else 0.0
            out.append((max(previous, min(at, left)), line))

    for t, kind, data in replay_records(records):
        if kind == OUTPUT:
            terminal.feed(data)
        elif kind == RESIZE:
            terminal.resize(*data)
        else:
            continue
        screen = terminal.screen
        if terminal.pending:
            claim(terminal.take(), t)
        for y in sorted(screen.dirty):
            if y >= screen.lines:
                continue
            text = render_line(screen.buffer.get(y), screen.columns).rstrip()
            if text and shown.get(y) != text:
                seen.setdefault(text, deque()).append(t)
            shown[y] = text
        screen.record_done()
    claim(terminal.take(), t)
    claim(terminal.final_lines(), t)
    return out
