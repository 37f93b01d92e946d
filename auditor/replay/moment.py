"""Moments: ``ID@T`` names a point in a session, wherever a session is named.

``3f2a9c@1:23.4`` is session ``3f2a9c...`` (any unique prefix of its ID) at one
minute 23.4 seconds into its recording. The time takes the forms ``1:23.4``,
``1:02:03`` (hours), plain seconds ``83.4``, or a duration ``1m23s``.

A reference auditor prints (the replay screen's ``y``, ``auditor commands``,
search hits) is the ID's first 8 characters and a time at which the screen
shows what it cites: replaying ``3f2a9c12@1:23.4`` draws every record up to
and including 1:23.4. A time rounded down to a tenth would often land before
what it cites (the last key of a command typed 40 ms before its Enter, a
search hit printed at 1:23.47), so the time is the coarsest of a tenth, a
hundredth, a millisecond or (rarely: an echo back within the millisecond)
a microsecond that falls where the cited screen stands (:func:`citable`),
and printed exactly (:func:`format_time`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from auditor.durations import parse_duration
from auditor.errors import UsageError
from auditor.recording.format import Stream
from auditor.recording.reader import Record

SHORT_ID = 8  # the ID's characters a reference carries, as every table shows them
_CLOCK = re.compile(r"\d+(?::[0-5]?\d){1,2}(?:\.\d+)?")
_SECONDS = re.compile(r"\d+(?:\.\d+)?")
_MOMENT = re.compile(r"[0-9a-fA-F]+@\S*")
EXPECTED = "a time into the session like 1:23.4, 1:02:03 or 83.4"


@dataclass(frozen=True)
class Moment:
    session: str  # the ID or prefix as given
    t: float | None  # seconds into the recording; None: no @T


def parse_time(text: str, what: str = "time") -> float:
    """Seconds into a session from ``1:23.4``, ``1:02:03``, ``83.4`` or ``1m23s``."""
    s = text.strip()
    if _CLOCK.fullmatch(s):
        # Summed exactly, then rounded once: ``1:23.4`` is the same float as
        # ``83.4``, and as a record stamped 83.4 (an imported cast's).
        seconds = Decimal(0)
        for part in s.split(":"):
            seconds = seconds * 60 + Decimal(part)
        return float(seconds)
    if _SECONDS.fullmatch(s):
        return float(s)
    try:
        return parse_duration(s, what)
    except UsageError:
        raise UsageError(f"{what}: expected {EXPECTED}; got {text!r}") from None


def parse_moment(text: str) -> Moment:
    """``ID`` or ``ID@T``; a bad time is one line naming the whole argument."""
    session, at, when = text.partition("@")
    if not at:
        return Moment(text, None)
    if not session:
        raise UsageError(f"{text!r}: expected ID@TIME with a session ID before the @")
    t = parse_time(when, repr(text)) if when.strip() else None
    if t is None:
        raise UsageError(f"{text!r}: expected {EXPECTED} after the @")
    return Moment(session, t)


def looks_like_moment(text: str) -> bool:
    """An argument that can only be a moment (hex, ``@``): for ``auditor ID@T``."""
    return bool(_MOMENT.fullmatch(text))


def citable(since: float, until: float, before: float | None = None) -> float:
    """The roundest time at which the screen stands as it did from ``since``
    (its last drawing) on: a tenth if one falls in ``[since, before)``, else a
    hundredth, a millisecond or a microsecond, the one nearest ``until`` (the
    cited event, such as an Enter) first. ``before`` is when the screen next
    changed: an echo can come back within the millisecond after the Enter
    that caused it, so rounding up past ``until`` is allowed only short of
    it; not known (None), never.
    """
    if before is None:
        before = math.nextafter(until, math.inf)
    for scale in (10, 100, 1000, 1_000_000):
        down = math.floor(until * scale + 1e-6) / scale
        if down >= before:  # the screen changed at the cited time (a cast's equal stamps)
            down = (math.ceil(before * scale - 1e-6) - 1) / scale
        if since <= down < before:
            return down
        up = math.ceil(until * scale - 1e-6) / scale
        if up < before:
            return max(up, until)
    return until


def format_time(t: float, places: int = 6) -> str:
    """``1:23.4`` (``1:02:03.0`` past an hour): ``t`` rounded up to ``places``
    decimals (a replay at the printed time has drawn everything up to ``t``),
    printed with as many as that needs, at least one: ``1:23.4``, ``1:23.45``,
    ``1:23.417``. A time from :func:`citable` is printed exactly."""
    scale = 10**places
    units = math.ceil(max(0.0, t) * scale - 1e-3)
    seconds, frac = divmod(units, scale)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    decimals = f"{frac:0{places}d}".rstrip("0") or "0"
    return f"{h}:{m:02d}:{s:02d}.{decimals}" if h else f"{m}:{s:02d}.{decimals}"


def reference(session_id: str, t: float) -> str:
    """The moment's reference, as auditor prints it and takes it back."""
    return f"{session_id[:SHORT_ID]}@{format_time(t)}"


def check_within(t: float, duration: float, ref: str) -> float:
    """A moment past the session's end is an error (never a silent clamp: the
    citation would be wrong); a hair past it (rounding) is the end."""
    if t > duration + 0.05:
        raise UsageError(f"{ref}: the session is only {format_time(duration, 3)} long")
    return min(t, duration)


def with_marker(records: Iterable[Record], t: float, label: str) -> Iterator[Record]:
    """The records with a marker record at ``t`` (for an asciicast export of a
    moment: players show markers on their timeline)."""
    marker: Record | None = None
    for rec in records:
        if marker is None and rec.t > t:
            marker = Record(rec.seq, t, Stream.MARKER, label.encode(), rec.offset)
            yield marker
        yield rec
    if marker is None:
        yield Record(0, t, Stream.MARKER, label.encode(), 0)
