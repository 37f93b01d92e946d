"""The proxy's recording path off the event loop: ordering, sealing and backlog.

End-to-end sessions through the proxy are in the other proxy tests; these
pin the properties the threaded writer must keep that a session alone
would show only by luck of timing.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from pathlib import Path
from typing import Any

from auditor.proxy.audit_log import AuditLog
from auditor.proxy.record_thread import RecordingThread
from auditor.proxy.recorder import BATCH_BYTES, ChannelRecording, IndexWriter
from auditor.proxy.transports import ChannelTransport, GatheringTransport
from auditor.recording import RecordingReader, RecordingWriter, Stream, decode_exit
from auditor.recording.verify import verify_recording


def test_backlog_is_bounded_and_queueing_waits_for_room() -> None:
    thread = RecordingThread(max_backlog=10)
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        release.wait(5)
        order.append("first")

    thread.submit(first, nbytes=10)
    queued = threading.Event()

    def second() -> None:
        thread.submit(lambda: order.append("second"), nbytes=5)
        queued.set()

    threading.Thread(target=second).start()
    # The first job holds the whole backlog: the second can't even be queued.
    assert not queued.wait(0.3)
    assert thread.backlog == 10
    release.set()
    assert queued.wait(5)
    thread.close()
    assert order == ["first", "second"]
    assert thread.backlog == 0


def test_row_ends_only_once_the_recording_is_sealed(tmp_path: Path) -> None:
    index = IndexWriter(tmp_path)
    audit = AuditLog(tmp_path / "audit.log")
    thread = RecordingThread()
    try:
        session_id = index.index.new_session_id()
        path = index.index.recording_path(session_id)
        writer = RecordingWriter.create(path, {"session_id": session_id})
        index.call("start_session", session_id=session_id, recording_path=str(path)).result()
        seen: list[Any] = []
        ended = threading.Event()

        def on_end() -> None:
            # What a reader finds the moment the row says ended.
            row = index.index.get_session(session_id)
            seen.append((row.status, row.recording_hash, RecordingReader(path).summary()))
            ended.set()

        rec = ChannelRecording(index, session_id, writer, set(), audit, thread, on_end)
        chunk = b"x" * 40_000
        count = 3 * BATCH_BYTES // len(chunk)  # several hand-offs before the end
        for _ in range(count):
            rec.output(chunk)
        rec.stderr(b"warning\n")
        rec.finish(3)
        assert ended.wait(10)
        status, anchor, summary = seen[0]
        assert status == "ended"
        assert summary.sealed
        assert anchor == summary.final_hash
        assert verify_recording(path, anchor).ok
        records = list(RecordingReader(path).records())
        assert [r.stream for r in records] == [Stream.OUTPUT] * count + [
            Stream.STDERR,
            Stream.EXIT,
        ]
        assert decode_exit(records[-1].data)[0] == 3
        assert all(a.t <= b.t for a, b in itertools.pairwise(records))
    finally:
        thread.close()
        audit.close()
        index.close()


class _Chan:
    """Stands in for an asyncssh channel: records writes and closes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 4000)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True


class _Conn:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def connection_made(self, transport: Any) -> None:
        self.events.append(("made", transport.get_extra_info("peername")))

    def data_received(self, data: bytes) -> None:
        self.events.append(("data", data))

    def eof_received(self) -> None:
        self.events.append(("eof",))

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("lost", exc))


def test_channel_transport_keeps_early_bytes_and_gathers_writes() -> None:
    async def run() -> tuple[_Chan, _Conn]:
        chan, conn = _Chan(), _Conn()
        link = ChannelTransport(chan)
        # The client's version line can arrive before the inner server exists.
        link.feed(b"SSH-2.0-OpenSSH\r\n")
        link.feed(b"more")
        link.feed_eof()
        link.attach(conn)
        for part in (b"a" * 100, b"b" * 100, b"c"):
            link.write(part)
        assert chan.writes == []  # gathered until the loop turns
        await asyncio.sleep(0)
        link.write(b"tail")
        link.close()  # what is gathered goes out before the close
        return chan, conn

    chan, conn = asyncio.run(run())
    assert conn.events == [
        ("made", ("127.0.0.1", 4000)),
        ("data", b"SSH-2.0-OpenSSH\r\n"),
        ("data", b"more"),
        ("eof",),
    ]
    assert chan.writes == [b"a" * 100 + b"b" * 100 + b"c", b"tail"]
    assert chan.closed


def test_writes_after_close_are_dropped() -> None:
    async def run() -> _Chan:
        chan = _Chan()
        link = ChannelTransport(chan)
        link.attach(_Conn())
        link.close()
        link.write(b"late")
        await asyncio.sleep(0)
        return chan

    assert asyncio.run(run()).writes == []


def test_gathered_socket_writes_leave_in_one_send_and_before_an_abort() -> None:
    async def run() -> tuple[list[int], bytes]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
        assert isinstance(transport, asyncio.Transport)
        sizes: list[int] = []
        real_write = transport.write

        def counted(data: Any) -> None:
            sizes.append(len(data))
            real_write(data)

        transport.write = counted  # type: ignore[method-assign]
        gathered = GatheringTransport(transport)
        for part in (b"ignore", b"data" * 1000, b"more"):
            gathered.write(part)
        await asyncio.sleep(0)
        # asyncssh's last packet (a disconnect) is followed by abort in the same turn.
        gathered.write(b"bye")
        gathered.abort()
        await asyncio.sleep(0.05)  # the loop closes the aborted socket
        theirs.settimeout(5)
        received = b""
        while chunk := theirs.recv(65536):
            received += chunk
        theirs.close()
        return sizes, received

    sizes, received = asyncio.run(run())
    assert sizes == [6 + 4000 + 4, 3]
    assert received == b"ignore" + b"data" * 1000 + b"more" + b"bye"
