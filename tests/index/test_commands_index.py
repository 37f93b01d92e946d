"""Commands in the index, on both engines: read once a session ends, filtered, searched."""

from __future__ import annotations

import time

from auditor.index import SessionIndex
from auditor.recording import RecordingWriter, Stream, encode_resize
from auditor.upkeep.command_extraction import extract_pending_commands


def bash_session(index: SessionIndex, user: str, node: str, lines: list[str]) -> str:
    """A pty session whose shell echoes each typed line and prompts again."""
    sid = index.new_session_id()
    path = index.recording_path(sid)
    with RecordingWriter.create(path, {"session_id": sid}) as w:
        w.append(Stream.RESIZE, encode_resize(80, 24), 0.0)
        w.append(Stream.MARKER, b"shell", 0.0)
        w.append(Stream.OUTPUT, b"$ ", 0.1)
        for i, line in enumerate(lines, 1):
            w.append(Stream.INPUT, line.encode() + b"\r", float(i))
            w.append(Stream.OUTPUT, line.encode() + b"\r\nok\r\n$ ", i + 0.1)
    index.start_session(
        session_id=sid, user=user, login="root", node=node, recording_path=str(path)
    )
    return sid


def test_commands_are_read_when_a_session_ends_and_found_again(index: SessionIndex) -> None:
    start = time.time()
    a = bash_session(index, "joe", "db1.example.com", ["uptime", "rm -rf /tmp/cache"])
    b = bash_session(index, "ann", "web1.example.com", ["systemctl restart nginx"])
    assert index.pending_commands() == []  # live: not read yet
    index.end_session(a, exit_status=0)
    index.end_session(b, exit_status=0)
    assert sorted(index.pending_commands()) == sorted([a, b])
    assert extract_pending_commands(index) == 3
    assert index.pending_commands() == []

    newest_first = index.commands()
    # By when they ran: start of the session plus the offset.
    assert [c.line for c in newest_first] == [
        "rm -rf /tmp/cache",
        "systemctl restart nginx",
        "uptime",
    ]
    rm = newest_first[0]
    assert (rm.session_id, rm.t, rm.context, rm.user, rm.login, rm.node) == (
        a,
        2.0,
        "$",
        "joe",
        "root",
        "db1.example.com",
    )
    assert rm.time >= start
    assert [c.line for c in index.commands(user="joe")] == ["rm -rf /tmp/cache", "uptime"]
    assert [c.line for c in index.commands(node="web1.example.com")] == ["systemctl restart nginx"]
    assert [c.line for c in index.commands(search="rm -rf")] == ["rm -rf /tmp/cache"]
    assert [c.line for c in index.commands(search="/tmp/cach*")] == ["rm -rf /tmp/cache"]
    assert index.commands(search="reboot") == []
    assert [c.line for c in index.commands(session_id=a)] == ["uptime", "rm -rf /tmp/cache"]
    assert index.commands(since=time.time() + 60) == []

    # Read again (an index rebuilt): replaced, not doubled.
    index.store_commands(a, index.commands(session_id=a))
    assert len(index.commands(user="joe")) == 2
