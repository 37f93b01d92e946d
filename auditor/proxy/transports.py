"""Transports under the proxy's asyncssh connections, for fewer writes per byte.

``ChannelTransport``: the outer ``proxy:`` channel as the transport of the
inner SSH connection.

In recording mode every byte the node sends is encrypted twice by the
proxy: once by the inner connection, once more by the outer connection
that carries it. Handing the inner connection's packets straight to the
outer channel (and the channel's data straight to the inner connection)
saves a socketpair's two system calls, its kernel copies and an event-loop
wake-up for every chunk.

``GatheringTransport``: a socket transport whose writes are gathered per
loop turn. asyncssh writes every packet on its own (and, unless the
proxy skips it, an ``SSH_MSG_IGNORE`` before each), one ``send`` call per
32 KiB of output or more; gathered, a turn's packets leave in one.

Both gather only up to ``EARLY_BYTES``: bulk output leaves as soon as that
much is ready (in whole 32 KiB outer packets), not at the end of a loop
turn that may still decrypt and re-encrypt a quarter megabyte. The data
crosses three such stages in the proxy (session bridge, inner connection,
outer connection) and the client's channel windows are only 2 MiB, so the
latency of each stage sets the rate: on 200 MB transfers this took the rate
after the first byte from about 126 to 159 MB/s (means of six runs).

asyncssh runs a connection over any object with the transport calls it
uses (``write``, ``abort``, ``close``, ``get_extra_info``), as it does for
its own ProxyCommand and tunnels.
"""

from __future__ import annotations

import asyncio
from typing import Any

EARLY_BYTES = 128 * 1024  # gathered this much: send without waiting for the turn's end
OUTER_PACKET = 32768  # OpenSSH's maximum packet for a session channel


class ChannelTransport(asyncio.Transport):
    """Bytes in from the outer channel, bytes out to it; early bytes are queued."""

    def __init__(self, chan: Any) -> None:
        super().__init__()
        self.chan = chan
        self.protocol: Any = None
        self.queue: list[bytes] = []
        self.eof_queued = False
        self.lost: tuple[Exception | None] | None = None
        self.closing = False
        self.pending: list[bytes] = []
        self.pending_len = 0
        peer = chan.get_extra_info("peername")
        sock = chan.get_extra_info("sockname")
        self.extra = {"peername": peer, "sockname": sock}

    # The outer channel's side: called by its session.
    def feed(self, data: bytes) -> None:
        if self.protocol is None:
            self.queue.append(data)
        else:
            self.protocol.data_received(data)

    def feed_eof(self) -> None:
        if self.protocol is None:
            self.eof_queued = True
        else:
            self.protocol.eof_received()

    def channel_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.protocol is None:
            self.lost = (exc,)
        else:
            self.protocol.connection_lost(exc)

    def attach(self, protocol: Any) -> None:
        """Start ``protocol`` (an asyncssh connection) on this transport."""
        self.protocol = protocol
        protocol.connection_made(self)
        queued, self.queue = self.queue, []
        for data in queued:
            protocol.data_received(data)
        if self.eof_queued:
            protocol.eof_received()
        if self.lost is not None:
            protocol.connection_lost(self.lost[0])

    # The inner connection's side: asyncio.Transport.
    def write(self, data: bytes | bytearray | memoryview) -> None:
        # Gathered until the loop turns: the channel cuts what it is given into
        # 32 KiB packets, so one write per inner packet (32 KiB plus a header)
        # would cost two outer packets each.
        if self.closing:
            return
        if not self.pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self.pending.append(bytes(data))
        self.pending_len += len(data)
        if self.pending_len >= EARLY_BYTES:
            # Bulk: whole outer packets go now, the rest at the turn's end.
            buf = b"".join(self.pending)
            cut = len(buf) - len(buf) % OUTER_PACKET
            self.chan.write(buf[:cut])
            self.pending = [buf[cut:]] if cut < len(buf) else []
            self.pending_len = len(buf) - cut

    def _flush(self) -> None:
        if self.pending and not self.closing:
            self.chan.write(b"".join(self.pending))
        self.pending.clear()
        self.pending_len = 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        # asyncssh's channel close sends what is still buffered first.
        if not self.closing:
            self._flush()
            self.closing = True
            self.chan.close()

    def abort(self) -> None:
        self.close()

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        self.chan.pause_reading()

    def resume_reading(self) -> None:
        self.chan.resume_reading()


class GatheringTransport(asyncio.Transport):
    """Wraps a transport: writes in one loop turn go out as one."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self.inner = transport
        self.pending: list[bytes] = []
        self.pending_len = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(bytes(data))
        self.pending_len += len(data)
        if self.pending_len >= EARLY_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
        self.pending.clear()
        self.pending_len = 0
        if not self.inner.is_closing():
            self.inner.write(data)

    def close(self) -> None:
        self.flush()
        self.inner.close()

    def abort(self) -> None:
        # asyncssh aborts right after its last packet (a disconnect): send it first.
        self.flush()
        self.inner.abort()

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)

    def can_write_eof(self) -> bool:
        return self.inner.can_write_eof()

    def write_eof(self) -> None:
        self.flush()
        self.inner.write_eof()

    def pause_reading(self) -> None:
        self.inner.pause_reading()

    def resume_reading(self) -> None:
        self.inner.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self.inner.get_write_buffer_size() + sum(map(len, self.pending))
