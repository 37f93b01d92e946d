"""asyncssh servers that accept auditor user certificates and know who presented them.

asyncssh checks a client certificate's CA, validity and principals but keeps
nothing of it; the proxy needs the key ID (``auditor:user:NAME``) to know
which user a login belongs to and why a refused certificate was refused,
which ``CertificateServer.tell`` says to the client in one auth banner.
``AuditedServerConnection`` keeps the certificate; it relies on private
asyncssh names (``_validate_openssh_certificate``, ``_connect``, the
options' ``waiter`` a new connection reports on, and ``send_packet`` with
``_send_encryption`` for the ignore packets it skips), which is why
pyproject.toml pins asyncssh below 3 and the proxy tests cover them.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import asyncssh
from asyncssh.connection import SSHServerConnection, _connect
from asyncssh.constants import MSG_IGNORE
from asyncssh.encryption import GCMEncryption
from asyncssh.packet import String

from auditor.authority.refusal import CertificateFacts, certificate_refusal, no_certificate
from auditor.proxy.gcm_send import send_channel_data
from auditor.proxy.transports import ChannelTransport, GatheringTransport
from auditor.textsafe import visible

_EMPTY_IGNORE = (String(b""),)


class AuditedServerConnection(SSHServerConnection):
    def send_packet(self, pkttype: int, *args: bytes, handler: Any = None) -> None:
        # asyncssh sends an empty SSH_MSG_IGNORE before every encrypted packet:
        # a countermeasure for CBC's predictable IVs (RFC 4251 9.3.1). The
        # proxy's servers speak AES-GCM only, where it protects nothing and
        # doubled the packets (and the proxy's work per packet) on a transfer.
        if (
            pkttype == MSG_IGNORE
            and args == _EMPTY_IGNORE
            and isinstance(self._send_encryption, GCMEncryption)
        ):
            return
        if send_channel_data(self, pkttype, args, handler):
            return
        super().send_packet(pkttype, *args, handler=handler)

    async def _validate_openssh_certificate(self, username: str, cert: Any) -> Any:
        key = await super()._validate_openssh_certificate(username, cert)
        owner = self._owner
        if isinstance(owner, CertificateServer) and not owner.certificate_checked(
            username, cert, key is not None
        ):
            return None
        return key


class GatheringServerConnection(AuditedServerConnection):
    """Over a socket: its writes are gathered per loop turn (``GatheringTransport``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        super().connection_made(GatheringTransport(transport))


async def run_server_on_socket(
    sock: socket.socket, options: asyncssh.SSHServerConnectionOptions
) -> SSHServerConnection:
    """``asyncssh.run_server`` with ``AuditedServerConnection``, writes gathered."""
    loop = asyncio.get_running_loop()

    def conn_factory() -> SSHServerConnection:
        return GatheringServerConnection(loop, options, wait="auth")

    conn: SSHServerConnection = await _connect(
        options, None, loop, 0, sock, conn_factory, "Starting SSH server on"
    )
    return conn


async def run_server_on_transport(
    transport: ChannelTransport, options: asyncssh.SSHServerConnectionOptions
) -> SSHServerConnection:
    """The same over an in-process transport (the outer channel): auth done on return."""
    loop = asyncio.get_running_loop()
    options.waiter = loop.create_future()  # asyncssh's connection reports auth on it
    conn = AuditedServerConnection(loop, options, wait="auth")
    transport.attach(conn)
    try:
        await options.waiter
    except BaseException:
        conn.abort()
        await conn.wait_closed()
        raise
    return conn


def user_from_key_id(key_id: str) -> str:
    """``auditor:user:joe`` → ``joe``; a foreign key ID is kept whole.

    A certificate a proxy minted for its session (``upstream_cert``) says more
    after a space (``auditor:user:joe session=... proxy=...``): a trusted
    cluster's proxy reads the user from it as well.
    """
    prefix = "auditor:user:"
    return key_id[len(prefix) :].split(" ", 1)[0] if key_id.startswith(prefix) else key_id


class CertificateServer(asyncssh.SSHServer):
    """Public-key auth by user certificates from the auditor user CA only."""

    def __init__(self, user_ca: asyncssh.SSHKey) -> None:
        self.user_ca = user_ca
        self.conn: asyncssh.SSHServerConnection | None = None
        self.user: str | None = None
        self.login: str | None = None
        self.cert_problem: str | None = None
        # Refused by the proxy's own rules (users, roles), told and indexed as such:
        # not a failed certificate.
        self.login_refused = False
        self.peer: tuple[str, int] = ("", 0)
        self.told: str | None = None  # the auth banner this connection's client was sent

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername") or ("", 0)
        self.peer = (str(peer[0]), int(peer[1])) if len(peer) >= 2 else ("", 0)

    def begin_auth(self, username: str) -> bool:
        self.login = username
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        # Offered, never accepted. OpenSSH asks for it only once every key it
        # had was refused (unless BatchMode or KbdInteractiveAuthentication
        # no): the one moment a server learns that a client has nothing left
        # to offer, so the moment to say that no certificate came.
        return True

    def get_kbdint_challenge(self, username: str, lang: str, submethods: str) -> bool:
        self.tell(no_certificate())
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self.cert_problem = self.cert_problem or "a plain key was offered, not a certificate"
        return False

    def validate_ca_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        ok = key.public_data == self.user_ca.public_data
        if not ok:
            self.cert_problem = "certificate signed by an unknown CA"
        return ok

    def certificate_checked(self, username: str, cert: Any, accepted: bool) -> bool:
        """Note who presented ``cert`` and why it failed; the final verdict."""
        facts = CertificateFacts.of(cert)
        key_id = facts.key_id
        if accepted:
            self.user = user_from_key_id(key_id)
            self.cert_problem = None
            return True
        now = time.time()
        trusted = cert.signing_key.public_data == self.user_ca.public_data
        self.tell(
            certificate_refusal(facts, username, now, trusted_ca=trusted)
            or f"auditor: your certificate {visible(key_id)} was refused"
        )
        if not trusted:
            return False  # validate_ca_key said why
        if now >= facts.valid_before or now < facts.valid_after:
            self.cert_problem = f"certificate {key_id} has expired or is not yet valid"
        elif username not in cert.principals:
            self.cert_problem = (
                f"login {username!r} is not among the principals of certificate {key_id}"
            )
        else:
            self.cert_problem = f"certificate {key_id} was refused"
        return False

    def tell(self, line: str) -> None:
        """Say why, as an auth banner, once: OpenSSH prints every banner, and a
        client offering several keys must not read a line per key. The first
        certificate refused is the one the user meant, so it is the one said."""
        if self.told is None and self.conn is not None:
            self.told = line
            self.conn.send_auth_banner(line + "\r\n")
