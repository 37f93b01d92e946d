"""``auditor tail --live``: live sessions' output as it arrives, from any process.

Everything comes from the data directory: the index says which sessions
are live (checked every ``SCAN_INTERVAL``, so sessions that start later are
picked up) and each recording is followed from where it was when tail
started (or from its beginning for a session that started since). On a
terminal the output is written as it was recorded, colours and all; into a
pipe it is the session's transcript, the lines ``auditor replay --format
text`` prints (``auditor.replay.transcript``), each given out once the cursor
has left it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from auditor.errors import AuditorError
from auditor.index import SessionIndex
from auditor.index.rows import Session
from auditor.recording import RecordingError, RecordingReader, Stream, decode_resize
from auditor.recording.escapes import ESCAPE, split_pending
from auditor.recording.shown import SHOWN_STREAMS, ShownOutput, had_pty
from auditor.replay.follow import POLL_INTERVAL, Follower
from auditor.replay.player import ALT_SWITCH, RESTORE
from auditor.replay.recorded import WITHHELD_SHOWN, replay_record
from auditor.replay.redraw import LEAVE_ALT
from auditor.replay.remote import FIRST_WAIT, Mirrors
from auditor.replay.transcript import Transcript
from auditor.textsafe import visible

SCAN_INTERVAL = 0.5
# Every whole sequence, and a stray ESC none starts (it must not reach the terminal).
_SEQUENCE = re.compile(ESCAPE.pattern + rb"|\x1b")
_CONTROLS = re.compile(rb"[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")


class ColouredLines:
    """Output with colours (SGR) kept and every other control sequence
    dropped; an escape sequence cut between two reads is carried over."""

    def __init__(self) -> None:
        self.carry = b""

    def feed(self, data: bytes) -> bytes:
        buf = self.carry + data
        self.carry = b""
        buf, self.carry = split_pending(buf)
        buf = _SEQUENCE.sub(_keep_colour, buf)
        return _CONTROLS.sub(b"", buf)


def _keep_colour(m: re.Match[bytes]) -> bytes:
    seq = m.group()
    return seq if seq.startswith(b"\x1b[") and seq.endswith(b"m") else b""


def _size_now(reader: RecordingReader) -> tuple[int, int]:
    """The pty's size so far (the last resize), for a transcript that starts
    part-way through: long lines wrap where they wrapped on the user's screen."""
    cols, rows = 80, 24
    for record in reader.records():
        if record.stream is Stream.RESIZE:
            cols, rows = decode_resize(record.data)
    return cols, rows


@dataclass
class Followed:
    session: Session
    follower: Follower
    shown: ShownOutput
    transcript: Transcript | None = None
    colours: ColouredLines | None = None
    label: str = field(init=False)

    def __post_init__(self) -> None:
        s = self.session
        target = f"{s.login or '?'}@{s.node}" if s.node else (s.command or s.kind or "session")
        who = f"{s.user} " if s.user else ""
        # The header is ours, around the audited side's names: their controls as escapes.
        self.label = visible(f"{s.id[:8]} {who}{target}")


class LiveTail:
    def __init__(
        self,
        index: SessionIndex,
        out: BinaryIO,
        *,
        session_id: str | None = None,
        raw: bool,
        on_follow: Callable[[Session], None] | None = None,
    ) -> None:
        self.index = index
        self.on_follow = on_follow  # each session as tail starts to show it (who watched whom)
        self.out = out
        self.raw = raw
        self.named: str | None = None
        self.followed: dict[str, Followed] = {}
        self.seen: set[str] = set()
        self.source: str | None = None  # the session whose output was written last
        self.at_line_start = True
        self.alternate = False  # a named session's program left the terminal there
        self.mirrors = Mirrors(index)  # live sessions of other machines (a shared index)
        if session_id is not None:
            session = index.get_session(session_id)
            if not session.live:
                short = session.id[:8]
                raise AuditorError(
                    f"session {short} is not live ({session.status}): "
                    f"see it with `auditor replay {short}`"
                )
            self.named = session.id
            self._add(session, from_start=False)
        else:
            for session in index.live_sessions():
                self._add(session, from_start=False)

    def _add(self, session: Session, from_start: bool) -> None:
        if not session.recording_path:
            self.seen.add(session.id)
            return  # a node-mode pipe: nothing recorded
        try:
            # Following every live session: none waits for its proxy; the next scan looks again.
            reader = self.mirrors.reader(session, wait=FIRST_WAIT if self.named else 0.0)
            follower = Follower.from_time(reader, 0.0) if from_start else Follower.from_end(reader)
        except (RecordingError, OSError):
            if self.named:
                raise
            return  # the proxy has not written its header yet: next scan
        self.seen.add(session.id)
        transcript = None
        if not self.raw:
            cols, rows = (80, 24) if from_start else _size_now(reader)
            transcript = Transcript(cols, rows)
        colours = ColouredLines() if self.raw and self.named is None else None
        shown = ShownOutput(had_pty(reader))
        self.followed[session.id] = Followed(session, follower, shown, transcript, colours)
        if self.on_follow is not None:
            self.on_follow(session)

    def _write(self, followed: Followed, data: bytes) -> None:
        if followed.colours is not None:
            data = followed.colours.feed(data)
        elif switches := ALT_SWITCH.findall(data):
            self.alternate = switches[-1] == b"h"
        self._emit(followed, data)

    def _write_lines(self, followed: Followed, lines: list[str]) -> None:
        self._emit(followed, "".join(line + "\n" for line in lines).encode())

    def _emit(self, followed: Followed, data: bytes) -> None:
        if not data:
            return
        if self.named is None and self.source != followed.session.id:
            header = f"==> {followed.label} <=="
            if self.raw:
                header = f"\x1b[0m\x1b[1m{header}\x1b[0m\r"
            self.out.write((("" if self.at_line_start else "\n") + header + "\n").encode())
        self.source = followed.session.id
        self.out.write(data)
        self.at_line_start = data.endswith(b"\n")

    def _finish(self, followed: Followed) -> None:
        if followed.transcript is not None:
            self._write_lines(followed, followed.transcript.finish())
        del self.followed[followed.session.id]

    def _poll(self, followed: Followed, force: bool = False) -> None:
        records = followed.follower.poll(force)
        transcript = followed.transcript
        if transcript is not None:  # into a pipe: what replay --format text prints
            lines: list[str] = []
            for record in records:
                item = replay_record(followed.shown(record))
                if item is not None:
                    lines += transcript.feed(item)
            self._write_lines(followed, lines + transcript.settle())
            return
        for record in records:
            record = followed.shown(record)
            if record.stream in SHOWN_STREAMS:
                self._write(followed, record.data)
            elif record.stream is Stream.WITHHELD:  # a password typed: where, not what
                self._write(followed, WITHHELD_SHOWN)

    def _scan(self) -> None:
        live = {s.id: s for s in self.index.live_sessions()}
        if self.named is None:
            for session in live.values():
                if session.id not in self.seen:
                    self._add(session, from_start=True)
        for sid, followed in list(self.followed.items()):
            if sid not in live:  # ended without a seal (a proxy that died), or just ended
                self._poll(followed, force=True)
                self._finish(followed)

    def step(self) -> bool:
        """One poll of every followed session; False once the named session ended."""
        for followed in list(self.followed.values()):
            self._poll(followed)
            if followed.follower.sealed:
                self._finish(followed)
        self.out.flush()
        return self.named is None or self.named in self.followed

    def restore(self) -> None:
        """Leave the user's terminal as a named session's programs may not have."""
        self.mirrors.close()
        if self.raw:
            self.out.write((LEAVE_ALT if self.alternate else b"") + RESTORE)
        self.out.flush()

    def run(self) -> str | None:
        """Until interrupted, or until the named session ends (returns its id)."""
        scanned = 0.0
        while True:
            if not self.step():
                return self.named
            now = time.monotonic()
            if now - scanned >= SCAN_INTERVAL:
                scanned = now
                self._scan()
                if not self.step():
                    return self.named
            time.sleep(POLL_INTERVAL)
