"""The transports and send path under the proxy's connections: nothing lost, fewer writes.

End-to-end sessions through the proxy are in the other proxy tests; these
pin what those show only by luck of timing: bytes that arrive early, the
last packet before an abort, which packets are skipped.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

import pytest
from asyncssh.connection import SSHConnection, SSHServerConnection
from asyncssh.constants import MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA, MSG_IGNORE
from asyncssh.encryption import get_encryption
from asyncssh.logging import logger as asyncssh_logger
from asyncssh.packet import String, UInt32

from auditor.proxy import gcm_send
from auditor.proxy.gcm_send import send_channel_data
from auditor.proxy.sshserver import AuditedServerConnection
from auditor.proxy.transports import (
    EARLY_BYTES,
    OUTER_PACKET,
    ChannelTransport,
    GatheringTransport,
)


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
    to_asyncssh: list[int] = []

    def record(self: Any, pkttype: int, *args: bytes, handler: Any = None) -> None:
        to_asyncssh.append(pkttype)

    monkeypatch.setattr(SSHServerConnection, "send_packet", record)
    wire: list[bytes] = []
    conn = _established(object.__new__(AuditedServerConnection), wire)
    conn.send_packet(MSG_IGNORE, String(b""))
    conn.send_packet(MSG_CHANNEL_DATA, UInt32(3), String(b"x"))  # the short path
    conn.send_packet(MSG_IGNORE, String(b"chaff"))  # one asked for on purpose goes out
    conn._send_encryption = None  # before keys, or with another cipher: untouched
    conn.send_packet(MSG_IGNORE, String(b""))
    assert to_asyncssh == [MSG_IGNORE, MSG_IGNORE]
    assert len(wire) == 1


def _established(conn: Any, sent: list[bytes]) -> Any:
    """An AES-GCM connection past key exchange and auth, as far as sending goes."""

    class Wire:
        def write(self, data: bytes) -> None:
            sent.append(data)

    conn._transport = Wire()
    conn._send_encryption = get_encryption(b"aes128-gcm@openssh.com", b"k" * 16, b"i" * 12)
    conn._send_blocksize = 16
    conn._send_enchdrlen = 5
    conn._send_seq = 41
    conn._compressor = None
    conn._kex_complete = conn._auth_complete = True
    conn._kexinit_sent = conn._auth_in_progress = conn._strict_kex = False
    conn._deferred_packets = []
    conn._rekey_bytes, conn._rekey_bytes_sent = 1 << 30, 0
    conn._rekey_seconds, conn._rekey_time = 3600, time.monotonic() + 3600
    conn._logger = asyncssh_logger  # what log_sent_packet writes to
    return conn


@pytest.mark.parametrize("pkttype", [MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA])
def test_short_data_path_puts_the_same_bytes_on_the_wire(
    monkeypatch: pytest.MonkeyPatch, pkttype: int
) -> None:
    # The same padding both ways: asyncssh's from os.urandom, ours from its pool.
    monkeypatch.setattr(os, "urandom", lambda n: bytes(range(n)))
    monkeypatch.setattr(gcm_send._padding, "take", lambda n: bytes(range(n)))
    args = (
        (UInt32(3), String(b"x" * 32768))
        if pkttype == MSG_CHANNEL_DATA
        else (UInt32(3), UInt32(1), String(b"e" * 1000))
    )
    ours: list[bytes] = []
    theirs: list[bytes] = []
    fast = _established(object.__new__(AuditedServerConnection), ours)
    plain = _established(object.__new__(AuditedServerConnection), theirs)
    for _ in range(3):  # the IV and sequence number advance alike
        assert send_channel_data(fast, pkttype, args, None)
        SSHConnection.send_packet(plain, pkttype, *args)
    assert ours == theirs
    assert fast._send_seq == plain._send_seq == 44
    assert fast._rekey_bytes_sent == plain._rekey_bytes_sent


def test_padding_comes_from_a_pool_not_a_system_call_per_packet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []

    def urandom(n: int) -> bytes:
        calls.append(n)
        return bytes(n)

    monkeypatch.setattr(os, "urandom", urandom)
    monkeypatch.setattr(gcm_send, "_padding", gcm_send._Padding())
    conn = _established(object.__new__(AuditedServerConnection), [])
    for _ in range(200):
        assert send_channel_data(conn, MSG_CHANNEL_DATA, (UInt32(3), String(b"x" * 100)), None)
    assert calls == [gcm_send.POOL]  # 200 packets' padding, each byte used once


def test_short_data_path_leaves_key_exchange_and_other_packets_to_asyncssh() -> None:
    conn = _established(object.__new__(AuditedServerConnection), [])
    assert not send_channel_data(conn, MSG_IGNORE, (String(b""),), None)
    conn._rekey_bytes_sent = conn._rekey_bytes  # a rekey is due: asyncssh starts it
    assert not send_channel_data(conn, MSG_CHANNEL_DATA, (UInt32(3), String(b"x")), None)
    conn._rekey_bytes_sent = 0
    conn._kex_complete = False
    assert not send_channel_data(conn, MSG_CHANNEL_DATA, (UInt32(3), String(b"x")), None)


def test_bulk_goes_out_in_whole_outer_packets_without_waiting_for_the_turn() -> None:
    async def run() -> tuple[list[bytes], list[bytes]]:
        chan = _Chan()
        link = ChannelTransport(chan)
        link.attach(_Conn())
        inner_packet = b"p" * (OUTER_PACKET + 40)  # an inner packet: data plus its header
        for _ in range(EARLY_BYTES // len(inner_packet) + 1):
            link.write(inner_packet)
        sent_before_turn = list(chan.writes)
        await asyncio.sleep(0)
        return sent_before_turn, chan.writes

    early, everything = asyncio.run(run())
    assert len(early) == 1 and len(early[0]) % OUTER_PACKET == 0  # whole packets, at once
    total = (EARLY_BYTES // (OUTER_PACKET + 40) + 1) * (OUTER_PACKET + 40)
    assert sum(map(len, everything)) == total  # the remainder at the turn's end
