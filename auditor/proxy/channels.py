"""Low-level channel and listener moves asyncssh has no public call for.

To bridge a session faithfully the proxy must open the node's channel before
confirming the client's (so the node's refusal reason reaches the client)
and then replay the client's requests (env, pty-req, auth-agent-req, shell /
exec / subsystem) in the order they came. asyncssh's public
``create_session`` does open and requests in one go, so this module uses its
channel internals; it is the only place that does (asyncssh is pinned <3).

Listeners on the node (``ssh -R``) are registered before the request goes
out: sshd may send the first forwarded connection right behind its reply,
and asyncssh's ``create_server`` registers its listener only when its
coroutine resumes, after it has refused that connection ("No such listener").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncssh
from asyncssh.channel import SSHClientChannel
from asyncssh.constants import MSG_CHANNEL_CLOSE, MSG_REQUEST_SUCCESS
from asyncssh.listener import SSHTCPClientListener, SSHUNIXClientListener
from asyncssh.misc import ChannelOpenError, ProtocolError
from asyncssh.packet import Boolean, Byte, String, UInt32

WINDOW = 8 * 1024 * 1024
MAX_PACKET = 32768


async def open_session_channel(
    conn: asyncssh.SSHClientConnection, session: asyncssh.SSHClientSession[bytes]
) -> SSHClientChannel[bytes]:
    """Open a bare ``session`` channel on the node; no requests sent yet."""
    c: Any = conn
    chan: Any = SSHClientChannel(
        c, c._loop, c._utf8_decode_errors, None, "strict", WINDOW, MAX_PACKET
    )
    packet = await chan._open(b"session")
    packet.check_end()
    chan._session = session
    session.connection_made(chan)
    # asyncssh holds a new channel's input until its session has started.
    c.create_task(chan._start_reading(), chan.logger)
    opened: SSHClientChannel[bytes] = chan
    return opened


def send_request(chan: SSHClientChannel[bytes], name: bytes, *args: bytes) -> None:
    """A channel request without a reply (env, window-change...)."""
    c: Any = chan
    c.send_packet(98, String(name), Boolean(False), *args)  # MSG_CHANNEL_REQUEST


def request_with_reply(
    chan: SSHClientChannel[bytes], name: bytes, *args: bytes
) -> asyncio.Future[bool | None]:
    """Send a request now (keeping the client's order) and return a future of the reply."""
    c: Any = chan
    waiter: asyncio.Future[bool | None] = c._loop.create_future()
    c._request_waiters.append(waiter)
    c.send_packet(98, String(name), Boolean(True), *args)
    return waiter


def pty_request_args(
    term_type: str, size: tuple[int, int, int, int], modes: dict[int, int]
) -> bytes:
    encoded = b"".join(Byte(k) + UInt32(v) for k, v in sorted(modes.items()) if 0 < k < 160)
    return (
        String(term_type)
        + UInt32(size[0])
        + UInt32(size[1])
        + UInt32(size[2])
        + UInt32(size[3])
        + String(encoded + Byte(0))
    )


def open_error(exc: BaseException, fallback: str) -> ChannelOpenError:
    if isinstance(exc, ChannelOpenError):
        return exc
    return ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, fallback)


def hold_client_close(chan: Any, on_close: Callable[[], None]) -> None:
    """Call ``on_close`` when the client closes ``chan``, instead of closing back at once.

    OpenSSH's ssh closes a session channel as soon as it has sent and
    received EOF, often before the exit status arrives. sshd answers that
    close only once the command has exited and its status has been sent;
    asyncssh answers at once, and the status the node sends a moment later
    would have nowhere to go (the client, or a ControlMaster's mux client,
    then exits 255). The caller ends the channel with ``finish_close``.
    """
    c: Any = chan

    def process_close(self: Any, pkttype: int, pktid: int, packet: Any) -> None:
        if self._recv_state not in {"open", "eof_pending", "eof"}:
            raise ProtocolError("Channel not open")
        packet.check_end()
        on_close()

    c._packet_handlers = {**type(c)._packet_handlers, MSG_CHANNEL_CLOSE: process_close}


def refuse_x11(chan: Any, on_refused: Callable[[], None]) -> None:
    """Refuse ``x11-req`` on ``chan`` as asyncssh does, telling ``on_refused`` first.

    The refusal alone reaches the client as OpenSSH's bare "X11 forwarding
    request failed"; the hook lets the proxy say why.
    """
    c: Any = chan

    def process_x11_req(packet: Any) -> bool:
        on_refused()
        return False

    c._process_x11_req_request = process_x11_req


def finish_close(chan: Any) -> None:
    """Complete a close held by ``hold_client_close``, as asyncssh would have at once."""
    c: Any = chan
    if c._recv_state in {"close_pending", "closed"}:
        return
    c._close_send()
    c._recv_state = "close_pending"
    c._flush_recv_buf()


def set_agent_forward_path(conn: asyncssh.SSHClientConnection, path: str | None) -> None:
    """Serve the node's agent requests through ``path`` (the inner client's agent)."""
    c: Any = conn
    c._agent_forward_path = path


async def listen_on_node(
    conn: asyncssh.SSHClientConnection, session_factory: Any, host: str, port: int
) -> SSHTCPClientListener[bytes]:
    """``conn.create_server``, with the listener in place before sshd can use it."""
    c: Any = conn
    host = host.lower()
    listener: SSHTCPClientListener[bytes] = SSHTCPClientListener(
        c, session_factory, host, port, None, "strict", WINDOW, MAX_PACKET
    )
    table, key = (
        (c._dynamic_remote_listeners, host) if port == 0 else (c._remote_listeners, (host, port))
    )
    table[key] = listener
    try:
        pkttype, packet = await c._make_global_request(b"tcpip-forward", String(host), UInt32(port))
        if pkttype != MSG_REQUEST_SUCCESS:
            raise asyncssh.ChannelListenError(f"the node refused to listen on {host}:{port}")
    except BaseException:
        table.pop(key, None)
        raise
    if port == 0:
        listener._listen_port = port = packet.get_uint32()
    c._remote_listeners[host, port] = listener
    return listener


async def listen_on_node_unix(
    conn: asyncssh.SSHClientConnection, session_factory: Any, path: str
) -> SSHUNIXClientListener[bytes]:
    """``conn.create_unix_server``, with the listener in place before sshd can use it."""
    c: Any = conn
    listener: SSHUNIXClientListener[bytes] = SSHUNIXClientListener(
        c, session_factory, path, None, "strict", WINDOW, MAX_PACKET
    )
    c._remote_listeners[path] = listener
    try:
        pkttype, _ = await c._make_global_request(b"streamlocal-forward@openssh.com", String(path))
        if pkttype != MSG_REQUEST_SUCCESS:
            raise asyncssh.ChannelListenError(f"the node refused to listen on {path}")
    except BaseException:
        c._remote_listeners.pop(path, None)
        raise
    return listener
