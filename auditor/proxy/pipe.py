"""Byte pipes between an SSH channel and a socket, with backpressure both ways.

Used for the outer ``proxy:`` subsystem when not recording (straight to the
node's TCP port; in recording mode the channel is the inner server's
transport, ``transports.ChannelTransport``) and for the hop through a
trusted cluster's proxy. Bytes that arrive before the
socket side is connected are queued, not lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncssh


class ChannelSocketPipe(asyncssh.SSHClientSession[bytes], asyncssh.SSHServerSession[bytes]):
    """Acts as the asyncssh session of ``chan`` and as the protocol of a socket."""

    def __init__(self, on_close: Callable[[], None] | None = None) -> None:
        self.chan: Any = None
        self.transport: asyncio.Transport | None = None
        self.queue: list[bytes] = []
        self.eof_queued = False
        self.on_close = on_close
        self.closed = False
        self.bytes_up = 0  # channel → socket
        self.bytes_down = 0  # socket → channel

    # asyncssh session side
    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def session_started(self) -> None:
        pass

    def data_received(self, data: bytes, datatype: int | None = None) -> None:
        self.bytes_up += len(data)
        if self.transport is None:
            self.queue.append(data)
        else:
            self.transport.write(data)

    def eof_received(self) -> bool:
        if self.transport is None:
            self.eof_queued = True
        elif self.transport.can_write_eof():
            self.transport.write_eof()
        return True

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    # socket side, via SocketSide
    def attach(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        for data in self.queue:
            transport.write(data)
        self.queue.clear()
        if self.eof_queued and transport.can_write_eof():
            transport.write_eof()

    def from_socket(self, data: bytes) -> None:
        self.bytes_down += len(data)
        if self.chan is not None:
            self.chan.write(data)

    def socket_eof(self) -> None:
        if self.chan is not None:
            self.chan.write_eof()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        if self.chan is not None:
            self.chan.close()
        if self.on_close:
            self.on_close()


class SocketSide(asyncio.Protocol):
    def __init__(self, pipe: ChannelSocketPipe) -> None:
        self.pipe = pipe

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.pipe.attach(transport)

    def data_received(self, data: bytes) -> None:
        self.pipe.from_socket(data)

    def eof_received(self) -> bool:
        self.pipe.socket_eof()
        return True

    def pause_writing(self) -> None:
        if self.pipe.chan is not None:
            self.pipe.chan.pause_reading()

    def resume_writing(self) -> None:
        if self.pipe.chan is not None:
            self.pipe.chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.close()
