"""The user's own SSH connection, terminated by the proxy for the node it reaches.

The client talks to this server inside the nested path's ``proxy:``
subsystem (``outer``), or straight on the one-hop path (``one_hop``), and
authenticates with its user certificate. Each session channel it opens is
bridged to the node and recorded (``bridge``); each forward is spliced to
the node and audited (``forwards``).
"""

from __future__ import annotations

from typing import Any

from auditor.proxy import bridge, forwards
from auditor.proxy.connection import ProxiedConnection
from auditor.proxy.sshserver import CertificateServer
from auditor.textsafe import visible


class InnerServer(CertificateServer):
    """The SSH server the user's client talks to inside the ``proxy:`` subsystem."""

    def __init__(self, pc: ProxiedConnection) -> None:
        super().__init__(pc.context.user_ca)
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
