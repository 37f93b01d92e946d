"""A data directory written by the people being audited, at their most hostile.

Markup in typed commands and node names, terminal controls (OSC, BEL, ESC)
and a right-to-left override in an exec request, a login and a failure's
detail: the TUI and the CLI must show all of it as the data it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditor.index import FailureKind, SessionIndex
from auditor.recording import RecordingWriter, Stream, encode_exit, encode_resize
from auditor.upkeep.command_extraction import extract_pending_commands
from auditor.upkeep.text_extraction import extract_text
from tests.tui.world import NOW

USER = "mal[/]lory"
LOGIN = "\x1b]2;o\x07"  # an OSC that would retitle the auditor's terminal
NODE = "[i]db1[/i]"
TYPED = "echo '[black on black]' ; rm -rf /tmp/x"  # Rich markup would hide the rm
PS1 = r"export PS1='\[\e[1;32m\]\u@\h\$ '"  # markup would eat every backslash before [
PRINTED = "[red]kumquat[/red] \\[done\\]"
EXEC = "printf '\x1b]2;owned\x07' # \u202egnp.exe"  # OSC/BEL, then a right-to-left override
MESSAGE = "handshake failed: [black on black]hidden \x1b[8mconcealed"
DETAIL = "client SSH-2.0-\x1b]8;;https://evil.example\x07click\u202e"
LIVE_USER = "[link=https://evil.example]eve[/link]"


@dataclass
class Hostile:
    data_dir: Path
    shell: str = "a5" * 16
    exec: str = "b6" * 16
    live: str = "c7" * 16
    failure: str = "d8" * 16


def _record(index: SessionIndex, sid: str, records: list[tuple[float, Stream, bytes]]) -> str:
    path = index.recording_path(sid)
    with RecordingWriter.create(path, {"session_id": sid, "start": NOW}) as w:
        for t, stream, data in records:
            w.append(stream, data, t)
    return str(path)


def build_hostile(data_dir: Path, *, live: bool = True) -> Hostile:
    data_dir.mkdir(parents=True, exist_ok=True)
    h = Hostile(data_dir)
    with SessionIndex.open(data_dir) as index:
        shell = [
            (0.0, Stream.RESIZE, encode_resize(100, 12)),
            (0.1, Stream.OUTPUT, b"$ "),
            (1.0, Stream.INPUT, TYPED.encode() + b"\r"),
            (1.1, Stream.OUTPUT, TYPED.encode() + b"\r\n[black on black]\r\n$ "),
            (2.0, Stream.INPUT, PS1.encode() + b"\r"),
            (2.1, Stream.OUTPUT, PS1.encode() + b"\r\n$ "),
            (3.0, Stream.OUTPUT, PRINTED.encode() + b"\r\n$ "),
            (4.0, Stream.EXIT, encode_exit(0)),
        ]
        index.start_session(
            h.shell,
            user=USER,
            login=LOGIN,
            node=NODE,
            port=22,
            kind="session",
            start=NOW - 600,
            recording_path=_record(index, h.shell, shell),
        )
        index.end_session(h.shell, exit_status=0, end=NOW - 596)
        extract_text(index, h.shell)
        exec_records = [
            (0.0, Stream.MARKER, b"exec " + EXEC.encode()),
            (0.5, Stream.OUTPUT, b"done\n"),
            (0.6, Stream.EXIT, encode_exit(0)),
        ]
        index.start_session(
            h.exec,
            user=USER,
            login=LOGIN,
            node=NODE,
            port=22,
            kind="session",
            command=EXEC,
            start=NOW - 300,
            recording_path=_record(index, h.exec, exec_records),
        )
        index.end_session(h.exec, exit_status=0, end=NOW - 299)
        extract_text(index, h.exec)
        extract_pending_commands(index)
        if live:
            live_records = [(0.0, Stream.RESIZE, encode_resize(60, 12))]
            index.start_session(
                h.live,
                user=LIVE_USER,
                login=LOGIN,
                node=NODE,
                port=22,
                kind="session",
                start=NOW - 30,
                recording_path=_record(index, h.live, live_records),
            )
        index.record_failure(
            FailureKind.HOST_CERT_MISSING,
            MESSAGE,
            id=h.failure,
            time=NOW - 120,
            node=NODE,
            port=22,
            user=USER,
            login=LOGIN,
            detail=DETAIL,
        )
    return h
