"""One ``proxy:`` request: the outer connection's subsystem, routed to its node.

Recording mode runs an inner SSH server with the subsystem channel as its
transport, authenticates the user a second time with the same
certificate, and dials the node with a certificate the proxy mints for the
session (``upstream_auth: certificate``, ``upstream_cert``) or with the one in
the agent the user forwarded to the proxy (``upstream_auth: agent``). Node and
off modes pipe the subsystem straight to the node's TCP port.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import asyncssh

from auditor.access import Target
from auditor.config import TrustedCluster
from auditor.index.api import SessionIndex
from auditor.proxy import bridge, forwards
from auditor.proxy.channels import set_agent_forward_path
from auditor.proxy.dial_limit import Permit, QueueTimeout
from auditor.proxy.failures import ProxyFailure
from auditor.proxy.pipe import ChannelSocketPipe, SocketSide
from auditor.proxy.recorder import ChannelRecording
from auditor.proxy.request import BadRequest, ProxyRequest, parse_subsystem
from auditor.proxy.sshserver import CertificateServer, run_server_on_transport
from auditor.proxy.transports import ChannelTransport
from auditor.proxy.upstream import CIPHERS, NodeTarget, connect_with_retries, open_ssh, os_reason
from auditor.proxy.upstream_cert import client_keys, mint_upstream_certificate
from auditor.textsafe import visible

if TYPE_CHECKING:
    from auditor.proxy.service import RecordingProxy

log = logging.getLogger("auditor.proxy")
CERT_SUFFIX = b"-cert-v01@openssh.com"


class ProxiedConnection:
    """State shared by the outer subsystem, the inner connection and the node dial."""

    def __init__(
        self,
        proxy: RecordingProxy,
        outer: OuterServer,
        request: ProxyRequest,
    ) -> None:
        self.proxy = proxy
        self.outer = outer
        self.request = request
        self.user = outer.user or "?"
        self.login = outer.login or "?"
        self.client_addr = f"{outer.peer[0]}:{outer.peer[1]}"
        self.connection_id = uuid.uuid4().hex
        node = proxy.config.nodes.get(request.host.lower())
        self.target = NodeTarget(request.host, node.addr if node else request.host, request.port)
        self._upstream: asyncio.Task[asyncssh.SSHClientConnection] | None = None
        # This dial's place among the node's dials in flight, held until it authenticates.
        self.dial_permit: Permit | None = None
        self.node_conn: asyncssh.SSHClientConnection | None = None
        # (user, login) -> refusal, decided once. By user too: a public-key query
        # (no signature) with another user's certificate is decided as hers.
        self._access: dict[tuple[str, str], ProxyFailure | None] = {}
        # The certificate the client proved (its extensions bound the minted one).
        self.user_cert: Any = None
        # The first session's ID, known before the dial: the minted certificate's
        # key ID names it, so the node's auth log line leads to the recording.
        self._reserved_session_id: str | None = SessionIndex.new_session_id()
        self.first_session_id = self._reserved_session_id

    def claim_session_id(self) -> str:
        """The reserved ID for this connection's first session, a new one after."""
        sid, self._reserved_session_id = self._reserved_session_id, None
        return sid or SessionIndex.new_session_id()

    @property
    def fields(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "user": self.user,
            "login": self.login,
            "node": self.request.host,
            "port": self.request.port,
            "cluster": self.request.cluster,
            "client_addr": self.client_addr,
        }

    def failure(self, failure: ProxyFailure) -> None:
        self.proxy.record_failure(failure, **self.fields)

    def audit_event(self, event: str, **fields: Any) -> None:
        self.proxy.audit.write(event, **self.fields, **fields)

    # Who may reach the node (auditor/access.py), decided before anything is dialled
    def authorize(self, login: str) -> ProxyFailure | None:
        """The refusal of ``login`` on this node, or None. Indexed and audited once,
        however often it is asked (the outer login, the inner one, the dial)."""
        key = (self.user, login)
        if key not in self._access:
            target = Target(self.request.host, self.request.cluster)
            decision = self.proxy.access.decide(self.user, login, target)
            fields = {**self.fields, "login": login}
            refusal = None
            if decision.allowed:
                self.proxy.audit.write("access_allowed", **fields, role=decision.role)
            else:
                refusal = ProxyFailure("access_denied", decision.reason, decision.detail)
                self.proxy.record_failure(refusal, **fields)
            self._access[key] = refusal
        return self._access[key]

    # The node
    def upstream_connection(self) -> asyncio.Task[asyncssh.SSHClientConnection]:
        if self._upstream is None:
            self._upstream = asyncio.get_running_loop().create_task(self._dial_reporting())
        return self._upstream

    async def _dial_reporting(self) -> asyncssh.SSHClientConnection:
        refusal = self.authorize(self.login)
        if refusal is not None:  # refused at authentication already: never dialled
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, f"auditor: {refusal.message}"
            )
        try:
            conn = await self._dial()
        except ProxyFailure as failure:
            self.failure(failure)
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, failure.message) from None
        self.node_conn = conn
        return conn

    # How the user forwards the agent on this path (the one-hop path says otherwise).
    AGENT_HINT = "forward it to the proxy with ssh -o 'ForwardAgent yes' in the ProxyCommand"

    async def open_agent(self) -> asyncssh.SSHAgentClient | None:
        """The agent the user forwarded to the proxy."""
        return await asyncssh.connect_agent(self.outer.conn)

    async def _agent_certificates(self) -> tuple[Any, list[asyncssh.SSHKeyPair]]:
        try:
            agent = await self.open_agent()
        except asyncssh.ChannelOpenError as exc:
            raise ProxyFailure(
                "agent_not_forwarded",
                f"the recording proxy needs your agent: {self.AGENT_HINT}",
                str(exc),
            ) from None
        if agent is None:
            raise ProxyFailure(
                "agent_not_forwarded", f"the recording proxy needs your agent: {self.AGENT_HINT}"
            )
        keys = await agent.get_keys()
        certs = [k for k in keys if k.algorithm.endswith(CERT_SUFFIX)]
        if not certs:
            agent.close()
            raise ProxyFailure(
                "agent_no_certificate",
                f"the forwarded agent holds no certificate: run `auditor login --user={self.user}` "
                "(OpenSSH's ssh-agent; GNOME Keyring and gpg-agent drop certificates)",
                f"{len(keys)} keys in the agent, none a certificate",
            )
        return agent, certs

    def _minted_certificates(self) -> list[asyncssh.SSHKeyPair]:
        """A certificate for this session, signed by the user CA (``upstream_cert``)."""
        cfg = self.proxy.config
        issued = mint_upstream_certificate(
            self.proxy.user_ca,
            getattr(self.user_cert, "options", None) or {},
            self.user,
            self.login,
            self.first_session_id,
            cfg.public_addr[0] if cfg.public_addr else socket.gethostname(),
            cfg.upstream_source_addresses,
        )
        return client_keys(issued)

    async def _dial(self) -> asyncssh.SSHClientConnection:
        cfg = self.proxy.config
        if cfg.upstream_auth == "certificate":
            # The user's agent is not touched: no agent channel the client did not offer.
            return await self._dial_with(self._minted_certificates)
        agent, certs = await self._agent_certificates()
        try:
            return await self._dial_with(lambda: certs)
        finally:
            # The proxy holds the user's agent no longer than it needs it.
            agent.close()

    async def _dial_with(
        self, certs: Callable[[], list[asyncssh.SSHKeyPair]]
    ) -> asyncssh.SSHClientConnection:
        """Dial with ``certs()``, asked for once the socket is up: a minted
        certificate's two minutes start after any MaxStartups retries."""
        cfg = self.proxy.config
        if self.request.cluster:
            sock = await self._via_cluster(certs())
        else:
            sock = await self.node_socket()
        done = False
        try:
            conn = await open_ssh(
                sock,
                self.target,
                self.login,
                certs(),
                self.proxy.host_ca_public,
                cfg.proxy_checks_host_keys,
                cfg.dial_timeout,
            )
            done = True
            return conn
        finally:
            # Authenticated (or failed): sshd counts it among its startups no longer.
            if self.dial_permit is not None:
                self.dial_permit.release(done)

    async def node_socket(self) -> socket.socket:
        """TCP to the node's sshd, dropped connections retried; drops are indexed even then."""
        cfg = self.proxy.config
        drops: list[str] = []
        permit = self.dial_permit = await self._queue_for_dial()

        def dropped(n: int, why: str) -> None:
            drops.append(why)
            permit.dropped("MaxStartups" in why)

        try:
            sock, retries = await connect_with_retries(
                self.target,
                cfg.dial_attempts,
                # Out of the queue, the dial has its own dial_timeout.
                cfg.dial_timeout,
                on_drop=dropped,
                backoff=self.proxy.backoff,
            )
        except BaseException:
            permit.release(False)
            raise
        if retries:
            # Recorded even though a retry got through: the node is at its limit.
            self.failure(
                ProxyFailure(
                    "maxstartups" if any("MaxStartups" in d for d in drops) else "node_unreachable",
                    f"connection dropped by {self.target.name}; succeeded after {retries} retries",
                    "; ".join(drops),
                    retries=retries,
                )
            )
        return sock

    async def _queue_for_dial(self) -> Permit:
        """A place among the dials in flight to the node (dial_limit.py), waited for
        in turn; a queue that has not moved for dial_timeout fails as a
        MaxStartups failure would."""
        cfg = self.proxy.config
        node = cfg.nodes.get(self.request.host.lower())
        try:
            return await self.proxy.dials.acquire(
                f"{self.target.addr}:{self.target.port}".lower(),
                self.target.name,
                node.max_startups if node else None,
                cfg.dial_timeout,
            )
        except QueueTimeout as exc:
            raise ProxyFailure(
                "maxstartups",
                f"ssh: handshake failed: too many sessions starting on {self.target.name} at "
                f"once: {exc}, none of them done for dial_timeout ({cfg.dial_timeout:g}s)",
                str(exc),
            ) from None

    async def _via_cluster(self, certs: list[asyncssh.SSHKeyPair]) -> socket.socket:
        cluster = self.trusted_cluster()
        assert cluster is not None  # _via_cluster is only called for a cluster request
        try:
            hop = await asyncssh.connect(
                cluster.proxy_addr.host,
                cluster.proxy_addr.port,
                config=None,
                username=self.login,
                client_keys=certs,
                agent_path=None,
                known_hosts=([], [self.proxy.host_ca_public], []),
                encryption_algs=CIPHERS,
                connect_timeout=self.proxy.config.dial_timeout,
            )
        except (OSError, asyncssh.Error) as exc:
            raise ProxyFailure(
                "node_unreachable",
                f"cannot reach the proxy of cluster {cluster.name} at {cluster.proxy_addr}: "
                f"{os_reason(exc) if isinstance(exc, OSError) else exc}",
                repr(exc),
            ) from None
        ours, theirs = socket.socketpair()
        pipe = ChannelSocketPipe(on_close=hop.close)
        inner = ProxyRequest(self.request.host, self.request.port)
        await hop.create_session(lambda: pipe, subsystem=inner.subsystem(), encoding=None)
        loop = asyncio.get_running_loop()
        await loop.connect_accepted_socket(lambda: SocketSide(pipe), sock=theirs)
        return ours

    def trusted_cluster(self) -> TrustedCluster | None:
        """The cluster this request names (None for a local node); unknown is refused."""
        name = self.request.cluster
        if name is None:
            return None
        clusters = self.proxy.config.trusted_clusters
        if name not in clusters:
            known = ", ".join(sorted(clusters)) or "none configured"
            raise ProxyFailure(
                "unknown_cluster", f"unknown cluster {name!r} (trusted clusters: {known})"
            )
        return clusters[name]

    def forward_agent_onward(self, path: str) -> None:
        if self.node_conn is not None:
            set_agent_forward_path(self.node_conn, path)

    async def new_recording(self, kind: str) -> ChannelRecording:
        return await self.proxy.new_recording(self.fields, kind, self.claim_session_id())


class InnerServer(CertificateServer):
    """The SSH server the user's client talks to inside the ``proxy:`` subsystem."""

    def __init__(self, pc: ProxiedConnection) -> None:
        super().__init__(pc.proxy.user_ca)
        self.pc = pc

    def certificate_checked(self, username: str, cert: Any, accepted: bool) -> bool:
        ok = super().certificate_checked(username, cert, accepted)
        if ok and self.user != self.pc.user:
            self.cert_problem = "the inner connection presented another user's certificate"
            self.tell(
                "auditor: this certificate is of another user than the one that logged in "
                "to the proxy"
            )
            return False
        if ok and not self.access_allowed(username):
            return False
        if ok:
            self.pc.user_cert = cert
        return ok

    def access_allowed(self, login: str) -> bool:
        """The roles' verdict on this login and node, a refusal told in an auth banner."""
        self.pc.user = self.user or self.pc.user
        refusal = self.pc.authorize(login)
        if refusal is None:
            return True
        self.login_refused = True  # indexed as access_denied, not as a failed certificate
        self.tell(f"auditor: {visible(refusal.message)}")  # once (CertificateServer.tell)
        return False

    def auth_completed(self) -> None:
        self.pc.login = self.login or self.pc.login
        # Dial now, so the node is ready (or its failure known) when a channel opens.
        self.pc.upstream_connection()

    def session_requested(self) -> Any:
        return bridge.open_session_bridge(self.pc)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> Any:
        return forwards.open_direct_tcp(self.pc, dest_host, dest_port, orig_host, orig_port)

    def unix_connection_requested(self, dest_path: str) -> Any:
        return forwards.open_direct_unix(self.pc, dest_path)

    def server_requested(self, listen_host: str, listen_port: int) -> Any:
        assert self.conn is not None
        return forwards.listen_tcp(self.pc, self.conn, listen_host, listen_port)

    def unix_server_requested(self, listen_path: str) -> Any:
        assert self.conn is not None
        return forwards.listen_unix(self.pc, self.conn, listen_path)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pc.node_conn is not None:
            self.pc.node_conn.close()
        elif self.pc._upstream is not None and not self.pc._upstream.done():
            self.pc._upstream.cancel()


class OuterServer(CertificateServer):
    """The connection from the ProxyCommand's ssh to the proxy."""

    def __init__(self, proxy: RecordingProxy) -> None:
        super().__init__(proxy.user_ca)
        self.proxy = proxy
        self.authenticated = False

    def certificate_checked(self, username: str, cert: Any, accepted: bool) -> bool:
        return self.proxy.check_login(self, super().certificate_checked(username, cert, accepted))

    def auth_completed(self) -> None:
        self.authenticated = True
        self.proxy.authenticated(self)

    def session_requested(self) -> Any:
        return OuterSession(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.proxy.connection_closed(self, exc)


class OuterSession(asyncssh.SSHServerSession[bytes]):
    def __init__(self, outer: OuterServer) -> None:
        self.outer = outer
        self.proxy = outer.proxy
        self.pipe = ChannelSocketPipe()  # node and off modes
        self.link: ChannelTransport | None = None  # recording mode: the inner transport
        self.chan: Any = None
        self.request: ProxyRequest | None = None
        self.refusal: ProxyFailure | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, chan: Any) -> None:
        self.chan = chan
        if self.proxy.config.session_recording == "proxy":
            self.link = ChannelTransport(chan)
        else:
            self.pipe.connection_made(chan)

    def shell_requested(self) -> bool:
        self.refusal = ProxyFailure(
            "bad_request",
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
            self.refusal = ProxyFailure("bad_request", str(exc))
        return True

    def session_started(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._route())

    async def _route(self) -> None:
        if self.refusal is not None or self.request is None:
            failure = self.refusal or ProxyFailure("bad_request", "no proxy request")
            self.proxy.record_failure(
                failure,
                user=self.outer.user,
                login=self.outer.login,
                client_addr=f"{self.outer.peer[0]}:{self.outer.peer[1]}",
            )
            self._refuse(failure.message)
            return
        pc = ProxiedConnection(self.proxy, self.outer, self.request)
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
        options = await self.proxy.inner_options(pc, lambda: InnerServer(pc))
        try:
            await run_server_on_transport(link, options)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            log.info("inner connection for %s ended before auth: %s", pc.request.host, exc)

    async def _pipe_to_node(self, pc: ProxiedConnection) -> None:
        loop = asyncio.get_running_loop()
        if pc.request.cluster:
            raise ProxyFailure(
                "unknown_cluster",
                "trusted clusters are reached in recording mode only "
                "(auth_service.session_recording: proxy)",
            )
        sock = await pc.node_socket()
        if pc.dial_permit is not None:
            # The client authenticates through the pipe, out of the proxy's sight:
            # its place is given back once the node has answered.
            pc.dial_permit.release(False)
        session_id = await self.proxy.index.acall(
            "start_session", **pc.fields, kind="tcp", recording_path=None
        )
        pc.audit_event("session_start", session_id=session_id, mode="node")

        def closed() -> None:
            self.proxy.index.call(
                "end_session",
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
