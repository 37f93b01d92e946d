"""One routed connection to a node: who asks for it, whether they may, and the dial.

A ``ProxiedConnection`` is shared by all that serves one request: the nested
path's outer session and inner server (``outer``, ``inner``) or the one-hop
server (``one_hop``), and the bridges and splices of its channels (``bridge``,
``forwards``). It reads the proxy through the ``ConnectionContext`` it was
made with, and dials the node with a certificate the proxy mints for the
session (``upstream_auth: certificate``, ``upstream_cert``) or with the one in
the agent the user forwarded to the proxy (``upstream_auth: agent``).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Callable
from typing import Any

import asyncssh

from auditor.access_policy import Target
from auditor.config import TrustedCluster
from auditor.index import FailureKind, SessionIndex
from auditor.proxy.channels import set_agent_forward_path
from auditor.proxy.connection_context import ConnectionContext
from auditor.proxy.dial_limit import Permit, QueueTimeout
from auditor.proxy.failures import ProxyFailure
from auditor.proxy.pipe import ChannelSocketPipe, SocketSide
from auditor.proxy.recorder import ChannelRecording
from auditor.proxy.request import ProxyRequest
from auditor.proxy.sshserver import CertificateServer
from auditor.proxy.upstream import CIPHERS, NodeTarget, connect_with_retries, open_ssh, os_reason
from auditor.proxy.upstream_cert import client_keys, mint_upstream_certificate

CERT_SUFFIX = b"-cert-v01@openssh.com"


class ProxiedConnection:
    """State shared by the outer subsystem, the inner connection and the node dial."""

    def __init__(
        self,
        context: ConnectionContext,
        outer: CertificateServer,
        request: ProxyRequest,
    ) -> None:
        self.context = context
        self.outer = outer
        self.request = request
        self.user = outer.user or "?"
        self.login = outer.login or "?"
        self.client_addr = f"{outer.peer[0]}:{outer.peer[1]}"
        self.connection_id = uuid.uuid4().hex
        node = context.config.nodes.get(request.host.lower())
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
        self.context.record_failure(failure, **self.fields)

    def audit_event(self, event: str, **fields: Any) -> None:
        self.context.audit.write(event, **self.fields, **fields)

    # Who may reach the node (auditor/access_policy.py), decided before anything is dialled
    def authorize(self, login: str) -> ProxyFailure | None:
        """The refusal of ``login`` on this node, or None. Indexed and audited once,
        however often it is asked (the outer login, the inner one, the dial)."""
        key = (self.user, login)
        if key not in self._access:
            target = Target(self.request.host, self.request.cluster)
            decision = self.context.access.decide(self.user, login, target)
            fields = {**self.fields, "login": login}
            refusal = None
            if decision.allowed:
                self.context.audit.write("access_allowed", **fields, role=decision.role)
            else:
                refusal = ProxyFailure(FailureKind.ACCESS_DENIED, decision.reason, decision.detail)
                self.context.record_failure(refusal, **fields)
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
                FailureKind.AGENT_NOT_FORWARDED,
                f"the recording proxy needs your agent: {self.AGENT_HINT}",
                str(exc),
            ) from None
        if agent is None:
            raise ProxyFailure(
                FailureKind.AGENT_NOT_FORWARDED,
                f"the recording proxy needs your agent: {self.AGENT_HINT}",
            )
        keys = await agent.get_keys()
        certs = [k for k in keys if k.algorithm.endswith(CERT_SUFFIX)]
        if not certs:
            agent.close()
            raise ProxyFailure(
                FailureKind.AGENT_NO_CERTIFICATE,
                f"the forwarded agent holds no certificate: run `auditor login --user={self.user}` "
                "(OpenSSH's ssh-agent; GNOME Keyring and gpg-agent drop certificates)",
                f"{len(keys)} keys in the agent, none a certificate",
            )
        return agent, certs

    def _minted_certificates(self) -> list[asyncssh.SSHKeyPair]:
        """A certificate for this session, signed by the user CA (``upstream_cert``)."""
        cfg = self.context.config
        issued = mint_upstream_certificate(
            self.context.user_ca,
            getattr(self.user_cert, "options", None) or {},
            self.user,
            self.login,
            self.first_session_id,
            cfg.public_addr[0] if cfg.public_addr else socket.gethostname(),
            cfg.upstream_source_addresses,
        )
        return client_keys(issued)

    async def _dial(self) -> asyncssh.SSHClientConnection:
        cfg = self.context.config
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
        cfg = self.context.config
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
                self.context.host_ca_public,
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
        cfg = self.context.config
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
                backoff=self.context.backoff,
            )
        except BaseException:
            permit.release(False)
            raise
        if retries:
            # Recorded even though a retry got through: the node is at its limit.
            self.failure(
                ProxyFailure(
                    FailureKind.MAXSTARTUPS
                    if any("MaxStartups" in d for d in drops)
                    else FailureKind.NODE_UNREACHABLE,
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
        cfg = self.context.config
        node = cfg.nodes.get(self.request.host.lower())
        try:
            return await self.context.dials.acquire(
                f"{self.target.addr}:{self.target.port}".lower(),
                self.target.name,
                node.max_startups if node else None,
                cfg.dial_timeout,
            )
        except QueueTimeout as exc:
            raise ProxyFailure(
                FailureKind.MAXSTARTUPS,
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
                known_hosts=([], [self.context.host_ca_public], []),
                encryption_algs=CIPHERS,
                connect_timeout=self.context.config.dial_timeout,
            )
        except (OSError, asyncssh.Error) as exc:
            raise ProxyFailure(
                FailureKind.NODE_UNREACHABLE,
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
        clusters = self.context.config.trusted_clusters
        if name not in clusters:
            known = ", ".join(sorted(clusters)) or "none configured"
            raise ProxyFailure(
                FailureKind.UNKNOWN_CLUSTER, f"unknown cluster {name!r} (trusted clusters: {known})"
            )
        return clusters[name]

    def forward_agent_onward(self, path: str) -> None:
        if self.node_conn is not None:
            set_agent_forward_path(self.node_conn, path)

    async def new_recording(self, kind: str) -> ChannelRecording:
        return await self.context.new_recording(self.fields, kind, self.claim_session_id())
