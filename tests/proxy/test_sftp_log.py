"""SFTP operations are read off the wire without keeping file contents."""

from __future__ import annotations

import struct
from typing import Any

from auditor.proxy.sftp_log import SftpLog


def s(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def pkt(kind: int, body: bytes) -> bytes:
    return struct.pack(">IB", len(body) + 1, kind) + body


class Sink:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.counts = [0, 0]

    def event(self, text: str) -> None:
        self.events.append(text)

    def count(self, bytes_in: int = 0, bytes_out: int = 0) -> None:
        self.counts[0] += bytes_in
        self.counts[1] += bytes_out


def test_put_and_rename_are_logged_with_byte_counts_even_when_split() -> None:
    sink, audit = Sink(), []

    def record(event: str, **fields: Any) -> None:
        audit.append((event, fields))

    log = SftpLog(sink, record)
    u32 = lambda n: struct.pack(">I", n)  # noqa: E731
    client = b"".join(
        [
            pkt(1, u32(3)),
            pkt(3, u32(1) + s(b"/tmp/up.bin") + u32(0x1A) + u32(0)),
            pkt(6, u32(2) + s(b"H1") + struct.pack(">Q", 0) + s(b"x" * 5000)),
            pkt(6, u32(3) + s(b"H1") + struct.pack(">Q", 5000) + s(b"y" * 3000)),
            pkt(4, u32(4) + s(b"H1")),
            pkt(18, u32(5) + s(b"/tmp/up.bin") + s(b"/tmp/final.bin")),
        ]
    )
    server = pkt(2, u32(3)) + pkt(102, u32(1) + s(b"H1"))
    opened = len(pkt(1, u32(3)) + pkt(3, u32(1) + s(b"/tmp/up.bin") + u32(0x1A) + u32(0)))
    for i in range(0, len(client), 7):  # arbitrary splits across packets
        log.from_client(client[i : min(i + 7, opened) if i < opened else i + 7])
        if i < opened <= i + 7:
            log.from_client(client[opened : i + 7])
            log.from_server(server)
    assert "sftp put path=/tmp/up.bin bytes=8000" in sink.events
    assert "sftp rename path=/tmp/up.bin to=/tmp/final.bin" in sink.events
    assert ("sftp", {"op": "put", "path": "/tmp/up.bin", "bytes": 8000}) in audit
    assert sink.counts == [len(client), len(server)]


def test_garbage_stops_parsing_but_not_counting() -> None:
    sink = Sink()
    log = SftpLog(sink, lambda *a, **k: None)
    log.from_client(b"\xff" * 100)
    log.from_client(b"more")
    assert sink.counts[0] == 104
    assert sink.events == []


def test_openssh_renames_and_hardlinks_by_extension_are_logged() -> None:
    sink = Sink()
    log = SftpLog(sink, lambda *a, **k: None)
    u32 = lambda n: struct.pack(">I", n)  # noqa: E731
    ext = lambda rid, name, a, b: pkt(200, u32(rid) + s(name) + s(a) + s(b))  # noqa: E731
    log.from_client(ext(7, b"posix-rename@openssh.com", b"/tmp/a", b"/tmp/b"))
    log.from_client(ext(8, b"hardlink@openssh.com", b"/tmp/b", b"/tmp/c"))
    log.from_client(pkt(200, u32(9) + s(b"statvfs@openssh.com") + s(b"/tmp")))
    assert sink.events == [
        "sftp rename path=/tmp/a to=/tmp/b",
        "sftp hardlink path=/tmp/b to=/tmp/c",
    ]
