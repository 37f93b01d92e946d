"""The one-hop path: the client's own SSH connection, terminated for the node it names.

``auditor connect`` opens a TCP connection to the proxy, names the target in
a preamble (``auditor.onehop``) and hands the socket to ssh, whose handshake
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
from typing import TYPE_CHECKING, Any

import asyncssh
from asyncssh.stream import SSHUNIXStreamSession

from auditor import onehop
from auditor.proxy.connection import InnerServer, ProxiedConnection
from auditor.proxy.failures import ProxyFailure
from auditor.proxy.request import BadRequest, parse_subsystem
from auditor.proxy.sshserver import CertificateServer

if TYPE_CHECKING:
    from auditor.proxy.service import RecordingProxy

log = logging.getLogger("auditor.proxy")

# An SSH client speaks first (its version line) and so does `auditor
# connect`; a client that waits for the server's line first is served as
# SSH after this long.
FIRST_BYTES_WAIT = 0.5


class Arriving:
    """A connection not yet known to be SSH or one hop (its first bytes or its
    preamble are still to come): it holds a place under the unauthenticated
    cap, and eviction ends the task serving it."""

    def __init__(self) -> None:
        self.task = asyncio.current_task()
        self.heard = False  # its preamble began: it has made progress (service.py)

    def abort(self) -> None:
        if self.task is not None:
            self.task.cancel()


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
    while len(seen) < len(onehop.MAGIC) and onehop.MAGIC.startswith(seen):
        if not await _readable(sock, FIRST_BYTES_WAIT):
            return False
        try:
            more = sock.recv(len(onehop.MAGIC), socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            return False
        if not more or more == seen:
            return False  # closed, or no more yet: not waiting on a trickle here
        seen = more
    return seen.startswith(onehop.MAGIC)


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
            seen = sock.recv(onehop.MAX_LINE, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError as exc:
            raise ProxyFailure("protocol_error", f"one-hop preamble: {exc}") from None
        if not seen:
            raise ProxyFailure("protocol_error", "connection closed inside the one-hop preamble")
        end = seen.find(b"\n")
        line += sock.recv(end + 1 if end >= 0 else len(seen))
        if line.endswith(b"\n"):
            return line
        if len(line) >= onehop.MAX_LINE:
            raise ProxyFailure("protocol_error", "one-hop preamble longer than a line")


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

    def __init__(self, proxy: RecordingProxy, request: Any) -> None:
        CertificateServer.__init__(self, proxy.user_ca)
        self.proxy = proxy
        self.pc = OneHopConnection(proxy, self, request)  # type: ignore[arg-type]

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        super().connection_made(conn)
        self.pc.client_addr = f"{self.peer[0]}:{self.peer[1]}"

    def certificate_checked(self, username: str, cert: Any, accepted: bool) -> bool:
        ok = CertificateServer.certificate_checked(self, username, cert, accepted)
        if ok:
            self.pc.user_cert = cert  # its extensions bound the certificate minted for the node
        return self.proxy.check_login(self, ok) and self.access_allowed(username)

    def auth_completed(self) -> None:
        self.proxy.authenticated(self)
        self.pc.user = self.user or "?"
        super().auth_completed()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.proxy.connection_closed(self, exc)


async def serve_one_hop(proxy: RecordingProxy, sock: socket.socket, arriving: Arriving) -> None:
    """Read the preamble, answer it, and terminate the SSH connection after it."""
    try:
        await _serve(proxy, sock, arriving)
    except asyncio.CancelledError:
        sock.close()  # evicted from the unauthenticated cap, or the proxy stops
        raise
    finally:
        proxy.unauthenticated.pop(arriving, None)


async def _serve(proxy: RecordingProxy, sock: socket.socket, arriving: Arriving) -> None:
    peer = sock.getpeername()
    client_addr = f"{peer[0]}:{peer[1]}"
    try:
        line = await asyncio.wait_for(_read_line(sock), proxy.config.login_grace_time)
    except TimeoutError:
        proxy.record_failure(
            ProxyFailure("protocol_error", "one-hop preamble not finished within the grace time"),
            client_addr=client_addr,
        )
        sock.close()
        return
    except (ProxyFailure, OSError) as exc:
        failure = exc if isinstance(exc, ProxyFailure) else ProxyFailure("protocol_error", str(exc))
        proxy.record_failure(failure, client_addr=client_addr)
        sock.close()
        return
    target = line[len(onehop.MAGIC) :].strip().decode("utf-8", "replace")
    try:
        if not proxy.config.one_hop:
            raise ProxyFailure(
                "bad_request",
                "this proxy takes the nested path only (proxy_service.one_hop: false): "
                "use `auditor config ssh --nested`",
            )
        if proxy.config.session_recording != "proxy":
            raise ProxyFailure(
                "bad_request",
                "the one-hop path needs auth_service.session_recording: proxy; "
                "use `auditor config ssh --nested`",
            )
        try:
            request = parse_subsystem(target)
        except BadRequest as exc:
            raise ProxyFailure("bad_request", str(exc)) from None
        server = OneHopServer(proxy, request)
        server.pc.trusted_cluster()  # an unknown cluster is refused before the handshake
    except ProxyFailure as failure:
        proxy.record_failure(failure, client_addr=client_addr)
        await _answer(sock, onehop.refusal(failure.message))
        sock.close()
        return
    await _answer(sock, onehop.OK)
    options = await proxy.inner_options(server.pc, lambda: server)
    await proxy.serve_ssh(sock, server, options, arriving)


async def _answer(sock: socket.socket, line: bytes) -> None:
    try:
        await asyncio.get_running_loop().sock_sendall(sock, line)
    except OSError as exc:
        log.info("one-hop client left before the answer: %s", exc)
