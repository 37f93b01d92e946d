"""Forwarded connections (`ssh -L`, `-D`, `-R`, TCP or unix socket), spliced and audited.

Each forwarded connection is a channel on the user's (inner) connection
spliced to a channel on the node's connection. What they carry is any
protocol at all, so the proxy keeps no contents: every connection becomes an
index row (kind ``forward``, no recording) and a pair of audit-log events
with the user, node, the channel type, where it goes or listens, who
originated it, the bytes each way and when it opened and closed.

Listeners (``-R``) are made on the node, as sshd would make them for the
client directly; the port the node picks for port 0 goes back to the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncssh

from auditor.proxy import channels
from auditor.proxy.channels import WINDOW
from auditor.proxy.connection import ProxiedConnection

log = logging.getLogger("auditor.proxy")
CLIENT, NODE = 0, 1


class ForwardAudit:
    """One forwarded connection's index row and audit events."""

    def __init__(self, pc: ProxiedConnection, channel: str, target: str, origin: str) -> None:
        self.pc = pc
        self.channel = channel  # the SSH channel type, e.g. forwarded-tcpip
        self.target = target  # where it goes (-L, -D) or the node's listener (-R)
        self.origin = origin
        self.session_id = pc.claim_session_id()  # the first may be named in the node's log

    @property
    def _event(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "channel": self.channel,
            "dest": self.target,
            "origin": self.origin,
        }

    def opened(self) -> None:
        index = self.pc.context.index
        fields = self.pc.fields
        command = f"{self.channel} {self.target} from {self.origin}"
        index.start_session(
            self.session_id,
            **fields,
            kind="forward",
            command=command,
            recording_path=None,
        )
        self.pc.audit_event("port_forward", **self._event)

    def closed(self, bytes_up: int, bytes_down: int) -> None:
        index = self.pc.context.index
        index.end_session(self.session_id, status="ended", bytes_in=bytes_up, bytes_out=bytes_down)
        self.pc.audit_event(
            "port_forward_end", **self._event, bytes_up=bytes_up, bytes_down=bytes_down
        )

    def refused(self, reason: str) -> None:
        self.pc.audit_event("port_forward", **self._event, error=reason)


class _End(asyncssh.SSHTCPSession[bytes], asyncssh.SSHUNIXSession[bytes]):
    """One end of a splice: what arrives here is written to the other end's channel."""

    def __init__(self, splice: Splice, side: int) -> None:
        self.splice = splice
        self.side = side
        self.chan: Any = None

    def connection_made(self, chan: Any) -> None:
        self.chan = chan
        self.splice.made(self.side)

    def data_received(self, data: bytes, datatype: int | None) -> None:
        self.splice.counts[self.side] += len(data)
        other = self.splice.other(self.side).chan
        if not other.is_closing():
            other.write(data)

    def eof_received(self) -> bool:
        other = self.splice.other(self.side).chan
        if not other.is_closing():
            other.write_eof()
        return True

    def pause_writing(self) -> None:
        other = self.splice.other(self.side)
        if other.chan is not None:
            other.chan.pause_reading()

    def resume_writing(self) -> None:
        other = self.splice.other(self.side)
        if other.chan is not None:
            other.chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.splice.lost(self.side)


class Splice:
    """A client channel and a node channel joined; audited once both are open."""

    def __init__(self, audit: ForwardAudit) -> None:
        self.audit = audit
        self.ends = (_End(self, CLIENT), _End(self, NODE))
        self.counts = [0, 0]  # bytes from the client, bytes from the node
        self.open = False
        self.done = False

    def other(self, side: int) -> _End:
        return self.ends[1 - side]

    def made(self, side: int) -> None:
        if self.other(side).chan is None:
            # The first end open holds what it receives until the other can take it
            # (a server that speaks first, an early request from the client).
            self.ends[side].chan.pause_reading()
            return
        self.other(side).chan.resume_reading()
        self.open = True
        self.audit.opened()

    def lost(self, side: int) -> None:
        other = self.other(side).chan
        if other is not None:
            other.close()
        if self.open and not self.done:
            self.done = True
            self.audit.closed(*self.counts)


async def _to_node(
    splice: Splice, open_on_node: Callable[[asyncssh.SSHClientConnection], Awaitable[Any]]
) -> _End:
    """Open the node's channel first, so its refusal is the client's refusal."""
    node = await splice.audit.pc.upstream_connection()
    try:
        await open_on_node(node)
    except (asyncssh.Error, OSError) as exc:
        splice.audit.refused(str(exc))
        name = splice.audit.pc.target.name
        raise channels.open_error(exc, f"open failed on {name}: {exc}") from None
    return splice.ends[CLIENT]


def open_direct_tcp(
    pc: ProxiedConnection, dest_host: str, dest_port: int, orig_host: str, orig_port: int
) -> Awaitable[_End]:
    """``ssh -L`` and ``ssh -D``: a direct-tcpip channel from the client."""
    audit = ForwardAudit(pc, "direct-tcpip", f"{dest_host}:{dest_port}", f"{orig_host}:{orig_port}")
    splice = Splice(audit)
    return _to_node(
        splice,
        lambda node: node.create_connection(
            lambda: splice.ends[NODE], dest_host, dest_port, orig_host, orig_port, window=WINDOW
        ),
    )


def open_direct_unix(pc: ProxiedConnection, dest_path: str) -> Awaitable[_End]:
    """``ssh -L /local.sock:/remote.sock``: a direct-streamlocal channel from the client."""
    splice = Splice(ForwardAudit(pc, "direct-streamlocal", dest_path, pc.client_addr))
    return _to_node(
        splice,
        lambda node: node.create_unix_connection(
            lambda: splice.ends[NODE], dest_path, window=WINDOW
        ),
    )


async def _to_client(splice: Splice, open_on_client: Awaitable[Any]) -> _End:
    """The node's connection arrived: the client's channel opens before the node's is confirmed."""
    try:
        await open_on_client
    except (asyncssh.Error, OSError) as exc:
        splice.audit.refused(str(exc))
        raise channels.open_error(exc, f"the client refused the connection: {exc}") from None
    return splice.ends[NODE]


async def listen_tcp(
    pc: ProxiedConnection, inner: asyncssh.SSHServerConnection, host: str, port: int
) -> asyncssh.SSHListener | bool:
    """``ssh -R``: a tcpip-forward on the node; its connections are bridged to the client."""
    # Port 0: connections can arrive before the node's reply with the port is read.
    chosen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def connection(orig_host: str, orig_port: int) -> _End:
        listen_port = await chosen
        listen, origin = f"{host}:{listen_port}", f"{orig_host}:{orig_port}"
        splice = Splice(ForwardAudit(pc, "forwarded-tcpip", listen, origin))
        return await _to_client(
            splice,
            inner.create_connection(
                lambda: splice.ends[CLIENT], host, listen_port, orig_host, orig_port, window=WINDOW
            ),
        )

    try:
        node = await pc.upstream_connection()
        listener = await channels.listen_on_node(node, connection, host, port)
    except (asyncssh.Error, OSError) as exc:
        chosen.cancel()
        pc.audit_event("remote_forward", listen=f"{host}:{port}", error=str(exc))
        return False
    chosen.set_result(listener.get_port())
    pc.audit_event("remote_forward", listen=f"{host}:{listener.get_port()}")
    return listener


async def listen_unix(
    pc: ProxiedConnection, inner: asyncssh.SSHServerConnection, path: str
) -> asyncssh.SSHListener | bool:
    """``ssh -R /remote.sock:/local.sock``: a streamlocal-forward on the node."""

    def connection() -> Awaitable[_End]:
        splice = Splice(ForwardAudit(pc, "forwarded-streamlocal", path, pc.target.name))
        return _to_client(
            splice,
            inner.create_unix_connection(lambda: splice.ends[CLIENT], path, window=WINDOW),
        )

    try:
        node = await pc.upstream_connection()
        listener = await channels.listen_on_node_unix(node, connection, path)
    except (asyncssh.Error, OSError) as exc:
        pc.audit_event("remote_forward", listen=path, error=str(exc))
        return False
    pc.audit_event("remote_forward", listen=path)
    return listener
