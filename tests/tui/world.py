"""A real data directory for the TUI tests: recordings on disk, rows in the index.

Fixed ids and times, so snapshots come out the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditor.index import FailureKind, SessionIndex
from auditor.recording import RecordingWriter, Stream, encode_exit, encode_resize
from auditor.upkeep.text_extraction import extract_text

NOW = 1_750_000_000.0  # the tests' clock: 2025-06-15 15:06:40 UTC
ESC = b"\x1b"


def shell_output() -> list[tuple[float, Stream, bytes]]:
    return [
        (0.0, Stream.RESIZE, encode_resize(60, 12)),
        (0.2, Stream.OUTPUT, b"\x1b[1;32mjoe@web1\x1b[0m:\x1b[1;34m~\x1b[0m$ "),
        (1.0, Stream.INPUT, b"ls --color\r"),
        (
            1.1,
            Stream.OUTPUT,
            b"ls --color\r\n\x1b[1;34mbin\x1b[0m  \x1b[31mcore\x1b[0m  notes.txt\r\n",
        ),
        (1.2, Stream.OUTPUT, b"\x1b[1;32mjoe@web1\x1b[0m:\x1b[1;34m~\x1b[0m$ "),
        (3.0, Stream.OUTPUT, b"cat /etc/hostname\r\nweb1.example.com\r\n"),
        (3.1, Stream.OUTPUT, b"\x1b[1;32mjoe@web1\x1b[0m:\x1b[1;34m~\x1b[0m$ "),
        (5.0, Stream.OUTPUT, b"echo secret-token-42\r\nsecret-token-42\r\n"),
        (6.0, Stream.EXIT, encode_exit(0)),
    ]


def vim_output() -> list[tuple[float, Stream, bytes]]:
    screen = b"".join(b"\x1b[%d;1H~" % (y + 1) for y in range(1, 10))
    return [
        (0.0, Stream.RESIZE, encode_resize(60, 12)),
        (0.1, Stream.OUTPUT, b"$ vim notes.txt\r\n"),
        (0.5, Stream.OUTPUT, b"\x1b[?1049h\x1b[H\x1b[2J" + b"\x1b[1;1Hhello from vim" + screen),
        (0.6, Stream.OUTPUT, b"\x1b[12;1H\x1b[7m-- INSERT --\x1b[0m"),
        (2.0, Stream.OUTPUT, b"\x1b[?1049l"),
        (2.1, Stream.OUTPUT, b"$ "),
    ]


@dataclass
class World:
    data_dir: Path
    shell: str = "a1" * 16
    vim: str = "b2" * 16
    failed: str = "c3" * 16
    live: str = "d4" * 16


def write_recording(
    index: SessionIndex, session_id: str, records: list[tuple[float, Stream, bytes]]
) -> Path:
    path = index.recording_path(session_id)
    with RecordingWriter.create(path, {"session_id": session_id, "start": NOW}) as w:
        for t, stream, data in records:
            w.append(stream, data, t)
    return path


def build_world(data_dir: Path, *, live: bool = True, uri: str | None = None) -> World:
    """Three ended sessions, one live one (its recording open), failures of two kinds;
    in the index ``uri`` names (``storage.audit_events_uri``), SQLite without one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    world = World(data_dir)
    with SessionIndex.open(data_dir, uri=uri) as index:
        rows = [
            (world.shell, "joe", "joe", "web1.example.com", None, shell_output(), 0, NOW - 3600),
            (world.vim, "ann", "root", "db.example.com", None, vim_output(), 0, NOW - 1800),
            (
                world.failed,
                "joe",
                "deploy",
                "web2.example.com",
                "make deploy",
                [
                    (0.0, Stream.MARKER, b"make deploy"),
                    (0.3, Stream.STDERR, b"make: *** No rule to make target 'deploy'.  Stop.\n"),
                    (0.4, Stream.EXIT, encode_exit(2)),
                ],
                2,
                NOW - 600,
            ),
        ]
        for sid, user, login, node, command, records, exit_status, start in rows:
            path = write_recording(index, sid, records)
            index.start_session(
                sid,
                user=user,
                login=login,
                node=node,
                port=22,
                kind="session",
                command=command,
                start=start,
                recording_path=str(path),
                bytes_out=sum(len(d) for _, s, d in records if s == Stream.OUTPUT),
            )
            index.end_session(sid, exit_status=exit_status, end=start + records[-1][0])
            extract_text(index, sid)
        if live:
            path = index.recording_path(world.live)
            w = RecordingWriter.create(path, {"session_id": world.live, "start": NOW - 90})
            w.append(Stream.RESIZE, encode_resize(60, 12), 0.0)
            w.append(Stream.OUTPUT, b"tail -f /var/log/app.log\r\nstarted\r\n", 0.5)
            w.flush()
            w.close()
            index.start_session(
                world.live,
                user="ann",
                login="ann",
                node="web1.example.com",
                port=22,
                kind="session",
                start=NOW - 90,
                recording_path=str(path),
                bytes_out=1234,
            )
        for i in range(3):
            index.record_failure(
                FailureKind.MAXSTARTUPS,
                "node.example.com:22 dropped the connection (Exceeded MaxStartups) "
                f"after {i + 1} retries",
                id=f"f{i}" * 8,
                time=NOW - 3000 + i * 600,
                node="node.example.com",
                port=22,
                user="joe",
                login="joe",
                retries=i + 1,
                detail="kex_exchange_identification: Exceeded MaxStartups",
            )
        index.record_failure(
            FailureKind.HOST_CERT_MISSING,
            "ssh: handshake failed: remote host presented a public key, "
            "expected a host certificate",
            id="e" * 32,
            time=NOW - 120,
            node="legacy.example.com",
            port=22,
            user="ann",
            login="root",
            detail="host key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample",
        )
    return world
