"""The nested path: the ProxyCommand's ssh logs in to the proxy and asks for a
``proxy:HOST:PORT`` subsystem, which is routed to the node.

Recording mode runs an inner SSH server (``inner``) with the subsystem
channel as its transport, authenticates the user a second time with the
same certificate, and dials the node (``connection``). Node and off modes
pipe the subsystem straight to the node's TCP port.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncssh

from auditor.index import FailureKind
from auditor.proxy.connection import ProxiedConnection
from auditor.proxy.connection_context import ConnectionContext
from auditor.proxy.failures import ProxyFailure
from auditor.proxy.inner import InnerServer
from auditor.proxy.pipe import ChannelSocketPipe, SocketSide
from auditor.proxy.request import BadRequest, ProxyRequest, parse_subsystem
from auditor.proxy.sshserver import CertificateServer, run_server_on_transport
from auditor.proxy.transports import ChannelTransport

log = logging.getLogger("auditor.proxy")


class OuterServer(CertificateServer):
    """The connection from the ProxyCommand's ssh to the proxy."""

    def __init__(self, context: ConnectionContext) -> None:
        super().__init__(context.user_ca)
        self.context = context
        self.authenticated = False

    def certificate_checked(self, username: str, cert: Any, accepted: bool) -> bool:
        ok = super().certificate_checked(username, cert, accepted)
        return self.context.check_login(self, ok)

    def auth_completed(self) -> None:
        self.authenticated = True
        self.context.admission.left(self)

    def session_requested(self) -> Any:
        return OuterSession(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.context.admission.closed(self)


class OuterSession(asyncssh.SSHServerSession[bytes]):
    def __init__(self, outer: OuterServer) -> None:
        self.outer = outer
        # A new hop on an open (multiplexed) connection: the policy in force now.
        self.context = outer.context.current()
        self.pipe = ChannelSocketPipe()  # node and off modes
        self.link: ChannelTransport | None = None  # recording mode: the inner transport
        self.chan: Any = None
        self.request: ProxyRequest | None = None
        self.refusal: ProxyFailure | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, chan: Any) -> None:
        self.chan = chan
        if self.context.config.session_recording == "proxy":
            self.link = ChannelTransport(chan)
        else:
            self.pipe.connection_made(chan)

    def shell_requested(self) -> bool:
        self.refusal = ProxyFailure(
            FailureKind.BAD_REQUEST,
            "this is the auditor recording proxy: connect with -s proxy:HOST:PORT "
            "(see `auditor config ssh`)",
        )
        return True

    def exec_requested(self, command: str) -> bool:
        return self.shell_requested()

    def subsystem_requested(self, subsystem: str) -> bool:
        try:
            self.request = parse_subsystem(subsystem)
        except BadRequest as exc:
            self.refusal = ProxyFailure(FailureKind.BAD_REQUEST, str(exc))
        return True

    def session_started(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._route())

    async def _route(self) -> None:
        if self.refusal is not None or self.request is None:
            failure = self.refusal or ProxyFailure(FailureKind.BAD_REQUEST, "no proxy request")
            self.context.record_failure(
                failure,
                user=self.outer.user,
                login=self.outer.login,
                client_addr=f"{self.outer.peer[0]}:{self.outer.peer[1]}",
            )
            self._refuse(failure.message)
            return
        pc = ProxiedConnection(self.context, self.outer, self.request)
        # Decided before the inner handshake or the TCP dial. The outer login is the
        # inner one (`%r` in the ProxyCommand); node and off modes see no other.
        refusal = pc.authorize(pc.login)
        if refusal is not None:
            self._refuse(refusal.message)
            return
        try:
            if self.link is not None:
                await self._terminate(pc, self.link)
            else:
                await self._pipe_to_node(pc)
        except ProxyFailure as failure:
            pc.failure(failure)
            self._refuse(failure.message)

    def _refuse(self, message: str) -> None:
        self.chan.write_stderr(f"auditor: {message}\r\n".encode())
        self.chan.exit(1)

    async def _terminate(self, pc: ProxiedConnection, link: ChannelTransport) -> None:
        pc.trusted_cluster()  # refuse an unknown cluster before the inner handshake
        options = self.context.inner_options(pc.request.host, lambda: InnerServer(pc))
        try:
            await run_server_on_transport(link, options)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            log.info("inner connection for %s ended before auth: %s", pc.request.host, exc)

    async def _pipe_to_node(self, pc: ProxiedConnection) -> None:
        loop = asyncio.get_running_loop()
        if pc.request.cluster:
            raise ProxyFailure(
                FailureKind.UNKNOWN_CLUSTER,
                "trusted clusters are reached in recording mode only "
                "(auth_service.session_recording: proxy)",
            )
        sock = await pc.node_socket()
        if pc.dial_permit is not None:
            # The client authenticates through the pipe, out of the proxy's sight:
            # its place is given back once the node has answered.
            pc.dial_permit.release(False)
        row = self.context.index.start_session(**pc.fields, kind="tcp", recording_path=None)
        session_id = await asyncio.wrap_future(row)
        pc.audit_event("session_start", session_id=session_id, mode="node")

        def closed() -> None:
            self.context.index.end_session(
                session_id,
                status="ended",
                bytes_in=self.pipe.bytes_up,
                bytes_out=self.pipe.bytes_down,
            )
            pc.audit_event("session_end", session_id=session_id)

        self.pipe.on_close = closed
        await loop.connect_accepted_socket(lambda: SocketSide(self.pipe), sock=sock)

    def data_received(self, data: bytes, datatype: int | None) -> None:
        if self.link is not None:
            self.link.feed(data)
        else:
            self.pipe.data_received(data, datatype)

    def eof_received(self) -> bool:
        if self.link is not None:
            self.link.feed_eof()
            return True
        return self.pipe.eof_received()

    def pause_writing(self) -> None:
        # The inner connection has no pause (asyncssh ignores it); the inner
        # channel's window bounds what it can queue here.
        if self.link is None:
            self.pipe.pause_writing()

    def resume_writing(self) -> None:
        if self.link is None:
            self.pipe.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.channel_lost(exc)
        else:
            self.pipe.close()
