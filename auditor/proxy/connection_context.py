"""What a connection reads of the proxy, handed down instead of the proxy itself.

The proxy builds a ``ConnectionContext`` at start and a new one at each
reload (SIGHUP). Whatever starts something new takes the one in force then
(``current``): a connection as it arrives, and each channel opened on a
connection that is already up (another ``proxy:`` hop on a multiplexed
``ControlMaster`` connection, another session on an inner one), so what a
reload changes (users, roles, nodes, limits, the recording policy) applies
to every session after it, while open sessions keep what they started with.
What every connection shares for the proxy's whole life (the index writer,
the audit log, the dial queues, the unauthenticated cap) is the same object
in every context.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncssh

from auditor.access_policy import AccessPolicy
from auditor.audit_log import AuditLog
from auditor.config import Config
from auditor.index import FailureKind
from auditor.proxy.admission import Admission, Arriving
from auditor.proxy.channels import WINDOW
from auditor.proxy.dial_limit import DialLimiter
from auditor.proxy.failures import ProxyFailure
from auditor.proxy.index_writer import IndexWriter
from auditor.proxy.recorder import ChannelRecording
from auditor.proxy.sshserver import CertificateServer, run_server_on_socket
from auditor.proxy.upstream import SERVER_CIPHERS, Backoff
from auditor.textsafe import visible

HostKey = tuple[asyncssh.SSHKey, asyncssh.SSHCertificate]
ServerFactory = Callable[[], asyncssh.SSHServer]


class FailureRecorder(Protocol):
    """A failure counted, indexed (kept while the index is away) and audited."""

    def __call__(self, failure: ProxyFailure, **fields: Any) -> None: ...


class RecordingFactory(Protocol):
    """A new session's recording and row; ``IndexAway`` if the index can't take it."""

    async def __call__(
        self, fields: dict[str, Any], kind: str, session_id: str | None = None
    ) -> ChannelRecording: ...


@dataclass(frozen=True)
class ConnectionContext:
    config: Config  # as loaded when this context was made (start, or the last reload)
    access: AccessPolicy  # the roles of that config
    user_ca: asyncssh.SSHKey
    host_ca_public: asyncssh.SSHKey  # nodes' host certificates are checked against it
    backoff: Backoff  # between retries of a dial the node dropped
    index: IndexWriter
    audit: AuditLog
    dials: DialLimiter
    admission: Admission
    record_failure: FailureRecorder
    new_recording: RecordingFactory
    node_host_key: Callable[[str], HostKey]  # minted by the host CA for a node's name
    current: Callable[[], ConnectionContext]  # the one in force now (after any reload)

    def server_options(
        self, factory: ServerFactory, host_key: HostKey, **extra: Any
    ) -> asyncssh.SSHServerConnectionOptions:
        """The outer and the inner servers: raw bytes, the grace time, no X11 or scp."""
        return asyncssh.SSHServerConnectionOptions(
            server_factory=factory,
            server_host_keys=[host_key],
            encryption_algs=SERVER_CIPHERS,
            window=WINDOW,
            login_timeout=self.config.login_grace_time,
            agent_forwarding=True,
            x11_forwarding=False,
            allow_scp=False,
            line_editor=False,
            encoding=None,
            **extra,
        )

    def inner_options(
        self, node: str, factory: ServerFactory
    ) -> asyncssh.SSHServerConnectionOptions:
        """The server the user's client reaches ``node`` through: it presents the
        host certificate the proxy minted for that name."""
        return self.server_options(factory, self.node_host_key(node))

    async def serve_ssh(
        self,
        client: socket.socket,
        server: CertificateServer,
        options: asyncssh.SSHServerConnectionOptions,
        arriving: Arriving,
    ) -> None:
        """Run ``server`` on the client's socket, counted as unauthenticated until it logs in."""
        self.admission.left(arriving)
        self.admission.add(server, self.config.max_unauthenticated)
        try:
            conn = await run_server_on_socket(client, options)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            self.admission.left(server)
            self.auth_failed(server, exc)
            return
        self.admission.connected(conn)

    def auth_failed(self, server: CertificateServer, exc: BaseException) -> None:
        if server.cert_problem and not server.login_refused:
            self.record_failure(
                ProxyFailure(
                    FailureKind.USER_AUTH_FAILED, f"authentication failed: {server.cert_problem}"
                ),
                login=server.login,
                client_addr=f"{server.peer[0]}:{server.peer[1]}",
            )
        elif isinstance(exc, asyncssh.ProtocolError | asyncssh.ProtocolNotSupported):
            self.record_failure(
                ProxyFailure(
                    FailureKind.PROTOCOL_ERROR, f"protocol error from client: {exc.reason}"
                ),
                client_addr=f"{server.peer[0]}:{server.peer[1]}",
            )

    def check_login(self, server: CertificateServer, accepted: bool) -> bool:
        """The ``users`` section: may this certificate's user use the requested login?"""
        if not accepted or server.user is None:
            return accepted
        allowed = self.config.logins_for(server.user)
        if allowed is None or server.login in allowed:
            return True
        server.login_refused = True
        message = (
            f"login {server.login!r} is not allowed for user {server.user!r} "
            f"(allowed: {', '.join(allowed) or 'none'})"
        )
        self.record_failure(
            ProxyFailure(FailureKind.LOGIN_DENIED, message),
            user=server.user,
            login=server.login,
            client_addr=f"{server.peer[0]}:{server.peer[1]}",
        )
        server.tell(f"auditor: {visible(message)}")  # the one banner of this connection
        return False
