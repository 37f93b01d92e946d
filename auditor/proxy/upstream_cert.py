"""The certificate the proxy logs in to a node with (``upstream_auth: certificate``).

After the client has proved its own user certificate, the proxy signs one
for this session with the user CA, so the user's agent never has to be
forwarded to the proxy (where a compromised proxy could borrow it). The
certificate is as narrow as the session: a fresh key held in memory only,
the one login the client is logging in as, valid for a couple of minutes
around now (long enough for the handshake; sshd checks validity at login
only), a key ID naming the user, the session and the proxy (sshd writes it to
the node's auth log, so a node's log line leads to the recording), the
operator's ``source-address`` if set, and no extension the user's own
certificate lacked.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import asyncssh

from auditor.authority.ca import CLOCK_SKEW, KEY_ALG, IssuedCertificate

TTL = 120  # seconds after now; the handshake (dial_timeout) must fit in it
# The extensions a minted certificate may carry, when the user's has them.
# "no-touch-required" is never granted: the minted key is ed25519, not a
# security key.
EXTENSIONS = (
    "permit-pty",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-X11-forwarding",
    "permit-user-rc",
)


def key_id(user: str, session_id: str, proxy: str) -> str:
    """``auditor:user:joe session=ID proxy=NAME``; auditor reads the user up to the space."""
    return f"auditor:user:{user} session={session_id} proxy={proxy}"


def mint_upstream_certificate(
    user_ca: asyncssh.SSHKey,
    user_cert_options: Mapping[str, Any],
    user: str,
    login: str,
    session_id: str,
    proxy: str,
    source_addresses: Sequence[str] = (),
    now: float | None = None,
) -> IssuedCertificate:
    """A new key and its certificate for logging in to a node as ``login``.

    ``user_cert_options`` are the options of the certificate the client
    proved (asyncssh's ``SSHCertificate.options``): only the extensions it
    has are granted, and its ``force-command`` is kept. Its
    ``source-address`` is not: it names where the user may come from, not
    the proxy; ``source_addresses`` (the proxy's own) takes its place.
    """
    key = asyncssh.generate_private_key(KEY_ALG)
    start = int(time.time() if now is None else now)
    valid_before = start + TTL
    has = {name: name in user_cert_options for name in EXTENSIONS}
    force_command = user_cert_options.get("force-command")
    cert = user_ca.generate_user_certificate(
        key,
        key_id(user, session_id, proxy),
        principals=[login],
        valid_after=start - CLOCK_SKEW,
        valid_before=valid_before,
        force_command=force_command if isinstance(force_command, str) else None,
        source_address=list(source_addresses) or None,
        permit_pty=has["permit-pty"],
        permit_agent_forwarding=has["permit-agent-forwarding"],
        permit_port_forwarding=has["permit-port-forwarding"],
        permit_x11_forwarding=has["permit-X11-forwarding"],
        permit_user_rc=has["permit-user-rc"],
        touch_required=True,
    )
    return IssuedCertificate(key, cert, valid_before)


def client_keys(issued: IssuedCertificate) -> list[asyncssh.SSHKeyPair]:
    """The certificate as asyncssh's client takes it; not the bare key as well
    (asyncssh would offer it after a refused certificate: one more of sshd's
    MaxAuthTries spent on a key no node trusts)."""
    pairs = asyncssh.load_keypairs([(issued.key, issued.cert)])
    return [p for p in pairs if p.algorithm.endswith(b"-cert-v01@openssh.com")]
