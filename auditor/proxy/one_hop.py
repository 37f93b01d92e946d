"""The one-hop path: the client's own SSH connection, terminated for the node it names.

``auditor connect`` opens a TCP connection to the proxy, names the target in
a preamble (``auditor.preamble``) and hands the socket to ssh, whose handshake
the proxy then terminates with the host certificate it mints for the
target's name, exactly as recording mode does inside the nested path's
``proxy:`` channel. Everything after the handshake is the recording path's:
the same ``ProxiedConnection`` dials the node (with a certificate it mints
for the session, or in ``upstream_auth: agent`` with the certificate from the
agent the user forwarded on this one connection), the same bridges record
the channels, the same login policy, failures, unauthenticated cap and
grace time apply. One SSH layer instead of two: no client encrypts twice,
no process relays the bytes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import asyncssh
from asyncssh.stream import SSHUNIXStreamSession

from auditor import preamble
from auditor.index import FailureKind
from auditor.proxy.admission import Arriving
from auditor.proxy.connection import ProxiedConnection
from auditor.proxy.connection_context import ConnectionContext
from auditor.proxy.failures import ProxyFailure
from auditor.proxy.inner import InnerServer
from auditor.proxy.request import BadRequest, ProxyRequest, parse_subsystem
from auditor.proxy.sshserver import CertificateServer

log = logging.getLogger("auditor.proxy")

# An SSH client speaks first (its version line) and so does `auditor
# connect`; a client that waits for the server's line first is served as
# SSH after this long.
FIRST_BYTES_WAIT = 0.5


async def _readable(sock: socket.socket, timeout: float | None) -> bool:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await asyncio.wait_for(ready, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(sock.fileno())


async def is_one_hop(sock: socket.socket) -> bool:
    """Whether the client's first bytes are the preamble (not read, only looked at)."""
    seen = b""
    while len(seen) < len(preamble.MAGIC) and preamble.MAGIC.startswith(seen):
        if not await _readable(sock, FIRST_BYTES_WAIT):
            return False
        try:
            more = sock.recv(len(preamble.MAGIC), socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            return False
        if not more or more == seen:
            return False  # closed, or no more yet: not waiting on a trickle here
        seen = more
    return seen.startswith(preamble.MAGIC)


async def _read_line(sock: socket.socket) -> bytes:
    """The preamble line, read exactly: what follows it is the SSH handshake.
    What has arrived is looked at (MSG_PEEK) and taken up to the newline, so
    nothing after the line is taken; one turn of the loop for the whole line,
    not one a byte, which counts when a burst of clients keeps the loop busy."""
    line = b""
    while True:
        if not await _readable(sock, None):
            continue
        try:
            seen = sock.recv(preamble.MAX_LINE, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError as exc:
            raise ProxyFailure(FailureKind.PROTOCOL_ERROR, f"one-hop preamble: {exc}") from None
        if not seen:
            raise ProxyFailure(
                FailureKind.PROTOCOL_ERROR, "connection closed inside the one-hop preamble"
            )
        end = seen.find(b"\n")
        line += sock.recv(end + 1 if end >= 0 else len(seen))
        if line.endswith(b"\n"):
            return line
        if len(line) >= preamble.MAX_LINE:
            raise ProxyFailure(FailureKind.PROTOCOL_ERROR, "one-hop preamble longer than a line")


class _ClientAgent:
    """The agent behind the client of this connection, reached without waiting
    for the client's ``auth-agent-req``: OpenSSH sends that only with its first
    session channel, after the node must already be dialled, and accepts an
    agent channel whenever ``ForwardAgent`` is on."""

    def __init__(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn

    async def open_agent_connection(self) -> tuple[Any, Any]:
        chan = self.conn.create_agent_channel()
        session: Any = await chan.open(SSHUNIXStreamSession)
        return asyncssh.SSHReader(session, chan), asyncssh.SSHWriter(session, chan)


class OneHopConnection(ProxiedConnection):
    AGENT_HINT = (
        "forward it with ForwardAgent yes (`auditor config ssh` sets it; ssh -A, "
        "and scp -A or sftp -A, which turn it off unless asked)"
    )

    async def open_agent(self) -> asyncssh.SSHAgentClient | None:
        assert self.outer.conn is not None
        return await asyncssh.connect_agent(_ClientAgent(self.outer.conn))


class OneHopServer(InnerServer):
    """The SSH server a one-hop client talks to: the outer and the inner at once."""

    def __init__(self, context: ConnectionContext, request: ProxyRequest) -> None:
        CertificateServer.__init__(self, context.user_ca)
        self.context = context
        self.pc = OneHopConnection(context, self, request)

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        super().connection_made(conn)
        self.pc.client_addr = f"{self.peer[0]}:{self.peer[1]}"

    def certificate_checked(self, username: str, cert: Any, accepted: bool) -> bool:
        ok = CertificateServer.certificate_checked(self, username, cert, accepted)
        if ok:
            self.pc.user_cert = cert  # its extensions bound the certificate minted for the node
        return self.context.check_login(self, ok) and self.access_allowed(username)

    def auth_completed(self) -> None:
        self.context.admission.left(self)
        self.pc.user = self.user or "?"
        super().auth_completed()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.context.admission.closed(self)


async def serve_one_hop(
    context: ConnectionContext, sock: socket.socket, arriving: Arriving
) -> None:
    """Read the preamble, answer it, and terminate the SSH connection after it."""
    try:
        await _serve(context, sock, arriving)
    except asyncio.CancelledError:
        sock.close()  # evicted from the unauthenticated cap, or the proxy stops
        raise
    finally:
        context.admission.left(arriving)


async def _serve(context: ConnectionContext, sock: socket.socket, arriving: Arriving) -> None:
    peer = sock.getpeername()
    client_addr = f"{peer[0]}:{peer[1]}"
    try:
        line = await asyncio.wait_for(_read_line(sock), context.config.login_grace_time)
    except TimeoutError:
        context.record_failure(
            ProxyFailure(
                FailureKind.PROTOCOL_ERROR, "one-hop preamble not finished within the grace time"
            ),
            client_addr=client_addr,
        )
        sock.close()
        return
    except (ProxyFailure, OSError) as exc:
        failure = (
            exc
            if isinstance(exc, ProxyFailure)
            else ProxyFailure(FailureKind.PROTOCOL_ERROR, str(exc))
        )
        context.record_failure(failure, client_addr=client_addr)
        sock.close()
        return
    target = line[len(preamble.MAGIC) :].strip().decode("utf-8", "replace")
    try:
        if not context.config.one_hop:
            raise ProxyFailure(
                FailureKind.BAD_REQUEST,
                "this proxy takes the nested path only (proxy_service.one_hop: false): "
                "use `auditor config ssh --nested`",
            )
        if context.config.session_recording != "proxy":
            raise ProxyFailure(
                FailureKind.BAD_REQUEST,
                "the one-hop path needs auth_service.session_recording: proxy; "
                "use `auditor config ssh --nested`",
            )
        try:
            request = parse_subsystem(target)
        except BadRequest as exc:
            raise ProxyFailure(FailureKind.BAD_REQUEST, str(exc)) from None
        server = OneHopServer(context, request)
        server.pc.trusted_cluster()  # an unknown cluster is refused before the handshake
    except ProxyFailure as failure:
        context.record_failure(failure, client_addr=client_addr)
        await _answer(sock, preamble.refusal(failure.message))
        sock.close()
        return
    await _answer(sock, preamble.OK)
    options = context.inner_options(request.host, lambda: server)
    await context.serve_ssh(sock, server, options, arriving)


async def _answer(sock: socket.socket, line: bytes) -> None:
    try:
        await asyncio.get_running_loop().sock_sendall(sock, line)
    except OSError as exc:
        log.info("one-hop client left before the answer: %s", exc)
