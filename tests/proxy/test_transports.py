"""The transports under the proxy's connections: nothing lost, fewer writes.

End-to-end sessions through the proxy are in the other proxy tests; these
pin what those show only by luck of timing: bytes that arrive early, the
last packet before an abort, which packets are skipped.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from asyncssh.connection import SSHServerConnection
from asyncssh.constants import MSG_CHANNEL_DATA, MSG_IGNORE
from asyncssh.encryption import GCMEncryption
from asyncssh.packet import String

from auditor.proxy.sshserver import AuditedServerConnection
from auditor.proxy.transports import ChannelTransport, GatheringTransport


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


def test_empty_ignore_packets_are_skipped_under_gcm_only(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []

    def record(self: Any, pkttype: int, *args: bytes, handler: Any = None) -> None:
        sent.append(pkttype)

    monkeypatch.setattr(SSHServerConnection, "send_packet", record)
    conn: Any = object.__new__(AuditedServerConnection)
    conn._send_encryption = object.__new__(GCMEncryption)
    conn.send_packet(MSG_IGNORE, String(b""))
    conn.send_packet(MSG_CHANNEL_DATA, String(b"x"))
    conn.send_packet(MSG_IGNORE, String(b"chaff"))  # one asked for on purpose goes out
    conn._send_encryption = None  # before keys, or with another cipher: untouched
    conn.send_packet(MSG_IGNORE, String(b""))
    assert sent == [MSG_CHANNEL_DATA, MSG_IGNORE, MSG_IGNORE]
