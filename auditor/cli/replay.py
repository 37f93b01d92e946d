"""``auditor replay`` and ``auditor tail``: sessions on the terminal, past and live.

Headless and quick to start: nothing here imports the TUI.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from auditor.cli.context import Context, common_options
from auditor.durations import parse_duration
from auditor.errors import AuditorError, UsageError
from auditor.index import SessionIndex
from auditor.index.rows import Session
from auditor.recording import Record, RecordingReader
from auditor.recording.asciicast import asciicast_lines
from auditor.recording.shown import ShownOutput
from auditor.recording.source import FileSource
from auditor.replay.follow import follow, records_only
from auditor.replay.keyframes import KeyframeIndex, sidecar_path
from auditor.replay.playback import Playback
from auditor.replay.player import Player
from auditor.replay.recorded import recording_keyframes, recording_source
from auditor.replay.remote import Mirrors
from auditor.replay.tail import LiveTail
from auditor.replay.timing import MAX_SPEED, MIN_SPEED, clock
from auditor.replay.transcript import recording_transcript
from auditor.textsafe import visible

FORMATS = ("play", "text", "asciicast")
SLOW_KEYFRAMES = 8 << 20  # a recording this large without keyframes takes a while


def register(sub: Any) -> None:
    common = common_options()
    p = sub.add_parser(
        "replay",
        help="play a session in this terminal (or print it); follows live ones",
        parents=[common],
        description="Keys while playing: space pause/resume, left/right seek 5s, "
        "up/down or +/- speed, . one frame when paused, q quit.",
    )
    p.add_argument(
        "id",
        metavar="ID[@T]",
        help="session ID or a unique prefix; ID@1:23.4 starts there (text: the screen there)",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        dest="fmt",
        help="play (default on a terminal), text (default otherwise) or asciicast",
    )
    p.add_argument("--speed", metavar="X", help="play at X times the recorded pace (default 1)")
    p.add_argument("--max-idle", metavar="S", help="cap pauses at S seconds (2, 1.5s)")
    p.add_argument("--at", metavar="T", help="start at T into the session (90, 1:30, 1m30s)")
    p.add_argument(
        "--no-follow", action="store_true", help="a live session: stop at what exists now"
    )
    p.set_defaults(handler=cmd_replay)

    p = sub.add_parser("tail", help="follow live sessions' output as it happens", parents=[common])
    p.add_argument("--live", action="store_true", help="live sessions (the only kind tail follows)")
    p.add_argument("id", nargs="?", metavar="ID", help="one session (default: every live one)")
    p.set_defaults(handler=cmd_tail)


def parse_speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and MIN_SPEED <= speed <= MAX_SPEED):
        raise UsageError(
            f"--speed: expected a number from {MIN_SPEED:g} to {MAX_SPEED:g} "
            f"(2 is twice as fast); got {text!r}"
        )
    return speed


def parse_at(text: str) -> float:
    """Seconds into the session: ``90``, ``1:30``, ``1:02:03`` or ``1m30s``."""
    s = text.strip()
    if re.fullmatch(r"\d+(?::[0-5]?\d){1,2}(?:\.\d+)?", s):
        seconds = 0.0
        for part in s.split(":"):
            seconds = seconds * 60 + float(part)
        return seconds
    if re.fullmatch(r"0+(?:\.0*)?", s):
        return 0.0
    try:
        return parse_duration(s, "--at")
    except UsageError:
        raise UsageError(
            f"--at: expected a time into the session like 90, 1:30 or 1m30s; got {text!r}"
        ) from None


@contextmanager
def _index(ctx: Context) -> Iterator[SessionIndex]:
    index = ctx.open_index()
    try:
        yield index
    finally:
        index.close()


def _keyframes(reader: RecordingReader) -> KeyframeIndex:
    """The sidecar, built or extended now if the background didn't (an
    imported or old recording); in memory only if it can't be saved."""
    path = reader.path
    local = isinstance(reader.source, FileSource)
    if local and not sidecar_path(path).exists() and reader.source.size() > SLOW_KEYFRAMES:
        print("auditor: indexing the recording for seeking (once)...", file=sys.stderr)
    try:
        return recording_keyframes(reader.source)
    except OSError:
        return KeyframeIndex.build(recording_source(reader)(0.0))


def _still_live(index: SessionIndex, session_id: str) -> Callable[[], bool]:
    return lambda: index.get_session(session_id).live


def cmd_replay(ctx: Context) -> int:
    from auditor import oversight
    from auditor.replay.moment import check_within, parse_moment

    a = ctx.args
    fmt = a.fmt or ("play" if sys.stdout.isatty() else "text")
    speed = parse_speed(a.speed) if a.speed is not None else 1.0
    max_idle = parse_duration(a.max_idle, "--max-idle") if a.max_idle is not None else None
    moment = parse_moment(a.id)
    if moment.t is not None and a.at is not None:
        raise UsageError(f"{a.id}: give the time once, as ID@T or --at, not both")
    if moment.t is not None and fmt == "asciicast":
        raise UsageError(f"{a.id}: a moment is for --format play (starts there) or text")
    at = parse_at(a.at) if a.at is not None else (moment.t or 0.0)
    if fmt != "play":
        given = [
            f for f, v in (("--speed", a.speed), ("--max-idle", a.max_idle), ("--at", a.at)) if v
        ]
        if given:
            raise UsageError(f"{', '.join(given)}: only for --format play")
    elif not sys.stdout.isatty():
        raise AuditorError(
            "--format play needs a terminal; use --format text to print the transcript"
        )
    with _index(ctx) as index, Mirrors(index) as mirrors:
        session = index.get_session(moment.session)
        reader = mirrors.reader(session)  # another machine's live one: mirrored
        live = session.live and not a.no_follow
        still_live = _still_live(index, session.id)
        if moment.t is not None and not live:  # a moment past the end: no replay, no view
            check_within(moment.t, reader.summary().duration, a.id)
        oversight.viewed(index, ctx.data_dir, session.id, "replay", moment.t)
        if fmt == "text" and moment.t is not None:
            _print_screen(reader, session, moment.t, a.id)
        elif fmt == "text":
            _print_text(reader, live, still_live)
        elif fmt == "asciicast":
            _print_asciicast(reader, session, live, still_live)
        else:
            _play(reader, session, live, still_live, speed=speed, max_idle=max_idle, at=at)
    return 0


def _records(
    reader: RecordingReader, live: bool, still_live: Callable[[], bool]
) -> Iterator[Record]:
    """The recording's records; a live one's as they come."""
    if live:
        return records_only(follow(reader, 0.0, still_live=still_live))
    return reader.records()


def _print_text(reader: RecordingReader, live: bool, still_live: Callable[[], bool]) -> None:
    out = sys.stdout
    for line in recording_transcript(_records(reader, live, still_live)):
        out.write(line + "\n")
        if live:
            out.flush()


def _print_screen(reader: RecordingReader, session: Session, t: float, given: str) -> None:
    """The screen as it was at ``t``: what a moment cites, as text."""
    from auditor.replay.emulator import render_line
    from auditor.replay.moment import check_within

    playback = Playback(reader, _keyframes(reader))
    playback.seek(check_within(t, playback.duration, given))
    screen = playback.terminal.screen
    rows = screen.lines
    lines = [render_line(screen.buffer.get(y), screen.columns).rstrip() for y in range(rows)]
    while lines and not lines[-1]:
        lines.pop()
    for line in lines:
        sys.stdout.write(visible(line) + "\n")


def _print_asciicast(
    reader: RecordingReader, session: Session, live: bool, still_live: Callable[[], bool]
) -> None:
    meta = {"login": session.login, "node": session.node, **reader.meta}
    out = sys.stdout
    shown = ShownOutput().records(_records(reader, live, still_live))
    for line in asciicast_lines(shown, meta):
        out.write(line + "\n")
        if live:
            out.flush()


def _play(
    reader: RecordingReader,
    session: Session,
    live: bool,
    still_live: Callable[[], bool],
    *,
    speed: float,
    max_idle: float | None,
    at: float,
) -> None:
    playback = Playback(
        reader,
        _keyframes(reader),
        live=live,
        still_live=still_live if live else None,
        speed=speed,
        max_idle=max_idle,
    )
    if at > playback.duration:
        raise UsageError(f"--at {clock(at)}: the session is only {clock(playback.duration)} long")
    sys.stdout.flush()
    player = Player(
        playback,
        out_fd=sys.stdout.fileno(),
        in_fd=sys.stdin.fileno() if sys.stdin.isatty() else None,
        name=session.id[:8],
    )
    player.run(at)


def cmd_tail(ctx: Context) -> int:
    raw = sys.stdout.isatty()
    out = sys.stdout.buffer
    from auditor import oversight

    with _index(ctx) as index:

        def watched(session: Session) -> None:
            oversight.viewed(index, ctx.data_dir, session.id, "tail")

        tail = LiveTail(index, out, session_id=ctx.args.id, raw=raw, on_follow=watched)
        if tail.named:
            note = f"following session {tail.named[:8]} until it ends"
        elif tail.followed:
            n = len(tail.followed)
            note = f"following {n} live session{'s' if n > 1 else ''} and any new ones"
        else:
            note = "no live sessions yet; waiting for some"
        print(f"auditor: {note} (Ctrl-C to stop)", file=sys.stderr)
        try:
            ended = tail.run()
        except KeyboardInterrupt:
            ended = None
        finally:
            tail.restore()
    if ended:
        print(f"\nauditor: session {ended[:8]} ended", file=sys.stderr)
    return 0
