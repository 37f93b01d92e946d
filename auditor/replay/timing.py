"""Replay timing: when each record shows, as a chain of small steps (asciinema 2.x)::

    records -> relative_time -> cap_idle -> absolute_time -> at_speed

Each step takes and gives ``(time, record)`` pairs, so each is testable
alone. ``Playback`` moves its position with the same rules, one clock tick
at a time (``replay_span``), so the CLI player and the TUI's replay screen
keep one pace.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from auditor.replay.keyframes import Record

Timed = tuple[float, Record]

MIN_SPEED = 1 / 16
MAX_SPEED = 64.0


def relative_time(records: Iterable[Record], start: float = 0.0) -> Iterator[Timed]:
    """Each record with the time since the one before (the first: since ``start``)."""
    prev = start
    for record in records:
        yield max(0.0, record[0] - prev), record
        prev = max(prev, record[0])


def capped(delay: float, max_idle: float | None) -> float:
    return delay if max_idle is None else min(delay, max_idle)


def cap_idle(items: Iterable[Timed], max_idle: float | None) -> Iterator[Timed]:
    """No pause longer than ``max_idle`` seconds."""
    for delay, record in items:
        yield capped(delay, max_idle), record


def absolute_time(items: Iterable[Timed]) -> Iterator[Timed]:
    """Delays back to times since the start of playback."""
    t = 0.0
    for delay, record in items:
        t += delay
        yield t, record


def at_speed(items: Iterable[Timed], speed: float) -> Iterator[Timed]:
    for t, record in items:
        yield t / speed, record


def schedule(
    records: Iterable[Record], start: float, speed: float = 1.0, max_idle: float | None = None
) -> Iterator[Timed]:
    """When to show each record, in seconds from now, playing from ``start``."""
    return at_speed(absolute_time(cap_idle(relative_time(records, start), max_idle)), speed)


def replay_span(gap: float, played: float, max_idle: float | None) -> float:
    """How far into a ``gap`` of recording time ``played`` seconds of (sped
    up) playing get: the whole gap once its capped length has played, and
    proportionally before, so the position moves smoothly through a capped
    pause."""
    length = capped(gap, max_idle)
    if played >= length:
        return gap
    return gap * played / length if length > 0 else gap


def next_speed(speed: float, steps: int) -> float:
    """Twice as fast per step up, half per step down, within the limits."""
    return min(max(speed * 2.0**steps, MIN_SPEED), MAX_SPEED)


def clock(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"
